"""The personal account's pages on the bench school (issue 14: every page under 200 ms of
server time). Families sign in as a family without e-mail does (a printed activation code),
then every page a family sees is requested REQUESTS times in a row after a warm-up: the
server's time (the `Server-Timing` header every service sends), the time the client saw, and
the database commands each request made (`vestnik_db_commands_total`, the account's own).

The district's families have one child each; a parent of two children, in two classes, is
registered beside them, and their children get a quarter's worth of journal: marks in every
subject, final marks, absences, the class's timetable and homework.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from bench import district as plans
from bench.probes import percentile, scrape
from services.account.family_usecases import SECTIONS

BUDGET_MS = 200.0
REQUESTS = int(os.environ.get("BENCH_ACCOUNT_REQUESTS", "30"))
WARM_UP = 3
QUARTER_MARKS = 8  # per subject: what a quarter holds for one child
LESSONS_A_DAY = 6
TWO_CHILDREN = "bench-parent-of-two"
# What serves a page: their CPU per request does not depend on what else the machine runs,
# as the time does (the settings page asks consent).
SERVING = ("account", "consent", "ferretdb", "postgres")


@dataclass(frozen=True)
class Family:
    school_id: str
    recipient_id: str
    student_ids: tuple[str, ...]


def families(school: plans.School) -> list[Family]:
    """The parent of two (registered by `parent_of_two_calls`) and one of the district's
    own parents, by e-mail and SMS."""
    first, second = school.students[0], school.students[len(school.students) // 2]
    single = next(s for s in school.students if s.guardian == "email+sms")
    return [
        Family(school.school_id, TWO_CHILDREN, (first.student_id, second.student_id)),
        Family(school.school_id, f"g-{single.student_id}", (single.student_id,)),
    ]


def parent_of_two_calls(family: Family) -> list[tuple[str, dict[str, Any]]]:
    """The consent registry's calls for the parent of two: the recipient, a consent per
    child, an e-mail address."""
    base = f"/v1/schools/{family.school_id}"
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            f"{base}/recipients/{family.recipient_id}",
            {"kind": "guardian", "name": "Родитель двоих", "student_ids": list(family.student_ids)},
        )
    ]
    for student_id in family.student_ids:
        calls.append(
            (
                f"{base}/consents/c-{family.recipient_id}-{student_id}",
                plans.consent(family.recipient_id, student_id, "granted"),
            )
        )
    calls.append(
        (
            f"{base}/recipients/{family.recipient_id}/contacts/email",
            {"address": f"{family.recipient_id}@example.org", "proof": plans.WRITTEN},
        )
    )
    return calls


def quarter(school: plans.School, student_ids: set[str]) -> list[dict[str, Any]]:
    """A quarter's journal for these students and their classes: QUARTER_MARKS marks in each
    subject over the last weeks, a final mark in each, two absences; their classes' weekly
    timetable and a week's homework."""
    monday = plans.monday()
    students = [s for s in school.students if s.student_id in student_ids]
    items: list[dict[str, Any]] = []
    for student in students:
        for n, subject in enumerate(plans.SUBJECTS):
            for m in range(QUARTER_MARKS):
                items.append(
                    {
                        "kind": "mark",
                        "mark_id": f"quarter-{student.student_id}-{subject}-{m}",
                        "student_id": student.student_id,
                        "subject_id": subject,
                        "teacher_id": "t-1",
                        "lesson_date": (monday - timedelta(days=3 * m + n % 3)).isoformat(),
                        "value": "2345"[(m + n) % 4],
                        "work_type": "ответ на уроке",
                    }
                )
            items.append(
                {
                    "kind": "final_mark",
                    "final_mark_id": f"quarter-{student.student_id}-{subject}",
                    "student_id": student.student_id,
                    "subject_id": subject,
                    "period_id": "q2",
                    "value": "5",
                    "obtained_at": f"{monday.isoformat()}T09:00:00+03:00",
                }
            )
        for day in (1, 8):
            items.append(
                {
                    "kind": "absence",
                    "absence_id": f"quarter-{student.student_id}-{day}",
                    "student_id": student.student_id,
                    "subject_id": plans.SUBJECTS[day],
                    "lesson_date": (monday - timedelta(days=day)).isoformat(),
                    "code": "Б",
                }
            )
    start = monday - timedelta(days=30)
    for class_id in sorted({s.class_id for s in students}):
        for weekday in range(1, 6):
            for number in range(1, LESSONS_A_DAY + 1):
                subject = plans.SUBJECTS[(weekday * LESSONS_A_DAY + number) % len(plans.SUBJECTS)]
                items.append(
                    {
                        "kind": "timetable_lesson",
                        "lesson_id": f"{class_id}-{weekday}-{number}",
                        "class_id": class_id,
                        "weekday": weekday,
                        "lesson_number": number,
                        "subject_id": subject,
                        "teacher_id": "t-1",
                        "room": str(100 + number),
                        "valid_from": start.isoformat(),
                        "valid_to": (start + timedelta(days=60)).isoformat(),
                    }
                )
                items.append(
                    {
                        "kind": "homework",
                        "homework_id": f"{class_id}-{weekday}-{number}",
                        "class_id": class_id,
                        "subject_id": subject,
                        "teacher_id": "t-1",
                        "lesson_date": (monday + timedelta(days=weekday - 1)).isoformat(),
                        "lesson_number": number,
                        "due_on": (monday + timedelta(days=weekday + 6)).isoformat(),
                        "text": f"Упражнения {weekday * 10 + number}, параграф {number}",
                    }
                )
    return items


