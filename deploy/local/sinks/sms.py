"""An HTTP server playing an SMS provider (SMS.ru-style API) that keeps what it receives."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse

from deploy.local.sinks.faults import FaultFile

STOP_LISTED = "7000"


def create_sms_sink(sms_dir: Path) -> FastAPI:
    sms_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="SMS gateway sink")
    faults = FaultFile(sms_dir)
    # Idempotent sending, as providers offer it (Infobip's messageId, for one): a repeat of a
    # `client_id` already accepted is answered as the first time and sends nothing.
    accepted = {
        record["client_id"]: record["sms_id"]
        for record in map(_read, sms_dir.glob("*.json"))
        if record.get("client_id")
    }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/sms/send")
    async def send(
        to: Annotated[str, Form()],
        msg: Annotated[str, Form()],
        api_id: Annotated[str, Form()] = "",
        client_id: Annotated[str, Form()] = "",
    ) -> Any:
        """Accept a message as the provider would, and keep it as JSON.

        As SMS.ru answers: the request as a whole is OK (HTTP 200, `status: OK`), and each
        number has its own status inside, keyed by the number's digits. A number that is not
        one (code 202) or is on the sink's stop list, `+7000…` (code 207, "this number cannot
        receive messages"), fails alone. A `client_id` seen before sends nothing again."""
        number = to.lstrip("+")
        if client_id in accepted:
            repeat = {"status": "OK", "status_code": 100, "sms_id": accepted[client_id]}
            return {"status": "OK", "status_code": 100, "sms": {number: repeat}}
        chaos = faults.sms()  # the chaos run's faults (faults.json)
        if chaos.throttled_now():
            return JSONResponse({"status": "ERROR"}, 429, headers={"Retry-After": "1"})
        if number in chaos.failing_numbers:
            result = {
                "status": "ERROR",
                "status_code": 230,
                "status_text": "Превышен общий лимит количества сообщений на этот номер в день",
            }
        elif not re.fullmatch(r"\d{10,15}", number):
            result = {
                "status": "ERROR",
                "status_code": 202,
                "status_text": "Неправильно указан номер",
            }
        elif number.startswith(STOP_LISTED):
            result = {
                "status": "ERROR",
                "status_code": 207,
                "status_text": "На этот номер нельзя отправлять сообщения",
            }
        else:
            sms_id = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
            record = {"sms_id": sms_id, "to": to, "msg": msg, "client_id": client_id}
            partial = sms_dir / f".{sms_id}.part"
            partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            partial.rename(sms_dir / f"{sms_id}.json")
            if client_id:
                accepted[client_id] = sms_id
            result = {"status": "OK", "status_code": 100, "sms_id": sms_id}
        return {
            "status": "OK",
            "status_code": 100,
            "sms": {number or to: result},
            "balance": 1000.0,
        }

    return app


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))
