"""`vestnik grades import FILE.csv`: for schools without an API integration.

Each CSV row is one journal item (a `kind` column chooses which; `mark` by default, or the
kind given with `--kind`, such as `timetable_lesson` for a term's timetable or `lesson_held`
for the lessons held), sent through the same HTTP API as any journal, in batches, so the import
gets the same checks, idempotency and events. Re-running an import is safe: known rows come
back as duplicates.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from services.grades.items import BATCH_LIMIT


@dataclass
class ImportReport:
    counts: Counter[str] = field(default_factory=Counter)
    # (CSV line number, field, reason) for every rejected row.
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


# A line longer than this is not a journal row (the longest item is under 4 KB): the file is
# something else, and reading on would only fill the memory.
MAX_LINE_BYTES = 2**20


@dataclass(frozen=True)
class Row:
    line: int
    item: dict[str, Any]
    error: str | None = None  # why the row cannot become an item, if it cannot


# The columns of a term's timetable (`--kind timetable_lesson`); `group_id`, `week` and `room`
# may be left empty.
TIMETABLE_COLUMNS = (
    "lesson_id",
    "class_id",
    "group_id",
    "weekday",
    "lesson_number",
    "week",
    "subject_id",
    "teacher_id",
    "room",
    "valid_from",
    "valid_to",
)
# The columns of the lessons held (`--kind lesson_held`); `group_id`, `lesson_type` (a plain
# lesson) and `topic` may be left empty.
LESSON_HELD_COLUMNS = (
    "lesson_id",
    "class_id",
    "group_id",
    "lesson_date",
    "lesson_number",
    "subject_id",
    "teacher_id",
    "lesson_type",
    "topic",
)


def read_items(path: Path, kind: str = "mark") -> Iterator[Row]:
    """Row by row; empty cells are left out, as if the column were absent; a row without a
    `kind` is of `kind`. A file that is not UTF-8 or not a CSV stops the import at the line
    where it stops being one."""
    with path.open("rb") as file:
        reader = csv.DictReader(_decoded_lines(file))
        try:
            for row in reader:
                if None in row:  # DictReader's place for cells beyond the header
                    yield Row(reader.line_num, {}, "more cells than the header names")
                    continue
                item = {key.strip(): value.strip() for key, value in row.items() if key and value}
                item.setdefault("kind", kind)
                yield Row(reader.line_num, item)
        except csv.Error as error:
            raise ImportFailedError(f"line {reader.line_num + 1}: not a CSV row: {error}") from None


def _decoded_lines(file: BinaryIO) -> Iterator[str]:
    for number, raw in enumerate(iter(lambda: file.readline(MAX_LINE_BYTES + 1), b""), 1):
        if len(raw) > MAX_LINE_BYTES:
            raise ImportFailedError(f"line {number}: longer than {MAX_LINE_BYTES} bytes")
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ImportFailedError(
                f"line {number}: not UTF-8 text; save the file as «CSV UTF-8»"
            ) from None


def count_rows(path: Path) -> int:
    """For the progress only: lines, less the header (a cell may span lines)."""
    with path.open("rb") as file:
        return max(sum(1 for _ in file) - 1, 0)


def import_csv(
    path: Path,
    *,
    client: httpx.Client,
    school_id: str,
    on_progress: Callable[[int], None] = lambda rows: None,
    batch_size: int = BATCH_LIMIT,
    kind: str = "mark",
    announce: bool = True,
) -> ImportReport:
    """`kind`: of the rows without a `kind` cell; `announce` False: the rows are loaded with
    a schedule (a term's tests), not news."""
    report = ImportReport()
    rows = read_items(path, kind)
    while batch := list(islice(rows, batch_size)):
        for row in batch:
            if row.error is not None:
                report.counts["rejected"] += 1
                report.errors.append((row.line, "", row.error))
        to_send = [row for row in batch if row.error is None]
        if to_send:
            response = client.post(
                f"/v1/schools/{school_id}/journal",
                json={"items": [row.item for row in to_send], "announce": announce},
            )
            if response.status_code != 200:
                raise ImportFailedError(
                    f"the batch from line {to_send[0].line} was refused: "
                    f"HTTP {response.status_code} {response.text[:500]}"
                )
            for result in response.json()["items"]:
                report.counts[result["status"]] += 1
                line = to_send[result["index"]].line
                for error in result["errors"]:
                    report.errors.append((line, error["field"], error["reason"]))
        on_progress(len(batch))
    report.errors.sort()
    return report


class ImportFailedError(Exception):
    """The import stopped: the service refused a whole batch (authorization, unknown school),
    or the file is not a readable CSV from some line on."""
