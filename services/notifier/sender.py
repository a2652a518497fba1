"""Sending e-mail over SMTP with aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from jinja2 import Environment

from schemas import NotificationRequested
from services.notifier.rendering import render_email


class SmtpMailer:
    def __init__(
        self, env: Environment, *, host: str, port: int, sender: str, timeout: float
    ) -> None:
        self._env = env
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    def compose(self, request: NotificationRequested, message_id: str) -> EmailMessage:
        rendered = render_email(self._env, request)
        message = EmailMessage()
        message["From"] = self._sender
        assert request.payload.address is not None  # e-mail requests always carry one
        message["To"] = request.payload.address
        message["Subject"] = rendered.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id
        message.set_content(rendered.text, charset="utf-8")
        message.add_alternative(rendered.html, subtype="html", charset="utf-8")
        return message

    async def send(self, request: NotificationRequested, message_id: str) -> None:
        await aiosmtplib.send(
            self.compose(request, message_id),
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            start_tls=False,
        )
