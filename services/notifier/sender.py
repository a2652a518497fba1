"""The channels: e-mail over SMTP, SMS through the provider's HTTP API, the personal-account inbox.

Each sender takes a batch and answers each message's failure (`TemporaryFailureError`,
`PermanentFailureError`, or whatever else went wrong with that one message) or None; the domain
decides what follows. One message's failure never fails its batch. None of them logs an address.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any, Literal

import aiosmtplib
import httpx
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import Default, SMTPStatus
from jinja2 import Environment

from schemas import NotificationRequested
from services.notifier.domain import (
    HANDED_OVER,
    NotHandedOverError,
    PermanentFailureError,
    TemporaryFailureError,
    WithdrawnError,
)
from services.notifier.mime import encoded_address, multipart_alternative
from services.notifier.rendering import render_email, render_sms
from services.notifier.store import MongoInbox
from services.shared.unsubscribe import Unsubscribe, unsubscribe_token


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    timeout: float
    security: str = "none"  # "none", "starttls" or "tls"
    username: str | None = None
    password: str | None = None
    concurrency: int = 4


# Awaited right before a message is handed over (see `handover.HandOver`); raises if it must
# not be: `WithdrawnError` when consent now refuses it.
Handing = Callable[[NotificationRequested], Awaitable[None]]


async def _hand_over_at_once(request: NotificationRequested) -> None:
    pass


class HandingOverSMTP(aiosmtplib.SMTP):
    """An SMTP client that calls `handing` after a message's body and before the final dot of
    DATA, the moment the relay takes it: no relay keeps a message whose dot never came. What
    `handing` records is thus true of every message the relay may have taken, and false only
    of one whose process died in the instant between the record and the dot."""

    handing: Callable[[], Awaitable[None]] | None = None

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,
    ) -> SMTPResponse:
        if self.handing is None or self.protocol is None:
            return await super().data(message, timeout=timeout)
        if timeout is Default.token:
            timeout = self.timeout
        body = message.encode("ascii") if isinstance(message, str) else message
        start = await self.execute_command(b"DATA", timeout=timeout)
        if start.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        try:
            self.protocol.write(PERIOD_REGEX.sub(b"..", normalize_message_line_endings(body)))
            await _handing_over(self.handing)
            self.protocol.write(b".\r\n")
        except BaseException:
            self.close()  # without its dot the relay drops the message
            raise
        try:
            reply = await self.protocol.read_response(timeout=timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
            # The relay has the whole message and may have taken it (RFC 1047): counted as
            # sent, as after a crash at this point, since sending it again may duplicate it.
            self.close()
            return SMTPResponse(SMTPStatus.completed, HANDED_OVER)
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return reply


class SmtpSender:
    """Sends over a few long-lived SMTP connections (at most `concurrency`), reused from one
    message to the next: a burst of final marks does not open a connection per e-mail.
    `handing` asks consent once more and records each message as handed over right before the
    relay takes it (see `HandingOverSMTP`): a revocation accepted a second ago stops it, and a
    crash cannot make it send one twice."""

    def __init__(
        self,
        env: Environment,
        server: SmtpServer,
        *,
        sender: str,
        account_url: str,
        unsubscribe_key: str,
        handing: Handing = _hand_over_at_once,
    ) -> None:
        self._handing = handing
        self._env = env
        self._server = server
        self._from = encoded_address(sender)
        self._envelope_from = parseaddr(sender)[1]
        self._account_url = account_url.rstrip("/")
        self._unsubscribe_key = unsubscribe_key
        self._slots = asyncio.Semaphore(server.concurrency)
        self._idle: list[HandingOverSMTP] = []
        self.connections_opened = 0

    def compose(self, request: NotificationRequested, message_id: str) -> bytes:
        rendered = render_email(self._env, request)
        assert request.payload.address is not None  # e-mail requests always carry one
        return multipart_alternative(
            sender=self._from,
            to=request.payload.address,
            subject=rendered.subject,
            message_id=message_id,
            text=rendered.text,
            html=rendered.html,
            extra=self._list_headers(request),
        )

    def _list_headers(self, request: NotificationRequested) -> dict[str, str]:
        """A mailing can be unsubscribed from in one click (RFC 8058): its category's e-mails
        for this recipient, at a link the personal account honours. A sign-in code (category
        `account`) cannot: it is asked for, and an unsubscribe link beside it would confuse."""
        payload = request.payload
        if payload.category == "account":
            return {}
        what = Unsubscribe(payload.content.school_id, payload.recipient_id, payload.category)
        token = unsubscribe_token(what, self._unsubscribe_key)
        return {
            "List-Unsubscribe": f"<{self._account_url}/unsubscribe/{token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    async def send_batch(
        self, messages: list[tuple[NotificationRequested, str]]
    ) -> list[Exception | None]:
        """Concurrently, over at most `concurrency` connections."""
        return await each(self.send, messages)

    async def send(self, request: NotificationRequested, message_id: str) -> None:
        message = self.compose(request, message_id)
        payload = request.payload
        assert payload.address is not None
        try:
            async with self._slots:
                await self._send_reusing_a_connection(message, payload.address, request)
        except aiosmtplib.SMTPRecipientsRefused as error:
            # One recipient per message: its refusal (at RCPT TO) is the message's fate.
            raise _failure_for(error.recipients[0]) from None
        except aiosmtplib.SMTPResponseException as error:
            raise _failure_for(error) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TemporaryFailureError(f"SMTP unreachable: {type(error).__name__}") from None

    async def _send_reusing_a_connection(
        self, message: bytes, recipient: str, request: NotificationRequested
    ) -> None:
        if self._idle:
            client = self._idle.pop()
            client.handing = functools.partial(self._handing, request)
            try:
                await client.sendmail(self._envelope_from, [recipient], message)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                client.close()  # the relay closed an idle connection: open a fresh one below
            except BaseException:
                client.close()  # after an error, the conversation's state is unknown
                raise
            else:
                self._idle.append(client)
                return
        client = await self._connect()
        client.handing = functools.partial(self._handing, request)
        try:
            await client.sendmail(self._envelope_from, [recipient], message)
        except BaseException:
            client.close()
            raise
        self._idle.append(client)

    async def _connect(self) -> HandingOverSMTP:
        server = self._server
        client = HandingOverSMTP(
            hostname=server.host,
            port=server.port,
            timeout=server.timeout,
            use_tls=server.security == "tls",
            start_tls=server.security == "starttls",
            username=server.username,
            password=server.password,
        )
        await client.connect()
        self.connections_opened += 1
        return client

    async def close(self) -> None:
        """Say goodbye on the idle connections (at shutdown)."""
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


async def _handing_over(handing: Callable[[], Awaitable[None]]) -> None:
    """`handing`, its errors as the message's failure: consent's refusal as it is, anything
    else (consent or the database away) worth another try."""
    try:
        await handing()
    except WithdrawnError:
        raise
    except Exception as error:
        raise NotHandedOverError(f"not handed over: {type(error).__name__}") from None


def _failure_for(error: aiosmtplib.SMTPResponseException) -> Exception:
    failure = TemporaryFailureError if 400 <= error.code < 500 else PermanentFailureError
    return failure(f"SMTP {error.code} {_reply_text(error.message)}")


def _reply_text(message: str) -> str:
    """aiosmtplib keeps a reply's bytes that are no UTF-8 as surrogates; Russian relays often
    answer in Windows-1251, so that is tried next, and what neither reads is dropped."""
    raw = message.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1251", "replace")


class SmsRuSender:
    """An SMS.ru-style HTTP API (`POST /sms/send`), within the provider's rate limit."""

    def __init__(
        self,
        env: Environment,
        client: httpx.AsyncClient,
        *,
        api_id: str,
        per_second: float,
        on_sent: Callable[[int], None] = lambda segments: None,
        handing: Handing = _hand_over_at_once,
    ) -> None:
        self._on_sent = on_sent
        self._handing = handing
        self._env = env
        self._client = client
        self._api_id = api_id
        self._interval = 1 / per_second
        self._lock = asyncio.Lock()
        self._last = 0.0

    async def send_batch(
        self, messages: list[tuple[NotificationRequested, str]]
    ) -> list[Exception | None]:
        """Concurrently, each request spaced out to the provider's rate."""
        return await each(self.send, messages)

    async def send(self, request: NotificationRequested, message_id: str) -> None:
        text, segments = render_sms(self._env, request)
        async with self._lock:  # spaces the requests out to the provider's rate
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = time.monotonic()
        await _handing_over(functools.partial(self._handing, request))
        form = {
            "api_id": self._api_id,
            "to": request.payload.address or "",
            "msg": text,
            "client_id": message_id.strip("<>"),
            "json": "1",
        }
        try:
            response = await self._client.post("/sms/send", data=form)
        except httpx.HTTPError as error:
            raise TemporaryFailureError(
                f"SMS provider unreachable: {type(error).__name__}"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryFailureError(f"SMS provider answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentFailureError(f"SMS provider refused: HTTP {response.status_code}")
        _raise_unless_sent(response, form["to"])
        self._on_sent(segments)


# SMS.ru's status codes that may pass: rate and daily limits, a service pause, the balance.
TEMPORARY_SMS_CODES = frozenset({201, 206, 220, 230, 231, 232, 233})


def _raise_unless_sent(response: httpx.Response, to: str) -> None:
    """SMS.ru answers `status: OK` for the request as a whole and puts each number's own
    status inside (`sms: {"79161234567": {"status": "ERROR", "status_code": 207, …}}`): a
    message counts as sent only when its number's status says so."""
    try:
        body = response.json()
        reply = body if body.get("status") != "OK" else _number_status(body, to)
        code = int(reply.get("status_code", 0))
    except (ValueError, TypeError, AttributeError):
        raise TemporaryFailureError("SMS provider's reply could not be read") from None
    if reply.get("status") == "OK":
        return
    failure = TemporaryFailureError if code in TEMPORARY_SMS_CODES else PermanentFailureError
    raise failure(f"SMS provider refused: code {code}")


def _number_status(body: dict[str, Any], to: str) -> dict[str, Any]:
    numbers: dict[str, dict[str, Any]] = body.get("sms") or {}
    digits = "".join(c for c in to if c.isdigit())
    if digits in numbers:
        return numbers[digits]
    if len(numbers) == 1:  # one number sent, one answered, whatever its spelling
        return next(iter(numbers.values()))
    return {"status": "ERROR", "status_code": 0}  # no word about our number: not sent


class InboxSender:
    """The personal account (личный кабинет): the message is stored for the parent to read.
    Consent is asked at the last moment here too (`handing`): what a withdrawn consent stops
    must not appear in the account either."""

    def __init__(
        self, env: Environment, inbox: MongoInbox, *, handing: Handing = _hand_over_at_once
    ) -> None:
        self._env = env
        self._inbox = inbox
        self._handing = handing

    async def send_batch(
        self, messages: list[tuple[NotificationRequested, str]]
    ) -> list[Exception | None]:
        """One question to consent for the batch (the hand-over groups them), then every
        message it allows stored by one insert."""
        checks = await asyncio.gather(
            *(_handing_over(functools.partial(self._handing, request)) for request, _ in messages),
            return_exceptions=True,
        )
        failures: list[Exception | None] = []
        stored = []
        for (request, _), check in zip(messages, checks, strict=True):
            if isinstance(check, Exception):  # refused now, or not asked: not stored
                failures.append(check)
                continue
            if isinstance(check, BaseException):
                raise check  # cancelled
            try:
                stored.append(self._message(request))
                failures.append(None)
            except Exception as error:  # this message's own fault (rendering): it alone fails
                failures.append(PermanentFailureError(f"unexpected {type(error).__name__}"))
        if not stored:
            return failures
        try:
            await self._inbox.put_many(stored)
        except Exception as error:  # the database: every message it held waits to retry
            retry = TemporaryFailureError(f"inbox: {type(error).__name__}")
            return [retry if failure is None else failure for failure in failures]
        return failures

    def _message(self, request: NotificationRequested) -> dict[str, object]:
        rendered = render_email(self._env, request)
        payload = request.payload
        return {
            "_id": payload.dedupe_key,
            "school_id": payload.content.school_id,
            "recipient_id": payload.recipient_id,
            "student_id": payload.student_id,
            # A class's fact: every child of this recipient it concerns, one message for all.
            "student_ids": list(payload.student_ids or (payload.student_id,)),
            "category": payload.category,
            "subject": rendered.subject,
            "text": rendered.text,
            "created_at": datetime.now(UTC),
            "read": False,
        }


async def each(
    send: Callable[[NotificationRequested, str], Awaitable[None]],
    messages: list[tuple[NotificationRequested, str]],
) -> list[Exception | None]:
    """`send` every message concurrently; each one's failure, or None."""

    async def one(request: NotificationRequested, message_id: str) -> Exception | None:
        try:
            await send(request, message_id)
        except Exception as error:  # that message's fate alone; the domain classifies it
            return error
        return None

    return list(await asyncio.gather(*(one(request, mid) for request, mid in messages)))
