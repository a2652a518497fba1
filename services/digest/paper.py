"""Paper: the weekly class printout and the extract, as A4 PDFs in Russian (WeasyPrint).

Rendering is CPU work: callers run it in a thread so the event loop keeps consuming.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from schemas.digest import WeeklyDigestPayload
from services.digest.reports import ClassReport
from services.shared.russian import FILTERS

TEMPLATES = Path(__file__).parent / "templates"


def create_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(FILTERS)
    return env


@cache
def worker_templates() -> Environment:
    """The templates of a worker process that renders for the command line: loaded once."""
    return create_environment()


def _pdf(html: str) -> bytes:
    import weasyprint  # type: ignore[import-untyped]  # imported on first use: it loads pango, which takes half a second

    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def class_printout(
    env: Environment,
    school_name: str,
    class_name: str,
    week: str,
    digests: list[WeeklyDigestPayload],
) -> bytes:
    """One A4 page per student, with a line for the parent's signature, for the class
    teacher to print and hand over."""
    html = env.get_template("printout.html.j2").render(
        school_name=school_name, class_name=class_name, week=week, digests=digests
    )
    return _pdf(html)


def extract(
    env: Environment, school_name: str, digest: WeeklyDigestPayload, issued_on: date
) -> bytes:
    """Clause 4's paper extract: the student's results for any range of dates."""
    html = env.get_template("extract.html.j2").render(
        school_name=school_name, d=digest, issued_on=issued_on
    )
    return _pdf(html)


def summary_sheet_pdf(
    env: Environment, school_name: str, report: ClassReport, issued_on: date
) -> bytes:
    """Clause 8's summary sheet on A4 landscape (the header repeats on every page), with the
    statistics and the distribution of marks."""
    html = env.get_template("summary_sheet.html.j2").render(
        school_name=school_name,
        class_name=report.class_name,
        report=report,
        issued_on=issued_on,
        number=_number,
    )
    return _pdf(html)


def _number(value: float | None) -> str:
    """A figure as Russian print writes it (a decimal comma); a dash where there is none."""
    return "—" if value is None else f"{value:g}".replace(".", ",")
