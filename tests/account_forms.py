"""Reading the personal account's forms from their HTML, for tests that post them over HTTP."""

from __future__ import annotations

import re

import httpx


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def challenge_of(page: httpx.Response) -> str:
    found = re.search(r'name="challenge" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)
