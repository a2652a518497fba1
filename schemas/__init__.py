"""Event contracts: the only thing Vestnik's services share.

Every Kafka message is an `Envelope` subclass: a frozen pydantic model with a typed payload.
The JSON Schema of each is exported to `schemas/json/` (`vestnik schemas export`).
"""

from schemas.envelope import Envelope
from schemas.journal import (
    AbsenceRecorded,
    ClassChanged,
    ExamResultPosted,
    FinalMarkDeferred,
    FinalMarkEvent,
    FinalMarkPosted,
    FinalValue,
    MarkCorrected,
    MarkEvent,
    MarkPosted,
    MarkPostedPayload,
    MarkRetracted,
    MarkValue,
    PeriodChanged,
    ReferenceEvent,
    SchoolChanged,
    StudentChanged,
    TeacherChanged,
)
from schemas.notify import (
    Channel,
    NotificationRequested,
    NotificationRequestedPayload,
    NotificationSent,
    NotificationSentPayload,
)
from schemas.topics import EVENTS_BY_TOPIC, Topics

__all__ = [
    "EVENTS_BY_TOPIC",
    "AbsenceRecorded",
    "Channel",
    "ClassChanged",
    "Envelope",
    "ExamResultPosted",
    "FinalMarkDeferred",
    "FinalMarkEvent",
    "FinalMarkPosted",
    "FinalValue",
    "MarkCorrected",
    "MarkEvent",
    "MarkPosted",
    "MarkPostedPayload",
    "MarkRetracted",
    "MarkValue",
    "NotificationRequested",
    "NotificationRequestedPayload",
    "NotificationSent",
    "NotificationSentPayload",
    "PeriodChanged",
    "ReferenceEvent",
    "SchoolChanged",
    "StudentChanged",
    "TeacherChanged",
    "Topics",
]
