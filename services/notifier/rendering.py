"""Turns a notification request into Russian text. Pure: same request, same text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from schemas import NotificationRequested
from services.shared.russian import FILTERS

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def create_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def _context(request: NotificationRequested) -> dict[str, object]:
    """What a template sees: the fact, whom it addresses, and (a class's fact) the names of
    the recipient's children it concerns."""
    payload = request.payload
    return {
        "recipient_name": payload.recipient_name,
        "fact": payload.content,
        "students": payload.student_names,
    }


def render_email(env: Environment, request: NotificationRequested) -> RenderedEmail:
    """The subject and text come from the kind's templates. The HTML part is the same text in
    paragraphs, so the two never say different things, unless the kind has its own HTML
    layout (the weekly digest's table)."""
    payload = request.payload
    context = _context(request)
    kind = payload.content.kind
    subject = env.get_template(f"{kind}.subject.j2").render(context).strip()
    text = env.get_template(f"{kind}.txt.j2").render(context).strip() + "\n"
    if f"{kind}.html.j2" in env.list_templates():
        html = env.get_template(f"{kind}.html.j2").render(subject=subject, **context)
    else:
        paragraphs = [block.splitlines() for block in text.split("\n\n") if block.strip()]
        html = env.get_template("email.html.j2").render(subject=subject, paragraphs=paragraphs)
    return RenderedEmail(subject=subject, text=text, html=html)


# The GSM 03.38 basic alphabet: text within it is GSM-7, anything else (Cyrillic) is UCS-2.
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
MAX_SMS_SEGMENTS = 2


def sms_segments(text: str) -> int:
    """How many segments the provider bills: 160/153 characters in GSM-7, 70/67 in UCS-2."""
    single, part = (160, 153) if set(text) <= GSM7 else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)


def render_sms(env: Environment, request: NotificationRequested) -> tuple[str, int]:
    """Compact text that fits two segments (cut with «…» if it would not), and its count."""
    context = _context(request)
    text = " ".join(
        env.get_template(f"{request.payload.content.kind}.sms.j2").render(context).split()
    )
    limit = (153 if set(text) <= GSM7 else 67) * MAX_SMS_SEGMENTS
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text, sms_segments(text)
