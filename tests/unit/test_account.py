"""The personal account's pure rules (issue 14): codes, attempts, expiry, rate limits, CSRF,
cookies, sessions, who sees which child, contact digests; its pages before sign-in; and the
notifier's text of a sign-in code."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from schemas.notify import NotificationRequested, NotificationRequestedPayload, SignInCodePayload
from services.account import domain
from services.account.app import create_app
from services.account.config import Settings
from services.account.domain import (
    CODE_LIFETIME,
    PER_ADDRESS,
    PER_CONTACT,
    CodeChallenge,
    Decision,
    check_code,
    secret_hash,
)
from services.notifier.domain import message_id_for
from services.notifier.rendering import create_environment, render_email, render_sms
from services.notifier.sender import SmtpSender, SmtpServer
from services.shared.contacts import contact_digest

KEY = "test-key"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def a_challenge(code: str = "123456", **changes: object) -> CodeChallenge:
    fields: dict[str, object] = {
        "code_hash": secret_hash(code, KEY),
        "expires_at": NOW + CODE_LIFETIME,
    }
    return CodeChallenge(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_sign_in_code_is_six_digits_with_leading_zeros() -> None:
    assert domain.new_sign_in_code(lambda n: 42) == "000042"
    assert re.fullmatch(r"\d{6}", domain.new_sign_in_code())


def test_the_right_code_is_accepted_once() -> None:
    verdict, after = check_code(a_challenge(), "123 456", now=NOW, key=KEY)
    assert verdict == "accepted" and after.used
    assert check_code(after, "123456", now=NOW, key=KEY)[0] == "dead"


def test_a_code_expires_after_ten_minutes() -> None:
    challenge = a_challenge()
    assert check_code(challenge, "123456", now=NOW + timedelta(minutes=9), key=KEY)[0] == (
        "accepted"
    )
    assert check_code(challenge, "123456", now=NOW + timedelta(minutes=10), key=KEY)[0] == (
        "expired"
    )


def test_a_code_dies_at_the_fifth_wrong_attempt_even_for_the_right_code_after() -> None:
    challenge = a_challenge()
    verdicts = []
    for _ in range(5):
        verdict, challenge = check_code(challenge, "000000", now=NOW, key=KEY)
        verdicts.append(verdict)
    assert verdicts == ["wrong"] * 4 + ["dead"]
    assert check_code(challenge, "123456", now=NOW, key=KEY)[0] == "dead"


def test_a_stored_code_is_a_keyed_hash_not_the_code() -> None:
    assert secret_hash("123456", KEY) != secret_hash("123456", "other-key")
    assert "123456" not in secret_hash("123456", KEY)


def test_rate_limits_count_only_the_window() -> None:
    minute = timedelta(minutes=1)
    three = [NOW - 14 * minute, NOW - 5 * minute, NOW - minute]
    assert not domain.within_limit(three, NOW, PER_CONTACT)
    assert domain.within_limit(three, NOW + 2 * minute, PER_CONTACT)  # the first left the window
    assert domain.within_limit(three[1:], NOW, PER_CONTACT)
    hour = [NOW - i * minute for i in range(20)]
    assert not domain.within_limit(hour, NOW, PER_ADDRESS)
    assert domain.within_limit(hour, NOW + timedelta(minutes=41), PER_ADDRESS)


def test_an_activation_code_is_printable_and_forgiving_when_typed() -> None:
    letters = iter("K7QM3XWP9DHA")
    code = domain.new_activation_code(lambda alphabet: next(letters))
    assert code == "K7QM-3XWP-9DHA"
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", domain.new_activation_code())
    assert domain.normalised_activation_code(" k7qm 3xwp-9dha ") == code


def test_a_session_id_has_256_random_bits() -> None:
    ids = {domain.new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 43 for i in ids)  # 32 bytes, base64url without padding


def test_csrf_tokens_are_signed_and_compared_whole() -> None:
    token = domain.signed("abc", KEY)
    assert domain.unsigned(token, KEY) == "abc"
    assert domain.unsigned(token, "other") is None
    assert domain.unsigned("abc.0000", KEY) is None
    assert domain.unsigned(None, KEY) is None
    assert domain.csrf_matches(token, token)
    assert not domain.csrf_matches(token, token + "x")
    assert not domain.csrf_matches(token, None)
    assert not domain.csrf_matches(None, None)


def test_the_session_cookie_is_http_only_same_site_lax_and_secure_unless_told() -> None:
    flags = domain.session_cookie_flags(secure=True)
    assert (flags.http_only, flags.secure, flags.same_site, flags.path) == (True, True, "lax", "/")
    assert not domain.session_cookie_flags(secure=False).secure


def test_a_session_ends_when_idle_or_too_old() -> None:
    idle, absolute = timedelta(hours=1), timedelta(days=30)
    times = domain.SessionTimes(created_at=NOW, last_seen_at=NOW)
    alive = domain.session_alive
    assert alive(times, now=NOW + timedelta(minutes=59), idle=idle, absolute=absolute)
    assert not alive(times, now=NOW + timedelta(minutes=61), idle=idle, absolute=absolute)
    busy = domain.SessionTimes(created_at=NOW, last_seen_at=NOW + timedelta(days=30))
    assert not alive(busy, now=NOW + timedelta(days=30, minutes=1), idle=idle, absolute=absolute)


def test_a_recipient_sees_the_children_whose_latest_decision_is_a_consent_in_force() -> None:
    t = [NOW + timedelta(minutes=i) for i in range(6)]
    decisions = [
        Decision("st-1", "granted", t[0]),
        Decision("st-2", "granted", t[1]),
        Decision("st-2", "revoked", t[2]),
        Decision("st-3", "refused", t[3]),
        Decision("st-4", "granted", t[4], valid_until=date(2026, 11, 29)),
        Decision("st-5", "revoked", t[0]),
        Decision("st-5", "granted", t[5]),
    ]
    assert domain.visible_students(decisions, today=NOW.date()) == ["st-1", "st-5"]


def test_a_student_signs_in_for_themselves_only_from_basic_level_on() -> None:
    own = [Decision(student, "granted", NOW, by_student=True) for student in ("st-1", "st-2")]
    levels = {"st-1": "primary", "st-2": "basic"}
    assert domain.visible_students(own, today=NOW.date(), levels=levels) == ["st-2"]
    # Until the journal says which level, a student's own sign-in shows nothing.
    assert domain.visible_students(own, today=NOW.date()) == []
    # A parent's consent about a primary-school child: the parent sees them.
    parents = [Decision("st-1", "granted", NOW)]
    assert domain.visible_students(parents, today=NOW.date(), levels=levels) == ["st-1"]


def test_a_contact_digest_ignores_how_the_address_was_typed_but_not_the_key() -> None:
    email = contact_digest("email", "Parent@Example.RU ", KEY)
    assert email == contact_digest("email", "parent@example.ru", KEY)
    assert email != contact_digest("email", "parent@example.ru", "another-key")
    phone = contact_digest("sms", "+7 (912) 345-67-89", KEY)
    assert phone == contact_digest("sms", "89123456789", KEY)
    assert phone == contact_digest("sms", "+79123456789", KEY)
    assert contact_digest("sms", "not a phone", KEY) is None
    assert email is not None and "example" not in email


# The pages that need no database: before sign-in.


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = Settings(mongo_url="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100")
    return TestClient(create_app(settings), base_url="https://testserver")


def test_the_sign_in_page_is_russian_accessible_and_sets_a_signed_csrf_cookie(
    client: TestClient,
) -> None:
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert '<html lang="ru">' in page.text
    assert '<label for="contact">' in page.text and 'id="contact"' in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("vestnik_csrf=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None and token.group(1) in cookie
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_a_form_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/sign-in")
    refused = client.post("/sign-in", data={"contact": "parent@example.ru"})
    assert refused.status_code == 403
    assert "Форма устарела" in refused.text
    forged = client.post("/sign-in", data={"contact": "parent@example.ru", "csrf_token": "abc.def"})
    assert forged.status_code == 403


def test_the_activation_page_has_its_field(client: TestClient) -> None:
    page = client.get("/activate")
    assert page.status_code == 200
    assert '<label for="activation-code">' in page.text
    assert 'name="activation_code"' in page.text


def test_signed_in_pages_send_a_stranger_to_sign_in(client: TestClient) -> None:
    for path in ("/", "/settings", "/children/school-1/st-1"):
        answer = client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in"), path
    answer = client.post("/sign-out", follow_redirects=False)
    assert answer.status_code == 303


def test_the_stylesheet_is_served(client: TestClient) -> None:
    css = client.get("/static/account.css")
    assert css.status_code == 200 and ":focus-visible" in css.text


# The notifier's text.


def a_code_request(channel: str) -> NotificationRequested:
    source = uuid.uuid4()
    return NotificationRequested.new(
        NotificationRequestedPayload(
            student_id="st-1",
            dedupe_key=f"sign-in/{source}/{channel}",
            source_event_id=source,
            recipient_id="r-1",
            recipient_name="пользователь электронного дневника",
            channel=channel,  # type: ignore[arg-type]
            address="parent@example.ru" if channel == "email" else "+79123456789",
            category="account",
            priority="urgent",
            content=SignInCodePayload(
                student_id="st-1", school_id="school-1", code="123456", expires_at=NOW
            ),
        ),
        producer="account",
    )


def test_the_notifier_renders_a_sign_in_code_by_email_and_sms() -> None:
    env = create_environment()
    email = render_email(env, a_code_request("email"))
    assert email.subject == "Код для входа в электронный дневник: 123456"
    assert (
        "Код для входа в электронный дневник: 123456. Он действует 10 минут. "
        "Никому его не сообщайте." in email.text
    )
    assert "123456" in email.html
    sms, segments = render_sms(env, a_code_request("sms"))
    assert sms == (
        "Код для входа в электронный дневник: 123456. Он действует 10 минут. "
        "Никому его не сообщайте."
    )
    assert segments <= 2


def test_a_sign_in_code_e_mail_has_no_unsubscribe_link_unlike_a_mailing() -> None:
    sender = SmtpSender(
        create_environment(),
        SmtpServer("-", 0, 1),
        sender="Электронный дневник <n@x.ru>",
        account_url="https://school.example",
        unsubscribe_key="k",
    )
    request = a_code_request("email")
    raw = sender.compose(request, message_id_for(request.payload.dedupe_key))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Код для входа в электронный дневник: 123456"
    assert message["List-Unsubscribe"] is None
