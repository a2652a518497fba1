"""The server-rendered pages (Russian, no JavaScript needed): sign-in, activation, the home
page with the children, each child's pages (drawn by the family read model, `views.py`),
settings, sign-out. Thin: each route checks the session and CSRF, calls a use case, renders.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import UploadFile

from services.account import domain, preferences, settings_usecases, usecases
from services.account.preferences import FormError
from services.account.registry import ConsentRegistry, RegistryUnavailableError
from services.account.views import (
    FamilyFile,
    FamilyPage,
    FamilyRedirect,
    FamilyViews,
    Identity,
    Viewer,
)
from services.shared.russian import FILTERS

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "vestnik_session"
CSRF_COOKIE = "vestnik_csrf"  # the signed double-submit token of the forms before sign-in
# Pages hold personal data: never cached, never framed, nothing loaded from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Ports = Callable[[], usecases.Ports]
SignedInHandler = Callable[[Request, usecases.Session, Mapping[str, str]], Awaitable[Response]]
# A settings form's change: what was saved (a `SAVED` key), the form's error, or None (a 404).
SettingsChange = Callable[
    [Identity, Request, Mapping[str, str], ConsentRegistry], Awaitable[str | FormError | None]
]

TITLES = {
    "sign_in.html": "Вход",
    "sign_in_code.html": "Код для входа",
    "activate.html": "Вход по коду активации",
}
MESSAGES = {
    "sent": "Если этот адрес зарегистрирован в школе, мы отправили на него код. "
    "Он действует 10 минут.",
    "empty": "Введите адрес электронной почты или номер телефона.",
    "wrong": "Код не подходит. Проверьте его и попробуйте ещё раз.",
    "expired": "Срок действия кода истёк. Запросите новый код.",
    "dead": "Этот код больше не действует. Запросите новый код.",
    "locked": "Слишком много неудачных попыток. Попробуйте снова через час.",
    "limited": "Слишком много запросов. Попробуйте снова позже.",
    "activation": "Код активации не подходит: проверьте его или попросите в школе новый.",
    "activation_empty": "Введите код активации.",
    "csrf": "Форма устарела. Обновите страницу и попробуйте ещё раз.",
    "not_found": "Такой страницы нет.",
    "registry": "Настройки сейчас недоступны. Попробуйте через несколько минут.",
    "revoke_unconfirmed": "Чтобы отозвать согласие, отметьте, что вы понимаете последствия.",
    "link": "Ссылка для отписки повреждена или устарела. Войдите в дневник и откройте «Настройки».",
}
SAVED = {
    "preferences": "Настройки уведомлений сохранены.",
    "revoked": "Согласие отозвано. Уведомления о ребёнке больше не отправляются.",
    "contact": "Подпись проверена, новый контакт сохранён: сведения будут приходить на него.",
}


def create_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def render_page(env: Environment, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with the headers every page carries; what a template may leave unset, unset."""
    context.setdefault("viewer", None)
    context.setdefault("message", None)
    context.setdefault("error", status >= 400)
    html = env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(location: str) -> RedirectResponse:
    """After a form: 303, so the browser follows with a GET."""
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


async def form_of(request: Request) -> dict[str, str]:
    """The form's text fields; a multipart form's NULs (its files may hold any byte) are
    dropped, since nothing stores a NUL (PostgreSQL under FerretDB)."""
    form = await request.form()
    return {key: value.replace("\x00", "") for key, value in form.items() if isinstance(value, str)}


