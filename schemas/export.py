"""Export every event's JSON Schema to `schemas/json/<Type>.v<version>.json`."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.envelope import Envelope
from schemas.topics import ALL_EVENTS

SCHEMA_DIR = Path(__file__).parent / "json"


def schema_file(event: type[Envelope]) -> Path:  # type: ignore[type-arg]
    version = event.model_fields["version"].default
    return SCHEMA_DIR / f"{event.model_fields['type'].default}.v{version}.json"


def render_schema(event: type[Envelope]) -> str:  # type: ignore[type-arg]
    schema = event.model_json_schema()
    schema["x-topic"] = event.topic
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export_all() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for event in ALL_EVENTS:
        path = schema_file(event)
        path.write_text(render_schema(event), encoding="utf-8")
        written.append(path)
    return written
