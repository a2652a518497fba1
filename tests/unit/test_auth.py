from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from services.shared.auth import InvalidTokenError, decode_token, issue_token

SECRET = SecretStr("unit-test-secret-0123456789abcdef-xyz")
OTHER = SecretStr("another-secret-0123456789abcdef-0123")


def test_a_token_carries_role_school_and_person() -> None:
    token = issue_token(SECRET, role="teacher", school_id="s1", person_id="t-1")
    principal = decode_token(SECRET, token, audience="grades")
    assert (principal.role, principal.school_id, principal.person_id) == ("teacher", "s1", "t-1")


def forged_lifetime(lifetime: timedelta) -> str:
    """A token signed with the right secret but a lifetime no issuer of ours gives."""
    import jwt

    now = datetime.now(UTC)
    claims = {
        "iss": "vestnik",
        "sub": "x",
        "aud": ["grades"],
        "role": "admin",
        "school_id": "s1",
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, SECRET.get_secret_value(), algorithm="HS256")


def test_staff_of_the_school_or_the_parent_themselves() -> None:
    from fastapi import HTTPException

    from services.shared.auth import Principal, require

    staff = Principal("s", "staff", "s1")
    mother = Principal("p", "parent", "s1", person_id="g-1")
    stranger = Principal("p", "parent", "s1", person_id="g-2")
    require(staff, "s1", ("staff",), or_parent="g-1")
    require(mother, "s1", ("staff",), or_parent="g-1")
    for caller, school in ((stranger, "s1"), (mother, "s2"), (staff, "s2")):
        with pytest.raises(HTTPException) as refused:
            require(caller, school, ("staff",), or_parent="g-1")
        assert refused.value.status_code == 403
    with pytest.raises(HTTPException):
        require(mother, "s1", ("staff",))  # without or_parent, a parent is not staff


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (issue_token(OTHER, role="admin", school_id="s1"), "Signature"),
        (issue_token(SECRET, role="admin", school_id="s1", ttl=timedelta(seconds=-1)), "expired"),
        (issue_token(SECRET, role="teacher", school_id="s1"), "person_id"),
        ("not-a-token", "segments"),
        (issue_token(SECRET, role="admin", school_id="s1", audience=("account",)), r"(?i)audience"),
        (forged_lifetime(timedelta(days=7)), "at most"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        decode_token(SECRET, token, audience="grades")


def test_tokens_are_not_minted_for_longer_than_a_role_may_hold_one() -> None:
    """Before: any lifetime was issued and accepted, and tokens named no service."""
    with pytest.raises(ValueError, match="at most"):
        issue_token(SECRET, role="parent", school_id="s1", person_id="g", ttl=timedelta(days=2))
    with pytest.raises(ValueError, match="audience"):
        issue_token(SECRET, role="admin", school_id="s1", audience=("payroll",))
    journal = issue_token(SECRET, role="journal", school_id="s1", ttl=timedelta(days=30))
    assert decode_token(SECRET, journal, audience="grades").role == "journal"


def test_vestnik_token_refuses_the_development_secret_outside_a_local_stack() -> None:
    from typer.testing import CliRunner

    from services.cli import app
    from services.shared.config import DEV_JWT_SECRET

    runner = CliRunner()
    args = ["token", "--role", "admin", "--school", "s1"]
    development = {"VESTNIK_ENVIRONMENT": "production", "VESTNIK_JWT_SECRET": DEV_JWT_SECRET}
    refused = runner.invoke(app, args, env={**development, "COLUMNS": "500"})
    real = runner.invoke(
        app,
        [*args, "--service", "grades"],
        env={"VESTNIK_ENVIRONMENT": "production", "VESTNIK_JWT_SECRET": SECRET.get_secret_value()},
    )
    assert refused.exit_code != 0
    assert "local stack only" in refused.output
    assert real.exit_code == 0, real.output
    principal = decode_token(SECRET, real.output.strip(), audience="grades")
    assert principal.role == "admin"
    with pytest.raises(InvalidTokenError, match=r"(?i)audience"):
        decode_token(SECRET, real.output.strip(), audience="consent")
