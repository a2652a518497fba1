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
        (issue_token(OTHER, role="admin", school_id="s1"), "Signature"),
        (issue_token(SECRET, role="admin", school_id="s1", ttl=timedelta(seconds=-1)), "expired"),
        (issue_token(SECRET, role="teacher", school_id="s1"), "person_id"),
        ("not-a-token", "segments"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        decode_token(SECRET, token)


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
