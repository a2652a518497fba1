"""Faults the local sinks play on request, for the chaos run (issue 16): an SMTP server that
answers 421/451 or drops the connection for a stretch, an SMS provider that throttles (429) or
refuses some numbers. A sink reads `faults.json` in its own directory (the mail or SMS dir),
so any process (the chaos run, a test) switches faults on and off by writing that file.

A dropped SMTP connection is dropped before the message is taken (at RCPT), so the sink never
keeps a message the sender was not told it has: what the sender sees as a failure is one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE = "faults.json"
# How long a sink trusts what it read from the file: faults switch within this.
REREAD_SECONDS = 0.2


@dataclass(frozen=True)
class SmtpFaults:
    reply_code: int | None = None  # 421 or 451 to every MAIL FROM until `until`
    drop: bool = False  # drop the connection at RCPT TO until `until`
    until: float = 0.0  # Unix time

    def reply_now(self) -> int | None:
        return self.reply_code if time.time() < self.until else None

    def drop_now(self) -> bool:
        return self.drop and time.time() < self.until


@dataclass(frozen=True)
class SmsFaults:
    throttle_until: float = 0.0  # HTTP 429 with Retry-After to every request until then
    failing_numbers: tuple[str, ...] = field(default=())  # digits, refused one by one

    def throttled_now(self) -> bool:
        return time.time() < self.throttle_until


def set_smtp_faults(mail_dir: Path, faults: SmtpFaults) -> None:
    _write(mail_dir, asdict(faults))


def set_sms_faults(sms_dir: Path, faults: SmsFaults) -> None:
    _write(sms_dir, {**asdict(faults), "failing_numbers": list(faults.failing_numbers)})


def clear(directory: Path) -> None:
    (directory / FILE).unlink(missing_ok=True)


def _write(directory: Path, body: dict[str, object]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{FILE}.part"
    partial.write_text(json.dumps(body))
    partial.rename(directory / FILE)  # a sink never reads half a file


class FaultFile:
    """A sink's view of its `faults.json`, read again at most every REREAD_SECONDS."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / FILE
        self._read_at = 0.0
        self._body: dict[str, object] = {}

    def _current(self) -> dict[str, object]:
        now = time.monotonic()
        if now - self._read_at >= REREAD_SECONDS:
            self._read_at = now
            try:
                self._body = json.loads(self._path.read_text())
            except (FileNotFoundError, ValueError):
                self._body = {}
        return self._body

    def smtp(self) -> SmtpFaults:
        body = self._current()
        return SmtpFaults(
            reply_code=_int(body.get("reply_code")),
            drop=bool(body.get("drop")),
            until=_float(body.get("until")),
        )

    def sms(self) -> SmsFaults:
        body = self._current()
        numbers = body.get("failing_numbers")
        return SmsFaults(
            throttle_until=_float(body.get("throttle_until")),
            failing_numbers=tuple(str(n) for n in numbers) if isinstance(numbers, list) else (),
        )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
