"""The `vestnik` command line: run a service, the local stack, the demo, the schema export."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Vestnik: school results to students and parents.")
stack_app = typer.Typer(no_args_is_help=True, help="Kafka, FerretDB and the SMTP/SMS sinks.")
services_app = typer.Typer(no_args_is_help=True, help="The four services as background processes.")
schemas_app = typer.Typer(no_args_is_help=True, help="The event contracts' JSON Schemas.")
grades_app = typer.Typer(no_args_is_help=True, help="The journal's data exchange.")
digest_app = typer.Typer(no_args_is_help=True, help="Weekly digests, paper printouts, extracts.")
app.add_typer(stack_app, name="stack")
app.add_typer(grades_app, name="grades")
app.add_typer(digest_app, name="digest")
app.add_typer(services_app, name="services")
app.add_typer(schemas_app, name="schemas")


class ServiceName(StrEnum):
    grades = "grades"
    consent = "consent"
    notifier = "notifier"
    digest = "digest"
    account = "account"


class ReportFormat(StrEnum):
    pdf = "pdf"
    xlsx = "xlsx"
    json = "json"


class SinkName(StrEnum):
    smtp = "smtp"
    sms = "sms"


@app.command()
def serve(name: ServiceName) -> None:
    """Run one service in the foreground (HTTP and Kafka consumers in one process)."""
    import uvicorn

    from services.registry import build_app
    from services.shared.logging import configure_logging

    fastapi_app, settings = build_app(name.value)
    configure_logging(settings.log_level)
    uvicorn.run(
        fastapi_app,
        host=os.environ.get("VESTNIK_HOST", "127.0.0.1"),
        port=settings.port,
        log_config=None,
    )


@app.command()
def sink(name: SinkName, port: Annotated[int, typer.Option()] = 0) -> None:
    """Run the local SMTP or SMS sink in the foreground (the stack starts them)."""
    from deploy.local.stack import Layout

    layout = Layout.from_env()
    if name is SinkName.smtp:
        from deploy.local.sinks.smtp import serve as serve_smtp

        serve_smtp(layout.mail_dir, "127.0.0.1", port or layout.smtp_port)
    else:
        import uvicorn

        from deploy.local.sinks.sms import create_sms_sink

        uvicorn.run(
            create_sms_sink(layout.sms_dir),
            host="127.0.0.1",
            port=port or layout.sms_port,
            log_level="warning",
        )


@stack_app.command("up")
def stack_up() -> None:
    """Start Kafka, FerretDB and the sinks (already running ones are left as they are)."""
    from deploy.local.stack import Layout, infrastructure

    _up(infrastructure(Layout.from_env()))


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `stack up` started."""
    from deploy.local.stack import Layout, infrastructure

    for process in reversed(infrastructure(Layout.from_env())):
        typer.echo(f"{process.name:10} {process.down()}")


@stack_app.command("status")
def stack_status() -> None:
    """Health of each server; exits 1 unless all are healthy."""
    from deploy.local.stack import Layout, infrastructure

    _status(infrastructure(Layout.from_env()))


@services_app.command("up")
def services_up() -> None:
    """Start the four services in the background (logs in var/log/)."""
    from deploy.local.stack import Layout, services

    _up(services(Layout.from_env()))


@services_app.command("down")
def services_down() -> None:
    from deploy.local.stack import Layout, services

    for process in services(Layout.from_env()):
        typer.echo(f"{process.name:10} {process.down()}")


@services_app.command("status")
def services_status() -> None:
    from deploy.local.stack import Layout, services

    _status(services(Layout.from_env()))


@app.command()
def mail(limit: Annotated[int, typer.Option(help="How many of the newest to show.")] = 10) -> None:
    """What the local SMTP sink received, newest last."""
    from deploy.local.stack import Layout

    files = sorted(Layout.from_env().mail_dir.glob("*.eml"))[-limit:]
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        typer.echo(f"{path.name}  to {message['To']}: {message['Subject']}")
    typer.echo(f"{len(files)} message(s) shown")


@app.command()
def demo() -> None:
    """Start everything, load a demo school, post marks, show what reached whom, stop again."""
    from deploy.local.demo import run_demo

    run_demo()


