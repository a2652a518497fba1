"""Clause 7's events: the curriculum and the lessons held, with the names the school's reports
print (class and level, group, subject, teacher) looked up in the reference book."""

from __future__ import annotations

from typing import Any

from schemas.curriculum import (
    LessonHeld,
    LessonHeldPayload,
    LessonHeldRemoved,
    LessonHeldRemovedPayload,
    PlannedPeriod,
    PlannedSubject,
    StudyPlanChanged,
    StudyPlanChangedPayload,
)
from schemas.envelope import Envelope
from services.grades.curriculum_items import LessonHeldItem, StudyPlanIn
from services.grades.facts import Context, RejectedError
from services.grades.week_facts import class_facts, subject_name, teacher_name


def study_plan_event(
    plan_id: str, plan: StudyPlanIn, context: Context, *, record_version: int
) -> Envelope[Any]:
    book = context.book
    for index, class_id in enumerate(plan.class_ids):
        school_class = book.classes.get(class_id)
        if school_class is None:
            raise RejectedError(f"class_ids.{index}", "no such class in this school")
        if school_class.education_level != plan.education_level:
            raise RejectedError(
                f"class_ids.{index}", f"a class of another level ({school_class.education_level})"
            )
    subjects = []
    for index, subject in enumerate(plan.subjects):
        field = f"subjects.{index}"
        for number, planned in enumerate(subject.periods):
            period = book.periods.get(planned.period_id)
            if period is None:
                raise RejectedError(
                    f"{field}.periods.{number}.period_id",
                    "no such attestation period in this school",
                )
            if period.school_year != plan.school_year:
                raise RejectedError(
                    f"{field}.periods.{number}.period_id",
                    f"a period of another school year ({period.school_year})",
                )
        subjects.append(
            PlannedSubject(
                subject_id=subject.subject_id,
                subject_name=subject_name(subject.subject_id, context, f"{field}.subject_id"),
                grading=subject.grading,
                periods=tuple(PlannedPeriod(**period.model_dump()) for period in subject.periods),
            )
        )
    payload = StudyPlanChangedPayload(
        school_id=context.school_id,
        plan_id=plan_id,
        name=plan.name,
        school_year=plan.school_year,
        education_level=plan.education_level,
        class_ids=plan.class_ids,
        subjects=tuple(subjects),
        record_version=record_version,
    )
    return context.new(StudyPlanChanged, payload)


def lesson_held_facts(item: LessonHeldItem, context: Context, version: int) -> dict[str, Any]:
    return {
        **class_facts(item.class_id, item.group_id, context, record_version=version),
        "lesson_id": item.lesson_id,
        "lesson_date": item.lesson_date,
        "lesson_number": item.lesson_number,
        "subject_id": item.subject_id,
        "subject_name": subject_name(item.subject_id, context),
        "teacher_id": item.teacher_id,
        "teacher_name": teacher_name(item.teacher_id, context),
        "lesson_type": item.lesson_type,
        "topic": item.topic,
    }


def lesson_held(item: LessonHeldItem, context: Context, *, record_version: int) -> Envelope[Any]:
    """A lesson held, new or corrected: the same fact either way (never news)."""
    facts = lesson_held_facts(item, context, record_version)
    return context.new(LessonHeld, LessonHeldPayload(**facts))


def lesson_held_removed(
    stored: LessonHeldItem, context: Context, *, record_version: int
) -> Envelope[Any]:
    """The lesson as it was when the journal took it back."""
    facts = lesson_held_facts(stored, context, record_version)
    return context.new(LessonHeldRemoved, LessonHeldRemovedPayload(**facts))
