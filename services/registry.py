"""Finds a service's composition root by name, for `vestnik serve NAME`."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fastapi import FastAPI

SERVICES = ("grades", "consent", "notifier", "digest", "account")


def build_app(
    name: str, app_options: dict[str, Any] | None = None, **overrides: Any
) -> tuple[FastAPI, Any]:
    """The service's FastAPI app and its settings: the environment's, then `overrides`.
    `app_options` go to its `create_app` (the notifier's clock, say)."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    settings = import_module(f"services.{name}.config").Settings(**overrides)
    create_app = import_module(f"services.{name}.app").create_app
    return create_app(settings, **(app_options or {})), settings
