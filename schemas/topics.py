"""Topic names. A prefix keeps test runs and tenants apart on one broker."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import classwork, consent, curriculum, digest, journal, timetable
from schemas.envelope import Envelope
from schemas.notify import (
    DeadlineMissed,
    NotificationCancelled,
    NotificationFailed,
    NotificationRequested,
    NotificationSent,
)

ALL_EVENTS: tuple[type[Envelope], ...] = (  # type: ignore[type-arg]
    journal.MarkPosted,
    journal.MarkCorrected,
    journal.MarkRetracted,
    journal.AbsenceRecorded,
    journal.FinalMarkPosted,
    journal.FinalMarkDeferred,
    journal.ExamResultPosted,
    journal.SchoolChanged,
    journal.PeriodChanged,
    journal.ClassChanged,
    journal.StudentChanged,
    journal.TeacherChanged,
    timetable.GroupChanged,
    timetable.IndividualCurriculumChanged,
    timetable.BellScheduleChanged,
    timetable.TimetableLessonChanged,
    timetable.TimetableLessonRemoved,
    timetable.LessonChangePosted,
    timetable.LessonChangeCorrected,
    timetable.LessonChangeRetracted,
    timetable.SchoolCalendarChanged,
    curriculum.StudyPlanChanged,
    curriculum.LessonHeld,
    curriculum.LessonHeldRemoved,
    classwork.AssessmentPlanned,
    classwork.AssessmentRescheduled,
    classwork.AssessmentCancelled,
    classwork.HomeworkAssigned,
    classwork.HomeworkCorrected,
    classwork.HomeworkRetracted,
    classwork.RecommendationPosted,
    classwork.RecommendationCorrected,
    classwork.RecommendationRetracted,
    consent.ConsentGranted,
    consent.ConsentRefused,
    consent.ConsentRevoked,
    consent.ContactChanged,
    consent.PreferencesChanged,
    digest.WeeklyDigestCompiled,
    NotificationRequested,
    NotificationSent,
    NotificationFailed,
    NotificationCancelled,
    DeadlineMissed,
)

EVENTS_BY_TOPIC: dict[str, tuple[type[Envelope], ...]] = {}  # type: ignore[type-arg]
for _event in ALL_EVENTS:
    EVENTS_BY_TOPIC[_event.topic] = (*EVENTS_BY_TOPIC.get(_event.topic, ()), _event)

EVENTS_BY_TYPE: dict[str, type[Envelope]] = {  # type: ignore[type-arg]
    event.model_fields["type"].default: event for event in ALL_EVENTS
}

# What the journal sends beside marks (clause 4 of the regulation).
CLAUSE_4_TOPICS = (
    "journal.enrolment.v1",
    "journal.timetable.v1",
    "journal.lesson-changes.v1",
    "journal.calendar.v1",
    "journal.assessments.v1",
    "journal.homework.v1",
    "journal.recommendations.v1",
)

# What the journal sends for the school's reports (clause 7): never news.
CLAUSE_7_TOPICS = ("journal.curriculum.v1", "journal.lessons.v1")

DEAD_LETTER_SUFFIX = ".dlt"


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def of(self, event: type[Envelope]) -> str:  # type: ignore[type-arg]
        return self.prefix + event.topic

    def dead_letter(self, topic: str) -> str:
        return topic + DEAD_LETTER_SUFFIX
