"""`vestnik grades import FILE.csv`: for schools without an API integration.

Each CSV row is one journal item (a `kind` column chooses which; `mark` by default), sent
through the same HTTP API as any journal, in batches, so the import gets the same checks,
idempotency and events. Re-running an import is safe: known rows come back as duplicates.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

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


def read_items(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, item) per row; empty cells are left out, as if the column were absent."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        for row in reader:
            item = {key.strip(): value.strip() for key, value in row.items() if key and value}
            item.setdefault("kind", "mark")
            yield reader.line_num, item


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as file:
        return max(sum(1 for _ in csv.reader(file)) - 1, 0)


def import_csv(
    path: Path,
    *,
    client: httpx.Client,
    school_id: str,
    on_progress: Callable[[int], None] = lambda rows: None,
    batch_size: int = BATCH_LIMIT,
) -> ImportReport:
    report = ImportReport()
    rows = read_items(path)
    while batch := list(islice(rows, batch_size)):
        response = client.post(
            f"/v1/schools/{school_id}/journal", json={"items": [item for _, item in batch]}
        )
        if response.status_code != 200:
            raise ImportFailedError(batch[0][0], response)
        for result in response.json()["items"]:
            report.counts[result["status"]] += 1
            line = batch[result["index"]][0]
            for error in result["errors"]:
                report.errors.append((line, error["field"], error["reason"]))
        on_progress(len(batch))
    return report


class ImportFailedError(Exception):
    """The service refused a whole batch (authorization, unknown school): stop, say why."""

    def __init__(self, first_line: int, response: httpx.Response) -> None:
        super().__init__(
            f"the batch from line {first_line} was refused: "
            f"HTTP {response.status_code} {response.text[:500]}"
        )
