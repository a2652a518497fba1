"""Events between the consent service and the notifier."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.classwork import (
    AssessmentCancelledPayload,
    AssessmentPlannedPayload,
    AssessmentRescheduledPayload,
    HomeworkAssignedPayload,
    HomeworkCorrectedPayload,
    HomeworkRetractedPayload,
    RecommendationCorrectedPayload,
    RecommendationPostedPayload,
    RecommendationRetractedPayload,
)
from schemas.digest import WeeklyDigestPayload
from schemas.envelope import Envelope, StudentPayload
from schemas.journal import (
    AbsenceRecordedPayload,
    ExamResultPostedPayload,
    FinalMarkDeferredPayload,
    FinalMarkPostedPayload,
    MarkCorrectedPayload,
    MarkPostedPayload,
    MarkRetractedPayload,
)
from schemas.timetable import (
    LessonChangeCorrectedPayload,
    LessonChangePostedPayload,
    LessonChangeRetractedPayload,
)

Channel = Literal["email", "sms", "inbox"]
# What a parent can switch on or off, per channel (clause 4's list, and the weekly digest).
# `lesson_changes`: substitutions, moves, cancellations and extra lessons; `schedule`: the
# schedule of tests (a new, moved or cancelled test).
Category = Literal[
    "marks",
    "attendance",
    "final_results",
    "lesson_changes",
    "schedule",
    "homework",
    "recommendations",
    "weekly_digest",
    "forecast",
    # The personal account's sign-in codes: cannot be switched off (the account publishes
    # them itself, past the preferences).
    "account",
]


class SignInCodePayload(StudentPayload):
    """A one-time code to sign in to the personal account, sent to the contact it was asked
    for (issue 14). `student_id`: the recipient's first child (what keys the request)."""

    kind: Literal["sign_in_code"] = "sign_in_code"
    school_id: str = Field(min_length=1)
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["123456"])
    expires_at: AwareDatetime


# The facts a notification can tell, told apart by their `kind`.
NotifiableFacts = Annotated[
    MarkPostedPayload
    | MarkCorrectedPayload
    | MarkRetractedPayload
    | AbsenceRecordedPayload
    | FinalMarkPostedPayload
    | FinalMarkDeferredPayload
    | ExamResultPostedPayload
    | LessonChangePostedPayload
    | LessonChangeCorrectedPayload
    | LessonChangeRetractedPayload
    | AssessmentPlannedPayload
    | AssessmentRescheduledPayload
    | AssessmentCancelledPayload
    | HomeworkAssignedPayload
    | HomeworkCorrectedPayload
    | HomeworkRetractedPayload
    | RecommendationPostedPayload
    | RecommendationCorrectedPayload
    | RecommendationRetractedPayload
    | WeeklyDigestPayload
    | SignInCodePayload,
    Field(discriminator="kind"),
]


class QuietHours(BaseModel):
    """SMS is not sent between `start` and `end` in the school's time zone (unless it cannot
    wait: a final result whose deadline would be missed). A request without quiet hours (a
    change to the next morning's lessons) is sent at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: time = time(21, 0)
    end: time = time(8, 0)


class NotificationRequestedPayload(StudentPayload):
    dedupe_key: str = Field(
        min_length=1, description="Stable per (source event, recipient, channel): one send at most."
    )
    source_event_id: uuid.UUID
    recipient_id: str = Field(min_length=1)
    recipient_name: str = Field(min_length=1)
    channel: Channel
    address: str | None = Field(
        min_length=1,
        description="E-mail or phone; none for the personal-account inbox. Never logged.",
    )
    contact_as_of: AwareDatetime | None = Field(
        default=None,
        description="When `address` was handed over (its `ContactChanged.effective_at`): a "
        "request whose address a later change replaced is not sent, however late consent made "
        "it. Absent from requests made before it existed.",
    )
    category: Category
    priority: Literal["normal", "urgent"] = "normal"
    deadline: AwareDatetime | None = Field(
        default=None, description="Final marks and exams: obtained + 24 h (clause 9)."
    )
    content: NotifiableFacts = Field(description="The fact to tell the recipient about.")
    student_ids: tuple[str, ...] = Field(
        (),
        description="A class's fact (a lesson change, a test, homework): every child of this "
        "recipient it concerns, `student_id` first. Siblings share one notice.",
    )
    student_names: tuple[str, ...] = Field(
        (),
        description="A class's fact: the names of `student_ids` the sender knows, in their "
        "order, so one notice can name every child it is about.",
    )
    quiet_hours: QuietHours | None = Field(default=None, description="For SMS only.")


class NotificationRequested(Envelope[NotificationRequestedPayload]):
    topic: ClassVar[str] = "notify.requests.v1"
    type: Literal["NotificationRequested"] = "NotificationRequested"
    version: Literal[1] = 1


class NotificationSentPayload(StudentPayload):
    dedupe_key: str = Field(min_length=1)
    recipient_id: str = Field(min_length=1)
    channel: Channel
    message_id: str = Field(min_length=1, description="Stable id the provider saw (Message-ID).")
    sent_at: AwareDatetime


class NotificationSent(Envelope[NotificationSentPayload]):
    topic: ClassVar[str] = "notify.status.v1"
    type: Literal["NotificationSent"] = "NotificationSent"
    version: Literal[1] = 1


class NotificationEndedPayload(StudentPayload):
    """A delivery that ended without being sent, and why."""

    dedupe_key: str = Field(min_length=1)
    recipient_id: str = Field(min_length=1)
    channel: Channel
    reason: str = Field(min_length=1)
    attempts: int = Field(ge=0)
    ended_at: AwareDatetime


class NotificationFailed(Envelope[NotificationEndedPayload]):
    topic: ClassVar[str] = "notify.status.v1"
    type: Literal["NotificationFailed"] = "NotificationFailed"
    version: Literal[1] = 1


class NotificationCancelled(Envelope[NotificationEndedPayload]):
    topic: ClassVar[str] = "notify.status.v1"
    type: Literal["NotificationCancelled"] = "NotificationCancelled"
    version: Literal[1] = 1


class DeadlineMissedPayload(StudentPayload):
    """Clause 9's 24 hours passed and the recipient was told on no channel: staff must inform
    them by other means."""

    source_event_id: uuid.UUID
    recipient_id: str = Field(min_length=1)
    recipient_name: str = Field(min_length=1)
    school_id: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    deadline: AwareDatetime
    channels_tried: tuple[Channel, ...]


class DeadlineMissed(Envelope[DeadlineMissedPayload]):
    topic: ClassVar[str] = "notify.status.v1"
    type: Literal["DeadlineMissed"] = "DeadlineMissed"
    version: Literal[1] = 1