def pages_of(family: Family) -> list[tuple[str, list[str]]]:
    """(the page as the report names it, the paths it is requested at): the home page, the
    settings, and each child's default page and sections, every child in turn."""
    children = [f"/children/{family.school_id}/{st}" for st in family.student_ids]
    return [
        ("/", ["/"]),
        ("/settings", ["/settings"]),
        ("/children/{school}/{student}", children),
        *(
            (f"/children/{{school}}/{{student}}/{s}", [f"{c}/{s}" for c in children])
            for s in SECTIONS
        ),
    ]


async def sign_in(http: httpx.AsyncClient, family: Family, staff_token: str) -> None:
    """An activation code from the staff API, typed into /activate with the form's CSRF
    token: `http` then holds the session cookie."""
    issued = await http.post(
        f"/v1/schools/{family.school_id}/recipients/{family.recipient_id}/activation-codes",
        headers={"Authorization": f"Bearer {staff_token}"},
    )
    issued.raise_for_status()
    form = await http.get("/activate")
    form.raise_for_status()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the activation form carries no CSRF token")
    answer = await http.post(
        "/activate", data={"activation_code": issued.json()["code"], "csrf_token": token[1]}
    )
    if answer.status_code != 303 or answer.headers.get("location") != "/":
        raise RuntimeError(f"activation refused: {answer.status_code}")


def _server_ms(response: httpx.Response) -> float:
    found = re.search(r"\bapp;dur=([\d.]+)", response.headers.get("server-timing", ""))
    return float(found[1]) if found else float("nan")


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "max": max(values, default=float("nan")),
    }


