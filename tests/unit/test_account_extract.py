"""A child's PDF extract in the personal account (issue 14, item 2): the date range's rules,
the page's answers to each of the digest's, and the form as it renders."""

from __future__ import annotations

from datetime import date

import pytest

from services.account.extract_pages import NO_DATA, UNAVAILABLE, ExtractForm, extract, filename
from services.account.extract_range import (
    ExtractRange,
    asked,
    default_range,
    parse_range,
    school_year_start,
)
from services.account.extracts import DigestUnavailableError
from services.account.family_usecases import TITLES
from services.account.pages import create_environment
from services.account.preferences import FormError
from services.account.views import Child, FamilyFile, Identity, Viewer

SCHOOL = "school-1"
CHILD = Child(SCHOOL, "st-1", "Иванов Иван")
VIEWER = Viewer((Identity(SCHOOL, "g-1"),), (CHILD,))
TODAY = date(2026, 11, 30)


def test_the_form_offers_the_school_year_so_far() -> None:
    assert default_range(TODAY) == ExtractRange(date(2026, 9, 1), TODAY)
    assert default_range(date(2026, 9, 1)) == ExtractRange(date(2026, 9, 1), date(2026, 9, 1))
    # Summer belongs to the year that has just ended; January to the one under way.
    assert school_year_start(date(2027, 8, 31)) == date(2026, 9, 1)
    assert school_year_start(date(2027, 1, 10)) == date(2026, 9, 1)


def test_a_range_is_two_days_in_order() -> None:
    assert parse_range({"from": "2026-09-01", "to": "2026-11-30"}) == ExtractRange(
        date(2026, 9, 1), date(2026, 11, 30)
    )
    one_day = parse_range({"from": " 2026-10-05 ", "to": "2026-10-05"})
    assert one_day == ExtractRange(date(2026, 10, 5), date(2026, 10, 5))


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ({"to": "2026-11-30"}, "from", "Укажите дату в поле «С»"),
        ({"from": "", "to": "2026-11-30"}, "from", "Укажите дату в поле «С»"),
        ({"from": "2026-09-01"}, "to", "Укажите дату в поле «По»"),
        ({"from": "01.09.2026", "to": "2026-11-30"}, "from", "В поле «С» не дата"),
        ({"from": "2026-02-30", "to": "2026-11-30"}, "from", "В поле «С» не дата"),
        ({"from": "20260901", "to": "2026-11-30"}, "from", "В поле «С» не дата"),
        ({"from": "2026-W49-1", "to": "2026-11-30"}, "from", "В поле «С» не дата"),
        ({"from": "2026-09-01", "to": "٢٠٢٦-١١-٣٠"}, "to", "В поле «По» не дата"),
        ({"from": "0001-09-01", "to": "2026-11-30"}, "from", "между 01.01.2000 и 31.12.2099"),
        ({"from": "2026-09-01", "to": "2100-01-01"}, "to", "между 01.01.2000 и 31.12.2099"),
        ({"from": "2026-11-30", "to": "2026-09-01"}, "to", "не может быть раньше"),
    ],
)
def test_a_wrong_range_names_its_field_in_russian(
    query: dict[str, str], field: str, says: str
) -> None:
    error = parse_range(query)
    assert isinstance(error, FormError)
    assert error.field == field and says in error.message, error


def test_the_form_counts_as_sent_once_either_date_is_in_the_query() -> None:
    assert not asked({}) and not asked({"period": "q2"})
    assert asked({"from": ""}) and asked({"to": "2026-11-30"})


class Digest:
    """The digest as the page sees it: an answer, or an error, and what it was asked."""

    def __init__(self, answer: bytes | Exception | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str, date, date]] = []

    async def extract(
        self, school_id: str, student_id: str, recipient_id: str, first: date, last: date
    ) -> bytes | None:
        self.asked.append((school_id, student_id, recipient_id, first, last))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