@grades_app.command("import")
def grades_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, UTF-8.")],
    school: Annotated[str, typer.Option(help="The school's id.")],
    url: Annotated[str, typer.Option(envvar="VESTNIK_GRADES_URL")] = "http://127.0.0.1:8001",
    token: Annotated[
        str, typer.Option(envvar="VESTNIK_TOKEN", help="A journal or admin JWT.")
    ] = "",
    show_errors: Annotated[int, typer.Option(help="How many rejected rows to list.")] = 20,
    kind: Annotated[
        str,
        typer.Option(
            help="The kind of rows without a `kind` cell: timetable_lesson for a term's "
            "timetable, lesson_held for the lessons held."
        ),
    ] = "mark",
    announce: Annotated[
        bool,
        typer.Option(help="--no-announce: loaded with a schedule (a term's tests), not news."),
    ] = True,
) -> None:
    """Send a CSV of journal items (one per row; a `kind` column, or --kind, `mark` by
    default)."""
    import httpx

    from services.grades.importer import ImportFailedError, count_rows, import_csv

    if not token:
        raise typer.BadParameter("give --token or set VESTNIK_TOKEN (see `vestnik token`)")
    total = count_rows(file)
    done = 0

    def progress(rows: int) -> None:
        # A line per batch: readable in a terminal and in a CI log alike.
        nonlocal done
        done += rows
        typer.echo(f"  {done}/{total} rows sent ({done * 100 // max(total, 1)}%)", err=True)

    typer.echo(f"importing {total} rows from {file} into school {school}", err=True)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        try:
            report = import_csv(
                file,
                client=client,
                school_id=school,
                on_progress=progress,
                kind=kind,
                announce=announce,
            )
        except ImportFailedError as error:
            typer.echo(f"\nstopped: {error}", err=True)
            raise typer.Exit(1) from None
    typer.echo(
        f"{report.rows} rows: "
        + ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
    )
    for line, field, reason in report.errors[:show_errors]:
        typer.echo(f"  line {line}: {field or 'row'}: {reason}")
    if len(report.errors) > show_errors:
        typer.echo(f"  … and {len(report.errors) - show_errors} more rejected rows")


@digest_app.command("run")
def digest_run(
    school: Annotated[str, typer.Option(help="The school's id.")],
    week: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W48; default: this one.")
    ] = None,
) -> None:
    """Run a school's weekly digest now (e-mail digests and the paper printouts). It runs once
    per week: run again, or alongside the service, it does nothing twice."""
    import asyncio
    from datetime import date

    from services.digest.config import Settings
    from services.digest.domain import iso_week
    from services.digest.service import CONSUMES, PUBLISHES, build
    from services.shared.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)

    async def run() -> None:
        digest = build(settings)
        async with digest.runtime.running(*CONSUMES, *PUBLISHES):
            report = await digest.run(school, week or iso_week(date.today()))
        if report is None:
            typer.echo("nothing to do: that week is done already or running elsewhere")
        else:
            typer.echo(
                f"{report.students} students, {report.paper_pages} paper pages in "
                f"{report.classes_printed} class printouts, {report.seconds:.1f} s"
            )

    asyncio.run(run())


@digest_app.command("extract")
def digest_extract(
    school: Annotated[str, typer.Option(help="The school's id.")],
    student: Annotated[str, typer.Option(help="The student's id.")],
    first: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")],
    last: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day.")],
    out: Annotated[Path | None, typer.Option(help="Where to write the PDF.")] = None,
) -> None:
    """Clause 4's paper extract: a student's marks, absences and final marks for a range."""
    import asyncio

    from services.digest.config import Settings
    from services.digest.service import build
    from services.digest.usecases import extract_pdf

    if last < first:
        raise typer.BadParameter("--to must not be before --from")
    digest = build(Settings())
    pdf = asyncio.run(extract_pdf(digest, school, student, first.date(), last.date()))
    if pdf is None:
        typer.echo(f"no results for student {student} in school {school}", err=True)
        raise typer.Exit(1)
    path = out or Path(f"extract-{student}-{first:%Y%m%d}-{last:%Y%m%d}.pdf")
    path.write_bytes(pdf)
    typer.echo(path)


