from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from services.shared.auth import InvalidTokenError, decode_token, issue_token

SECRET = SecretStr("unit-test-secret-0123456789abcdef-xyz")
OTHER = SecretStr("another-secret-0123456789abcdef-0123")


def test_a_token_carries_role_school_and_person() -> None:
    token = issue_token(SECRET, role="teacher", school_id="s1", person_id="t-1")
    principal = decode_token(SECRET, token)
    assert (principal.role, principal.school_id, principal.person_id) == ("teacher", "s1", "t-1")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (issue_token(OTHER, role="admin", school_id="s1"),
         "Signature"),
        (issue_token(SECRET, role="admin", school_id="s1", ttl=timedelta(seconds=-1)), "expired"),
        (issue_token(SECRET, role="teacher", school_id="s1"), "person_id"),
        ("not-a-token", "segments"),
    ],
)  # fmt: skip
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        decode_token(SECRET, token)
