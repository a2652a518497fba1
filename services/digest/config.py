from datetime import time
from typing import Literal

from pydantic import Field

from services.shared.config import ServiceSettings

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class Settings(ServiceSettings):
    port: int = Field(8004, validation_alias="VESTNIK_DIGEST_PORT")
    mongo_db: str = Field("vestnik_digest", validation_alias="VESTNIK_DIGEST_MONGO_DB")
    consumer_group: str = Field("vestnik-digest", validation_alias="VESTNIK_DIGEST_GROUP")
    # The weekly run, in each school's own time zone.
    weekly_day: Weekday = Field("friday", validation_alias="VESTNIK_DIGEST_WEEKLY_DAY")
    weekly_time: time = Field(time(16, 0), validation_alias="VESTNIK_DIGEST_WEEKLY_TIME")
    school_timezone: str = Field("Europe/Moscow", validation_alias="VESTNIK_SCHOOL_TIMEZONE")
    # How often the scheduler looks for a due (or missed) run; false turns it off in a replica.
    poll_seconds: float = Field(60.0, gt=0, validation_alias="VESTNIK_DIGEST_POLL_SECONDS")
    scheduler: bool = Field(True, validation_alias="VESTNIK_DIGEST_SCHEDULER")
    # 152-FZ art. 21: how long what the digest wrote about students is kept, in days (printouts
    # after their hand-over day), and how often the purge runs.
    printouts_retention_days: float = Field(
        120, gt=0, validation_alias="VESTNIK_DIGEST_PRINTOUTS_RETENTION_DAYS"
    )
    published_retention_days: float = Field(
        35, gt=0, validation_alias="VESTNIK_DIGEST_PUBLISHED_RETENTION_DAYS"
    )
    runs_retention_days: float = Field(
        400, gt=0, validation_alias="VESTNIK_DIGEST_RUNS_RETENTION_DAYS"
    )
    retention_every_seconds: float = Field(
        86_400, gt=0, validation_alias="VESTNIK_DIGEST_RETENTION_EVERY_SECONDS"
    )
    # Issue 15: final marks still missing this many days after their period ended are
    # counted (`vestnik_final_marks_missing`), for periods ended up to 60 days ago, this often.
    finals_grace_days: int = Field(3, ge=0, validation_alias="VESTNIK_DIGEST_FINALS_GRACE_DAYS")
    finals_check_seconds: float = Field(
        21_600, gt=0, validation_alias="VESTNIK_DIGEST_FINALS_CHECK_SECONDS"
    )