@app.command()
def reports(
    school: Annotated[str, typer.Argument(help="The school's id.")],
    period: Annotated[str, typer.Option(help="The period's id, e.g. q2.")],
    out: Annotated[Path, typer.Option(help="The folder to write the files into.")] = Path(
        "reports"
    ),
    formats: Annotated[
        list[ReportFormat] | None,
        typer.Option("--format", help="pdf, xlsx, json; again for more. Default: all three."),
    ] = None,
) -> None:
    """Issue 15's reports of a school for a period, class by class: the summary sheet of
    final marks with its statistics (PDF, XLSX, JSON), the lessons held against the
    curriculum (JSON), and every missing final mark (CSV), showing progress."""
    import asyncio
    import csv
    import io
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import astuple, fields

    from services.digest.config import Settings
    from services.digest.reports_api import lesson_stats_out, summary_sheet_out
    from services.digest.service import build
    from services.digest.usecases import (
        MissingFinal,
        Reader,
        missing_of,
        school_classes,
        school_files,
    )

    kinds = formats or list(ReportFormat)
    files = [str(kind) for kind in kinds if kind != ReportFormat.json]
    digest = build(Settings())
    workers = os.cpu_count() or 1

    async def write(path: Path, content: bytes) -> None:
        await asyncio.to_thread(path.write_bytes, content)

    async def run() -> None:
        started = time.monotonic()
        if not any(p.period_id == period for p in await digest.store.periods(school)):
            typer.echo(f"school {school} has no period {period}", err=True)
            raise typer.Exit(1)
        school_name = str((await digest.store.school(school)).get("name", ""))
        total = len(await school_classes(digest, school, reader=Reader()))
        typer.echo(f"{total} classes of {school_name or school}, period {period}", err=True)
        await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
        missing: list[MissingFinal] = []
        students = done = 0
        # A worker process per core renders the PDFs and workbooks (spawned: a fork would
        # copy this process's database connections).
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            async for found, rendered in school_files(
                digest, school, period, files, pool=pool, at_once=2 * workers
            ):
                report, stem = found.report, out / f"{found.class_id}-{period}"
                students += len(report.sheet.rows)
                missing += missing_of(found.class_id, report)
                for kind, content in rendered.items():
                    await write(Path(f"{stem}-summary-sheet.{kind}"), content)
                if ReportFormat.json in kinds:
                    sheet = summary_sheet_out(school, found.class_id, report)
                    lessons = lesson_stats_out(school, found.class_id, found.lessons)
                    await write(Path(f"{stem}-summary-sheet.json"), _json(sheet))
                    await write(Path(f"{stem}-lesson-stats.json"), _json(lessons))
                done += 1
                # A line per class: readable in a terminal and in a CI log alike.
                typer.echo(
                    f"  {done}/{total} {report.class_name or found.class_id}: "
                    f"{len(report.sheet.rows)} students, {len(report.sheet.missing)} missing "
                    f"({done * 100 // max(total, 1)}%, {time.monotonic() - started:.1f} s)",
                    err=True,
                )
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow([f.name for f in fields(MissingFinal)])
        writer.writerows(astuple(m) for m in missing)
        await write(out / f"missing-final-marks-{period}.csv", table.getvalue().encode())
        typer.echo(
            f"{done} classes, {students} students, {len(missing)} final marks missing: "
            f"{out}/ in {time.monotonic() - started:.1f} s"
        )

    asyncio.run(run())


def _json(model: Any) -> bytes:
    return str(model.model_dump_json(indent=2)).encode()


@app.command()
def token(
    role: Annotated[str, typer.Option(help="journal, teacher, admin, staff or parent")],
    school: Annotated[str, typer.Option(help="The school the token belongs to.")],
    person: Annotated[str | None, typer.Option(help="Teacher or guardian id.")] = None,
    hours: Annotated[
        int, typer.Option(help="Validity: at most 24 for people, 720 for the journal.")
    ] = 12,
    service: Annotated[
        list[str] | None,
        typer.Option(help="A service the token is for (repeat); default: all of them."),
    ] = None,
) -> None:
    """Issue a bearer token signed with VESTNIK_JWT_SECRET (for integrations and scripts).
    Outside a local stack (VESTNIK_ENVIRONMENT=local), a real secret is required."""
    from datetime import timedelta
    from typing import cast

    from pydantic import SecretStr

    from services.shared.auth import SERVICES, Role, issue_token
    from services.shared.config import DEV_JWT_SECRET

    environment = os.environ.get("VESTNIK_ENVIRONMENT", "local")
    raw_secret = os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET)
    if environment != "local" and (raw_secret == DEV_JWT_SECRET or len(raw_secret) < 32):
        raise typer.BadParameter(
            f"VESTNIK_ENVIRONMENT is {environment}: set VESTNIK_JWT_SECRET to the deployment's "
            "secret; the development secret signs tokens for a local stack only"
        )
    try:
        token = issue_token(
            SecretStr(raw_secret),
            role=cast(Role, role),
            school_id=school,
            person_id=person,
            audience=tuple(service or SERVICES),
            ttl=timedelta(hours=hours),
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(token)


@schemas_app.command("export")
def schemas_export() -> None:
    """Write every event's JSON Schema to schemas/json/."""
    from schemas.export import export_all

    for path in export_all():
        typer.echo(path)


def _up(processes: list) -> None:  # type: ignore[type-arg]
    from deploy.local.processes import StartError

    for process in processes:
        try:
            typer.echo(f"{process.name:10} {process.up()}")
        except StartError as error:
            typer.echo(f"{process.name:10} FAILED: {error}", err=True)
            raise typer.Exit(1) from None


def _status(processes: list) -> None:  # type: ignore[type-arg]
    states = {process.name: process.state() for process in processes}
    for name, state in states.items():
        typer.echo(f"{name:10} {state}")
    if not all(state.startswith("healthy") for state in states.values()):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