RANGE = {"from": "2026-09-01", "to": "2026-11-30"}


async def test_the_pdf_is_asked_for_the_signed_in_person_and_handed_on_as_a_download() -> None:
    digest = Digest(b"%PDF-1.7 ...")
    answer = await extract(digest, VIEWER, CHILD, RANGE, today=TODAY)
    assert answer == FamilyFile(
        b"%PDF-1.7 ...", "application/pdf", "extract-st-1-2026-09-01-2026-11-30.pdf"
    )
    assert digest.asked == [(SCHOOL, "st-1", "g-1", date(2026, 9, 1), date(2026, 11, 30))]


async def test_the_page_answers_each_of_the_digest_s_outcomes() -> None:
    offered = await extract(Digest(None), VIEWER, CHILD, {}, today=TODAY)
    assert offered == ExtractForm("2026-09-01", "2026-11-30")
    wrong = await extract(
        Digest(b"%PDF"), VIEWER, CHILD, {"from": "2026-11-30", "to": "2026-11-01"}, today=TODAY
    )
    assert isinstance(wrong, ExtractForm) and wrong.status == 422
    assert (wrong.first, wrong.last, wrong.error and wrong.error.field) == (
        "2026-11-30",
        "2026-11-01",
        "to",
    )
    nothing = await extract(Digest(None), VIEWER, CHILD, RANGE, today=TODAY)
    assert isinstance(nothing, ExtractForm) and (nothing.status, nothing.message) == (404, NO_DATA)
    away = await extract(Digest(DigestUnavailableError("x")), VIEWER, CHILD, RANGE, today=TODAY)
    assert isinstance(away, ExtractForm) and (away.status, away.message) == (503, UNAVAILABLE)
    unwired = await extract(None, VIEWER, CHILD, RANGE, today=TODAY)
    assert isinstance(unwired, ExtractForm) and unwired.status == 503
    elsewhere = Viewer((Identity("school-2", "g-1"),), (CHILD,))
    assert await extract(Digest(b"%PDF"), elsewhere, CHILD, RANGE, today=TODAY) is None


def test_the_file_name_is_plain_ascii() -> None:
    odd = Child(SCHOOL, 'st "1"/ü')
    assert filename(odd, date(2026, 9, 1), date(2026, 9, 2)) == (
        "extract-st_1_-2026-09-01-2026-09-02.pdf"
    )


def render(view: ExtractForm) -> str:
    """As the account renders it, in its own layout (nobody signed in: no menus)."""
    context = {"child": CHILD, "section": "extract", "sections": TITLES, "view": view}
    page = create_environment().get_template("family/extract.html")
    return page.render(title="Выписка", viewer=None, csrf_token="t", **context)


def test_the_form_has_two_labelled_dates_and_says_what_is_wrong_next_to_the_field() -> None:
    html = render(ExtractForm("2026-09-01", "2026-11-30"))
    assert 'href="/children/school-1/st-1/extract"' in html
    assert 'aria-current="page">Выписка</a>' in html
    assert '<label for="extract-from">С</label>' in html
    assert '<label for="extract-to">По</label>' in html
    assert 'type="date" value="2026-09-01"' in html and 'value="2026-11-30"' in html
    assert "Ученик: <strong>Иванов Иван</strong>" in html
    assert "Скачать выписку (PDF)" in html and "aria-invalid" not in html
    error = FormError("to", "Дата в поле «По» не может быть раньше даты в поле «С».")
    wrong = render(ExtractForm("2026-11-30", "<b>", error=error, status=422))
    assert 'aria-invalid="true" aria-describedby="extract-to-error"' in wrong
    assert 'id="extract-to-error" role="alert">Дата в поле «По»' in wrong
    assert "<b>" not in wrong and "&lt;b&gt;" in wrong
    assert NO_DATA in render(ExtractForm("2026-09-01", "2026-11-30", message=NO_DATA))