async def measure(
    account_url: str,
    families_: list[Family],
    staff_token: str,
    *,
    cpu: Callable[[], float],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Each family signs in, then each of its pages: WARM_UP requests, then REQUESTS timed
    ones, one after another. Figures per page, every family's requests together; `cpu`: the
    CPU seconds SERVING has used so far."""
    samples: dict[str, dict[str, list[float]]] = {}
    failures: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=60) as metrics:
        for family in families_:
            async with httpx.AsyncClient(base_url=account_url, timeout=60) as http:
                await sign_in(http, family, staff_token)
                for page, paths in pages_of(family):
                    for n in range(WARM_UP):
                        await http.get(paths[n % len(paths)])
                    seen = samples.setdefault(
                        page, {"server": [], "client": [], "commands": [], "cpu": []}
                    )
                    before = await scrape(metrics, [account_url], "vestnik_db_commands_total")
                    cpu_before = cpu()
                    for n in range(REQUESTS):
                        started = time.perf_counter()
                        response = await http.get(paths[n % len(paths)])
                        seen["client"].append((time.perf_counter() - started) * 1000)
                        seen["server"].append(_server_ms(response))
                        if response.status_code != 200:
                            failures[page] = failures.get(page, 0) + 1
                    seen["cpu"].append((cpu() - cpu_before) * 1000 / REQUESTS)
                    after = await scrape(metrics, [account_url], "vestnik_db_commands_total")
                    seen["commands"].append((after - before) / REQUESTS)
            say(f"  {family.recipient_id} ({len(family.student_ids)} children): measured")
    pages: dict[str, dict[str, Any]] = {
        page: {
            "server_ms": stats(seen["server"]),
            "client_ms": stats(seen["client"]),
            "db_commands_per_request": sum(seen["commands"]) / len(seen["commands"]),
            "cpu_ms_per_request": sum(seen["cpu"]) / len(seen["cpu"]),
            "requests": len(seen["server"]),
            "not_200": failures.get(page, 0),
            "under_budget": percentile(seen["server"], 0.95) < BUDGET_MS,
        }
        for page, seen in samples.items()
    }
    return {
        "budget_ms": BUDGET_MS,
        "requests_per_page_and_family": REQUESTS,
        "families": [
            {"recipient_id": f.recipient_id, "children": len(f.student_ids)} for f in families_
        ],
        "pages": pages,
    }


def _failed(count: int) -> str:
    return f" ({count} not 200)" if count else ""


def table(figures: dict[str, Any]) -> str:
    """The Markdown table of the pages' figures."""
    rows = [
        f"| `{page}` | {f['server_ms']['p50']:.0f} / {f['server_ms']['p95']:.0f} / "
        f"{f['server_ms']['max']:.0f} | {f['client_ms']['p50']:.0f} / "
        f"{f['client_ms']['p95']:.0f} | {f['db_commands_per_request']:.1f} | "
        f"{f['cpu_ms_per_request']:.0f} | "
        f"{'yes' if f['under_budget'] else '**no**'}{_failed(f['not_200'])} |"
        for page, f in figures["pages"].items()
    ]
    return (
        f"| page | server p50 / p95 / max, ms | client p50 / p95, ms | DB commands per request "
        f"| CPU per request ({' + '.join(SERVING)}), ms | p95 < {figures['budget_ms']:.0f} ms |"
        f"\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    )


def summary(figures: dict[str, Any]) -> str:
    families_ = ", ".join(
        f"{f['recipient_id']} ({f['children']} {'child' if f['children'] == 1 else 'children'})"
        for f in figures["families"]
    )
    over = [page for page, f in figures["pages"].items() if not f["under_budget"]]
    verdict = (
        "every page's p95 is under the budget"
        if not over
        else f"over the budget: {', '.join(f'`{p}`' for p in over)}"
    )
    return (
        f"Personal account pages (signed in by activation code; {families_}; "
        f"{figures['requests_per_page_and_family']} requests per page and family after "
        f"{WARM_UP} of warm-up, one at a time): {verdict}.\n\n{table(figures)}\n"
    )


def plot(figures: dict[str, Any], axis: Any) -> None:
    """Server p50 and p95 per page as horizontal bars, the budget as a line."""
    pages = list(figures["pages"])
    labels = [p.replace("/children/{school}/{student}", "child") or "/" for p in pages]
    p50 = [figures["pages"][p]["server_ms"]["p50"] for p in pages]
    p95 = [figures["pages"][p]["server_ms"]["p95"] for p in pages]
    rows = range(len(pages))
    axis.barh([r + 0.2 for r in rows], p95, height=0.4, label="p95")
    axis.barh([r - 0.2 for r in rows], p50, height=0.4, label="p50")
    axis.axvline(figures["budget_ms"], color="red", linestyle="--", label="budget")
    axis.set_yticks(list(rows), labels)
    axis.invert_yaxis()
    axis.set_xlabel("server time, ms (Server-Timing)")
    axis.set_title("Personal account pages")
    axis.legend()
