"""Clause 8's summary sheet as an Excel workbook (openpyxl): the sheet itself, missing finals
filled red, and a second sheet of statistics. For a school that keeps its records in Excel."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from services.digest.reports import ClassReport

MISSING = PatternFill("solid", start_color="F6C9C9", end_color="F6C9C9")
BOLD = Font(bold=True)


def summary_sheet_xlsx(school_name: str, report: ClassReport) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "Ведомость"
    period = report.period
    title = f"Сводная ведомость: {school_name}, класс {report.class_name}, {period.name}"
    sheet.append([title])
    sheet.append([])
    subjects = report.sheet.subjects
    sheet.append(["№", "Ученик", *(s.name for s in subjects)])
    for cell in sheet[3]:
        cell.font = BOLD
    for number, (student, cells) in enumerate(report.sheet.rows, start=1):
        sheet.append([number, student.name, *("нет" if c.missing else c.text for c in cells)])
        for column, cell in enumerate(cells, start=3):
            if cell.missing:
                sheet.cell(row=sheet.max_row, column=column).fill = MISSING
    sheet.freeze_panes = "C4"
    sheet.column_dimensions["B"].width = 28

    stats = book.create_sheet("Статистика")
    header = ["Предмет", "Учеников", "5", "4", "3", "2", "н/а"]
    figures_header = ["Успеваемость, %", "Качество, %", "Средний балл", "СОУ, %"]
    stats.append([*header, *figures_header, "Учителя"])
    for cell in stats[1]:
        cell.font = BOLD
    for subject in subjects:
        s = report.by_subject[subject.subject_id]
        counts = [s.counts.get(value, 0) for value in ("5", "4", "3", "2", "н/а")]
        figures = [s.success_rate, s.quality, s.average, s.learning_degree]
        teachers = ", ".join(subject.teachers) or None
        stats.append([subject.name, s.students, *counts, *figures, teachers])
    overall = report.overall
    stats.append(
        [
            "Класс в целом",
            overall.students,
            *([None] * 5),
            overall.success_rate,
            overall.quality,
            overall.average,
            overall.learning_degree,
        ]
    )
    stats.column_dimensions["A"].width = 28
    stats.column_dimensions["L"].width = 40
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