def page_router(
    ports: Ports,
    family: FamilyViews,
    *,
    secret_key: str,
    secure_cookies: bool,
    trust_forwarded_for: bool,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    env = create_environment()
    flags = domain.session_cookie_flags(secure=secure_cookies)

    def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("title", TITLES.get(template, "Электронный дневник"))
        context.setdefault("csrf_token", "")
        return render_page(env, template, status, **context)

    def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=flags.path,
            secure=flags.secure,
            httponly=flags.http_only,
            samesite=flags.same_site,
        )

    def client_of(request: Request) -> str:
        forwarded = request.headers.get("x-forwarded-for")
        if trust_forwarded_for and forwarded:
            return forwarded.split(",")[0].strip()
        return request.client.host if request.client else "unknown"

    # Before sign-in: the signed double-submit cookie.

    def anonymous_form(
        template: str, request: Request, status: int = 200, **context: Any
    ) -> Response:
        """A form before sign-in, with the token of the CSRF cookie (set if missing)."""
        token = request.cookies.get(CSRF_COOKIE) or ""
        if domain.unsigned(token, secret_key) is None:
            token = domain.signed(secrets.token_urlsafe(24), secret_key)
        response = render(template, status, csrf_token=token, **context)
        set_cookie(response, CSRF_COOKIE, token, max_age=None)
        return response

    def anonymous_csrf_ok(request: Request, form: Mapping[str, str]) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        return domain.unsigned(cookie, secret_key) is not None and domain.csrf_matches(
            cookie, form.get("csrf_token")
        )

    def signed_in(new: usecases.NewSession) -> Response:
        response = redirect("/")
        max_age = int(ports().session_absolute.total_seconds())
        set_cookie(response, SESSION_COOKIE, new.session_id, max_age=max_age)
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    @router.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        if await usecases.current_session(request.cookies.get(SESSION_COOKIE), ports=ports()):
            return redirect("/")
        return anonymous_form("sign_in.html", request)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await form_of(request)
        if not anonymous_csrf_ok(request, form):
            return anonymous_form("sign_in.html", request, 403, message=MESSAGES["csrf"])
        typed = form.get("contact", "").strip()
        if not typed or len(typed) > 320:
            return anonymous_form("sign_in.html", request, 422, message=MESSAGES["empty"])
        try:
            challenge = await usecases.request_code(typed, client_of(request), ports=ports())
        except usecases.RateLimitedError:
            return anonymous_form("sign_in.html", request, 429, message=MESSAGES["limited"])
        return anonymous_form(
            "sign_in_code.html", request, challenge=challenge, message=MESSAGES["sent"]
        )

    @router.post("/sign-in/code")
    async def sign_in_code(request: Request) -> Response:
        form = await form_of(request)
        challenge = form.get("challenge", "")
        if not anonymous_csrf_ok(request, form):
            return anonymous_form(
                "sign_in_code.html", request, 403, challenge=challenge, message=MESSAGES["csrf"]
            )
        try:
            outcome = await usecases.enter_code(
                challenge[:100], form.get("code", "")[:20], client_of(request), ports=ports()
            )
        except usecases.RateLimitedError:
            return anonymous_form("sign_in.html", request, 429, message=MESSAGES["limited"])
        if isinstance(outcome, usecases.NewSession):
            return signed_in(outcome)
        if outcome == "wrong":
            return anonymous_form(
                "sign_in_code.html", request, 400, challenge=challenge, message=MESSAGES["wrong"]
            )
        status = 429 if outcome == "locked" else 400
        return anonymous_form("sign_in.html", request, status, message=MESSAGES[outcome])

    @router.get("/activate")
    async def activate_page(request: Request) -> Response:
        return anonymous_form("activate.html", request)

    @router.post("/activate")
    async def activate(request: Request) -> Response:
        form = await form_of(request)
        if not anonymous_csrf_ok(request, form):
            return anonymous_form("activate.html", request, 403, message=MESSAGES["csrf"])
        typed = form.get("activation_code", "").strip()
        if not typed:
            return anonymous_form(
                "activate.html", request, 422, message=MESSAGES["activation_empty"]
            )
        try:
            outcome = await usecases.activate(typed[:40], client_of(request), ports=ports())
        except usecases.RateLimitedError:
            return anonymous_form("activate.html", request, 429, message=MESSAGES["limited"])
        if outcome is None:
            return anonymous_form("activate.html", request, 400, message=MESSAGES["activation"])
        return signed_in(outcome)

    # Signed in: the session's CSRF token in every form.

    async def session_of(request: Request) -> usecases.Session | None:
        return await usecases.current_session(request.cookies.get(SESSION_COOKIE), ports=ports())

    def not_found(viewer: Viewer | None, csrf_token: str) -> Response:
        return render(
            "message.html",
            404,
            title="Страница не найдена",
            message=MESSAGES["not_found"],
            viewer=viewer,
            csrf_token=csrf_token,
        )

    def signed_in_only(
        handler: SignedInHandler,
        *,
        post: bool,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            session = await session_of(request)
            if session is None:
                return redirect("/sign-in")
            form: Mapping[str, str] = {}
            if post:
                form = await form_of(request)
                if not domain.csrf_matches(session.csrf_token, form.get("csrf_token")):
                    viewer = await usecases.viewer_of(session, ports=ports())
                    return render(
                        "message.html",
                        403,
                        title="Форма устарела",
                        message=MESSAGES["csrf"],
                        viewer=viewer,
                        csrf_token=session.csrf_token,
                    )
            return await handler(request, session, form)

        return page

    async def home(
        request: Request, session: usecases.Session, form: Mapping[str, str]
    ) -> Response:
        viewer = await usecases.viewer_of(session, ports=ports())
        return render("home.html", title="Мои дети", viewer=viewer, csrf_token=session.csrf_token)

    async def settings(
        request: Request,
        session: usecases.Session,
        form: Mapping[str, str],
        *,
        status: int = 200,
        message: str | None = None,
    ) -> Response:
        current = ports()
        viewer = await usecases.viewer_of(session, ports=current)
        try:
            view = await settings_usecases.settings_of(
                viewer, registry=current.registry, store=current.store
            )
        except RegistryUnavailableError:
            return render(
                "message.html",
                503,
                title="Настройки недоступны",
                message=MESSAGES["registry"],
                viewer=viewer,
                csrf_token=session.csrf_token,
            )
        return render(
            "settings.html",
            status,
            title="Настройки",
            viewer=viewer,
            csrf_token=session.csrf_token,
            files=view.files,
            student_names=view.student_names,
            choices=preferences.CHOICES,
            labels=preferences.LABELS,
            channel_labels=preferences.CHANNEL_LABELS,
            field_name=preferences.field_name,
            saved=SAVED.get(request.query_params.get("saved", "")),
            message=message,
        )

    def settings_action(change: SettingsChange) -> SignedInHandler:
        """A settings form's POST: the school's identity of this person makes `change`, then
        back to the settings page with what was saved (or the form's error, or a 404)."""

        async def handler(
            request: Request, session: usecases.Session, form: Mapping[str, str]
        ) -> Response:
            current = ports()
            viewer = await usecases.viewer_of(session, ports=current)
            identity = settings_usecases.identity_in(viewer, request.path_params["school_id"])
            if identity is None:
                return not_found(viewer, session.csrf_token)
            try:
                outcome = await change(identity, request, form, current.registry)
            except RegistryUnavailableError:
                return await settings(
                    request, session, form, status=503, message=MESSAGES["registry"]
                )
            if outcome is None:
                return not_found(viewer, session.csrf_token)
            if isinstance(outcome, FormError):
                return await settings(request, session, form, status=422, message=outcome.message)
            return redirect(f"/settings?saved={outcome}")

        return handler

    async def save_preferences(
        identity: Identity, request: Request, form: Mapping[str, str], registry: ConsentRegistry
    ) -> str | FormError | None:
        error = await settings_usecases.save_preferences(identity, form, registry=registry)
        return error or "preferences"

    async def revoke_consent(
        identity: Identity, request: Request, form: Mapping[str, str], registry: ConsentRegistry
    ) -> str | FormError | None:
        if not form.get("confirm"):
            return FormError("confirm", MESSAGES["revoke_unconfirmed"])
        consent_id = request.path_params["consent_id"]
        revoked = await settings_usecases.revoke_consent(identity, consent_id, registry=registry)
        return "revoked" if revoked else None

    async def hand_over_contact(
        identity: Identity, request: Request, form: Mapping[str, str], registry: ConsentRegistry
    ) -> str | FormError | None:
        uploaded = await request.form()  # already read (and cached) with the CSRF check
        limit = settings_usecases.MAX_DOCUMENT_BYTES + 1
        document, signature = [
            await value.read(limit) if isinstance(value, UploadFile) else b""
            for value in (uploaded.get("document"), uploaded.get("signature"))
        ]
        error = await settings_usecases.hand_over_contact(
            identity,
            form.get("channel", ""),
            form.get("address", ""),
            document,
            signature,
            registry=registry,
        )
        return error or "contact"

    # One-click unsubscribe (RFC 8058): the signed link authorises, no session needed. A GET
    # only asks (mail scanners open links); the POST, from the page or the mail client, acts.

    @router.get("/unsubscribe/{token}")
    async def unsubscribe_page(token: str) -> Response:
        return await unsubscribe_link(token, act=False)

    @router.post("/unsubscribe/{token}")
    async def unsubscribe(token: str) -> Response:
        return await unsubscribe_link(token, act=True)

    async def unsubscribe_link(token: str, *, act: bool) -> Response:
        current = ports()
        what = settings_usecases.unsubscribe_request(token, key=current.unsubscribe_key)
        if what is None:
            return render(
                "message.html", 404, title="Ссылка не действует", message=MESSAGES["link"]
            )
        if act:
            try:
                await settings_usecases.unsubscribe(what, registry=current.registry)
            except RegistryUnavailableError:
                return render(
                    "message.html", 503, title="Попробуйте позже", message=MESSAGES["registry"]
                )
        return render(
            "unsubscribe.html",
            title="Вы отписались" if act else "Отписка от писем",
            category=preferences.LABELS.get(what.category, what.category),
            token=token,
            done=act,
        )

    async def sign_out(
        request: Request, session: usecases.Session, form: Mapping[str, str]
    ) -> Response:
        await usecases.sign_out(session, ports=ports())
        return signed_out()

    async def sign_out_everywhere(
        request: Request, session: usecases.Session, form: Mapping[str, str]
    ) -> Response:
        await usecases.sign_out_everywhere(session, ports=ports())
        return signed_out()

    def signed_out() -> Response:
        response = redirect("/sign-in")
        response.delete_cookie(SESSION_COOKIE, path="/", secure=flags.secure, httponly=True)
        return response

    async def child(
        request: Request, session: usecases.Session, form: Mapping[str, str]
    ) -> Response:
        params = request.path_params
        current = ports()
        viewer = await usecases.viewer_of(session, ports=current)
        found = usecases.child_of(viewer, params["school_id"], params["student_id"])
        if found is None:
            return not_found(viewer, session.csrf_token)
        section = params.get("section", "")
        outcome: FamilyPage | FamilyFile | FamilyRedirect | None
        if request.method == "POST":
            outcome = await family.child_action(viewer, found, section, form, now=current.now)
        else:
            query = dict(request.query_params)
            outcome = await family.child_page(viewer, found, section, query, now=current.now)
        if outcome is None:
            return not_found(viewer, session.csrf_token)
        if isinstance(outcome, FamilyRedirect):
            return redirect(outcome.location if outcome.location.startswith("/") else "/")
        if isinstance(outcome, FamilyFile):
            return Response(
                outcome.content,
                media_type=outcome.media_type,
                headers={
                    **SECURITY_HEADERS,
                    "Content-Disposition": f'attachment; filename="{outcome.filename}"',
                },
            )
        return render(
            outcome.template,
            outcome.status,
            **{
                **outcome.context,
                "title": outcome.title,
                "viewer": viewer,
                "child": found,
                "csrf_token": session.csrf_token,
                "now": current.now,
            },
        )

    router.add_api_route("/", signed_in_only(home, post=False), methods=["GET"])
    router.add_api_route("/settings", signed_in_only(settings, post=False), methods=["GET"])
    router.add_api_route(
        "/settings/{school_id}/preferences",
        signed_in_only(settings_action(save_preferences), post=True),
        methods=["POST"],
    )
    router.add_api_route(
        "/settings/{school_id}/contacts",
        signed_in_only(settings_action(hand_over_contact), post=True),
        methods=["POST"],
    )
    router.add_api_route(
        "/settings/{school_id}/consents/{consent_id}/revocation",
        signed_in_only(settings_action(revoke_consent), post=True),
        methods=["POST"],
    )
    router.add_api_route("/sign-out", signed_in_only(sign_out, post=True), methods=["POST"])
    router.add_api_route(
        "/sign-out/everywhere", signed_in_only(sign_out_everywhere, post=True), methods=["POST"]
    )
    for path in (
        "/children/{school_id}/{student_id}",
        "/children/{school_id}/{student_id}/{section}",
    ):
        router.add_api_route(path, signed_in_only(child, post=False), methods=["GET"])
    router.add_api_route(
        "/children/{school_id}/{student_id}/{section}",
        signed_in_only(child, post=True),
        methods=["POST"],
    )
    return router
