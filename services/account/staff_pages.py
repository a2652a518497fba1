"""The staff's pages (issue 14: what a school needs to run the account): print an activation
code for a family without e-mail, and see who has signed in. Russian, server-rendered, like the
family's pages.

A member of staff signs in with the bearer token ops issue them (`vestnik token --role staff
--school s1 --service account`): it is checked like any API call and kept in an HttpOnly,
SameSite=Strict cookie under `/staff` until it expires. Forms carry a CSRF token keyed from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import SecretStr

from services.account import domain, usecases
from services.account.pages import create_environment, form_of, redirect, render_page
from services.shared.auth import InvalidTokenError, Principal, decode_token
from services.shared.http import ID_PATTERN

STAFF_COOKIE = "vestnik_staff"
SIGN_INS_PER_PAGE = 50
MESSAGES = {
    "token": "Ключ не подходит: он неверен, истёк или выдан не для сотрудника школы.",
    "csrf": "Форма устарела. Обновите страницу и попробуйте ещё раз.",
    "recipient": "Укажите идентификатор получателя из реестра согласий (латиница, цифры, . : _ -).",
}


def staff_router(
    ports: Callable[[], usecases.Ports], *, jwt_secret: SecretStr, secure_cookies: bool
) -> APIRouter:
    router = APIRouter(prefix="/staff", include_in_schema=False)
    env = create_environment()

    def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render_page(env, f"staff/{template}", status, **context)

    def staff_principal(token: str) -> Principal | None:
        """Whom `token` names, if it is a member of staff's, valid, for the account."""
        try:
            caller = decode_token(jwt_secret, token, audience="account")
        except InvalidTokenError:
            return None
        return caller if caller.role in usecases.STAFF_ROLES else None

    def staff_of(request: Request) -> tuple[Principal, str] | None:
        """The signed-in member of staff and their forms' CSRF token."""
        token = request.cookies.get(STAFF_COOKIE)
        caller = staff_principal(token) if token else None
        if caller is None or token is None:
            return None
        return caller, domain.secret_hash(f"staff-csrf:{token}", ports().secret_key)[:32]

    @router.get("/sign-in")
    async def sign_in_page() -> Response:
        return render("sign_in.html", title="Вход для сотрудников")

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        # A token is itself the secret, so this form needs no CSRF token: a forged post could
        # only sign someone in as whoever's token the forger already holds.
        token = (await form_of(request)).get("token", "").strip()[:4000]
        if staff_principal(token) is None:
            return render(
                "sign_in.html", 400, title="Вход для сотрудников", message=MESSAGES["token"]
            )
        response = redirect("/staff")
        response.set_cookie(
            STAFF_COOKIE,
            token,
            path="/staff",
            secure=secure_cookies,
            httponly=True,
            samesite="strict",
        )
        return response

    @router.get("")
    async def home(request: Request, cursor: str | None = None) -> Response:
        signed_in = staff_of(request)
        if signed_in is None:
            return redirect("/staff/sign-in")
        caller, csrf = signed_in
        return await home_page(caller, csrf, cursor=cursor)

    async def home_page(
        caller: Principal, csrf: str, *, cursor: str | None = None, **context: Any
    ) -> Response:
        status = context.pop("status", 200)
        sign_ins, next_cursor = await ports().store.sign_ins(
            caller.school_id, limit=SIGN_INS_PER_PAGE, after=cursor[:200] if cursor else None
        )
        return render(
            "home.html",
            status,
            title="Личный кабинет: для школы",
            school_id=caller.school_id,
            csrf_token=csrf,
            sign_ins=sign_ins,
            next_cursor=next_cursor,
            **context,
        )

    @router.post("/activation-codes")
    async def activation_code(request: Request) -> Response:
        signed_in = staff_of(request)
        if signed_in is None:
            return redirect("/staff/sign-in")
        caller, csrf = signed_in
        form = await form_of(request)
        if not domain.csrf_matches(csrf, form.get("csrf_token")):
            return await home_page(caller, csrf, status=403, message=MESSAGES["csrf"])
        recipient_id = form.get("recipient_id", "").strip()
        if len(recipient_id) > 100 or not re.fullmatch(ID_PATTERN, recipient_id):
            return await home_page(caller, csrf, status=422, message=MESSAGES["recipient"])
        code, expires_at = await usecases.issue_activation_code(
            caller.school_id, recipient_id, caller, ports=ports()
        )
        return render(
            "code.html",
            201,
            title="Код активации",
            recipient_id=recipient_id,
            code=code,
            expires_at=expires_at.astimezone(UTC),
            issued_at=datetime.now(UTC),
        )

    @router.post("/sign-out")
    async def sign_out() -> Response:
        response = redirect("/staff/sign-in")
        response.delete_cookie(STAFF_COOKIE, path="/staff", secure=secure_cookies, httponly=True)
        return response

    return router
