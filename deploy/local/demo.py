"""`make demo`: the whole path on a fresh machine, shown on a small demo school.

Starts what is not running (and stops only that again), loads a school through the services'
own HTTP APIs, posts marks, waits for the e-mails and prints what reached whom.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
from pydantic import SecretStr

from deploy.local.processes import ManagedProcess
from deploy.local.stack import SERVICE_PORTS, Layout, infrastructure, services
from services.shared.auth import issue_token
from services.shared.config import DEV_JWT_SECRET

SCHOOL = "demo-school-1"
STUDENTS = {
    "demo-st-1": "Иванов Иван",
    "demo-st-2": "Смирнова Ольга",
    "demo-st-3": "Кузнецов Артём",
}
SUBJECTS = {"demo-math": "Математика", "demo-russian": "Русский язык", "demo-lit": "Литература"}
TEACHERS = {"demo-t-1": "Петрова Анна Сергеевна", "demo-t-2": "Соколов Игорь Павлович"}
WRITTEN = {
    "form": "written",
    "document_number": "17",
    "document_date": "2026-09-02",
    "accepted_by": "Секретарь Сидорова Н. В.",
}
# guardian id: (name, student, consent decision, e-mail)
GUARDIANS = {
    "demo-g-1": ("Иванова Мария Петровна", "demo-st-1", "granted", "ivanova@example.org"),
    "demo-g-2": ("Смирнов Олег Викторович", "demo-st-2", "granted", "smirnov@example.org"),
    "demo-g-3": ("Кузнецова Елена Андреевна", "demo-st-3", "refused", "kuznetsova@example.org"),
}
MARKS = [
    ("demo-st-1", "demo-math", "demo-t-1", "5", "контрольная работа", "Отличная работа!"),
    ("demo-st-2", "demo-russian", "demo-t-2", "4", "диктант", None),
    ("demo-st-3", "demo-lit", "demo-t-2", "3", "ответ у доски", None),
]
EXPECTED_EMAILS = 2  # demo-g-3 refused consent
SMS_GUARDIAN = "demo-g-2"


def run_demo() -> None:
    layout = Layout.from_env()
    started: list[ManagedProcess] = []
    try:
        for process in [*infrastructure(layout), *services(layout)]:
            state = process.up()
            print(f"{process.name:10} {state}")
            if state.startswith("started"):
                started.append(process)
        before = set(layout.mail_dir.glob("*.eml"))
        sms_before = set(layout.sms_dir.glob("*.json"))
        secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
        token = issue_token(secret, role="admin", school_id=SCHOOL, subject="demo")
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
            load_school(http)
            post_marks(http)
            invitation = account_invitation(http)
        print(f"\nwaiting for {EXPECTED_EMAILS} e-mails in {layout.mail_dir} ...")
        new_mail = wait_for_mail(layout.mail_dir, before, EXPECTED_EMAILS, timeout=60)
        new_sms = wait_for_sms(layout.sms_dir, sms_before, timeout=30)
        report(new_mail, new_sms, layout)
        print(invitation)
    finally:
        for process in reversed(started):
            print(f"{process.name:10} {process.down()}")


def _url(service: str, path: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}/v1/schools/{SCHOOL}{path}"


def load_school(http: httpx.Client) -> None:
    http.put(_url("grades", ""), json={"name": "МБОУ «Школа № 1»"}).raise_for_status()
    body = {"name": "5А", "education_level": "basic"}
    http.put(_url("grades", "/classes/demo-5a"), json=body).raise_for_status()
    for subject_id, name in SUBJECTS.items():
        http.put(_url("grades", f"/subjects/{subject_id}"), json={"name": name}).raise_for_status()
    for student_id, name in STUDENTS.items():
        body = {"name": name, "class_id": "demo-5a"}
        http.put(_url("grades", f"/students/{student_id}"), json=body).raise_for_status()
    for teacher_id, name in TEACHERS.items():
        assignments = [{"class_id": "demo-5a", "subject_id": s} for s in SUBJECTS]
        teacher = {"name": name, "assignments": assignments}
        http.put(_url("grades", f"/teachers/{teacher_id}"), json=teacher).raise_for_status()
    for guardian_id, (name, student_id, decision, address) in GUARDIANS.items():
        register_guardian(http, guardian_id, name, student_id, decision, address)
    print(f"\nloaded {SCHOOL}: {len(STUDENTS)} students, {len(GUARDIANS)} guardians")


def register_guardian(
    http: httpx.Client, guardian_id: str, name: str, student_id: str, decision: str, address: str
) -> None:
    """As the school's secretary would: the person, their written consent (or refusal), and
    the e-mail they wrote on that form."""
    recipient = {
        "kind": "guardian",
        "name": name,
        "student_ids": [student_id],
        "relation": "родитель",
    }
    http.put(_url("consent", f"/recipients/{guardian_id}"), json=recipient).raise_for_status()
    consent = {
        "recipient_id": guardian_id,
        "student_id": student_id,
        "decision": decision,
        "operator": "МБОУ «Школа № 1»",
        "purpose": "информирование о результатах обучения",
        "data_categories": ["ФИО", "оценки", "контакты"],
        "actions": ["сбор", "хранение"],
        "valid_from": "2026-09-01",
        "revocation_procedure": "письменное заявление",
        "proof": WRITTEN,
    }
    response = http.put(_url("consent", f"/consents/demo-consent-{guardian_id}"), json=consent)
    if response.status_code != 409:  # registered by an earlier demo run
        response.raise_for_status()
    contact = {"address": address, "proof": WRITTEN}
    http.put(
        _url("consent", f"/recipients/{guardian_id}/contacts/email"), json=contact
    ).raise_for_status()
    if guardian_id == SMS_GUARDIAN:
        # This parent also wrote a phone number and asked for marks by SMS.
        phone = {"address": "+7 916 123-45-67", "proof": WRITTEN}
        http.put(
            _url("consent", f"/recipients/{guardian_id}/contacts/sms"), json=phone
        ).raise_for_status()
        # No SMS quiet hours for the demo parent, so the demo shows an SMS at any hour.
        preferences = {
            "channels": {"marks": ["email", "sms", "inbox"]},
            "sms_quiet_hours": {"start": "00:00", "end": "00:00"},
        }
        http.put(
            _url("consent", f"/recipients/{guardian_id}/preferences"), json=preferences
        ).raise_for_status()


def post_marks(http: httpx.Client) -> None:
    run = time.strftime("%Y%m%d%H%M%S")
    items: list[dict[str, str]] = [
        {
            "kind": "mark",
            "mark_id": f"demo-{run}-{number}",
            "student_id": student_id,
            "subject_id": subject_id,
            "teacher_id": teacher_id,
            "lesson_date": time.strftime("%Y-%m-%d"),
            "value": value,
            "work_type": work,
            "comment": comment or "",
        }
        for number, (student_id, subject_id, teacher_id, value, work, comment) in enumerate(MARKS)
    ]
    response = http.post(_url("grades", "/journal"), json={"items": items})
    response.raise_for_status()
    for item, result in zip(items, response.json()["items"], strict=True):
        student, subject = STUDENTS[item["student_id"]], SUBJECTS[item["subject_id"]]
        print(f"posted «{item['value']}» for {student} ({subject}): {result['status']}")


def account_invitation(http: httpx.Client) -> str:
    """An activation code of the personal account for the first guardian, to look around."""
    guardian_id = next(iter(GUARDIANS))
    answer = http.post(_url("account", f"/recipients/{guardian_id}/activation-codes"))
    answer.raise_for_status()
    site = f"http://127.0.0.1:{SERVICE_PORTS['account']}"
    name, _, _, address = GUARDIANS[guardian_id]
    return (
        f"\npersonal account: {site}/activate with the activation code "
        f"{answer.json()['code']} ({name}), or {site}/sign-in "
        f"with {address} (the code arrives in the SMTP sink: `vestnik mail`);"
        "\nkeep the services running to use it: `make up`"
    )


def wait_for_mail(mail_dir: Path, before: set[Path], count: int, timeout: float) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = sorted(set(mail_dir.glob("*.eml")) - before)
        if len(new) >= count:
            return new
        time.sleep(0.5)
    raise SystemExit(f"only {len(new)} of {count} e-mails arrived in {timeout:.0f}s; see var/log/")


def wait_for_sms(sms_dir: Path, before: set[Path], timeout: float) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if new := sorted(set(sms_dir.glob("*.json")) - before):
            return new
        time.sleep(0.5)
    raise SystemExit(f"no SMS arrived in {timeout:.0f}s; see var/log/notifier.log")


def report(new_mail: list[Path], new_sms: list[Path], layout: Layout) -> None:
    print("\nwhat reached whom:")
    reached = set()
    for path in new_mail:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        reached.add(message["To"])
        body = message.get_body(("plain",))
        first_line = body.get_content().splitlines()[2] if body else ""
        print(f"  e-mail to {message['To']}: {message['Subject']}\n    {first_line}\n    {path}")
    for name, _, decision, address in GUARDIANS.values():
        if address not in reached:
            print(f"  nothing to {name}: consent {decision}")
    for path in new_sms:
        sms = json.loads(path.read_text(encoding="utf-8"))
        print(f"  SMS to {sms['to']}: {sms['msg']}\n    {path}")
    print(f"\nall e-mail: {layout.mail_dir}/*.eml; all SMS: {layout.sms_dir}/*.json")
