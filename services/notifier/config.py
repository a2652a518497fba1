from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from schemas.notify import Channel
from services.shared.unsubscribe import UnsubscribeSettings


class Settings(UnsubscribeSettings):
    port: int = Field(8003, validation_alias="VESTNIK_NOTIFIER_PORT")
    mongo_db: str = Field("vestnik_notifier", validation_alias="VESTNIK_NOTIFIER_MONGO_DB")
    consumer_group: str = Field("vestnik-notifier", validation_alias="VESTNIK_NOTIFIER_GROUP")
    smtp_host: str = Field("127.0.0.1", validation_alias="VESTNIK_SMTP_HOST")
    smtp_port: int = Field(1025, validation_alias="VESTNIK_SMTP_PORT")
    smtp_timeout_seconds: float = Field(30.0, validation_alias="VESTNIK_SMTP_TIMEOUT_SECONDS")
    # "starttls" upgrades a plain connection (port 587), "tls" is implicit TLS (port 465).
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", validation_alias="VESTNIK_SMTP_SECURITY"
    )
    smtp_username: str | None = Field(None, validation_alias="VESTNIK_SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="VESTNIK_SMTP_PASSWORD")
    # At most this many SMTP conversations at once, so a burst does not flood the relay.
    smtp_concurrency: int = Field(4, ge=1, validation_alias="VESTNIK_SMTP_CONCURRENCY")
    mail_from: str = Field(
        "Электронный дневник <noreply@vestnik.local>", validation_alias="VESTNIK_MAIL_FROM"
    )
    sms_url: str = Field("http://127.0.0.1:1026", validation_alias="VESTNIK_SMS_URL")
    sms_api_id: SecretStr = Field(SecretStr("local"), validation_alias="VESTNIK_SMS_API_ID")
    sms_per_second: float = Field(10.0, validation_alias="VESTNIK_SMS_PER_SECOND")
    retry_first_delay_seconds: float = Field(
        30.0, validation_alias="VESTNIK_NOTIFIER_RETRY_FIRST_DELAY_SECONDS"
    )
    retry_max_attempts: int = Field(8, validation_alias="VESTNIK_NOTIFIER_RETRY_MAX_ATTEMPTS")
    # Clause 9's fallback for final results: "sequential" tries the channels in this order,
    # each waiting for the one before to fail (or to be late by the wait); "parallel" uses
    # every consented channel at once.
    fallback: Literal["sequential", "parallel"] = Field(
        "sequential", validation_alias="VESTNIK_NOTIFIER_FALLBACK"
    )
    fallback_order: Annotated[tuple[Channel, ...], NoDecode] = Field(
        ("email", "sms"), validation_alias="VESTNIK_NOTIFIER_FALLBACK_ORDER"
    )
    fallback_wait_minutes: float = Field(
        120.0, gt=0, validation_alias="VESTNIK_NOTIFIER_FALLBACK_WAIT_MINUTES"
    )
    school_timezone: str = Field("Europe/Moscow", validation_alias="VESTNIK_SCHOOL_TIMEZONE")
    # How often the scheduler looks for retries that are due (new requests go out at once).
    scheduler_poll_seconds: float = Field(2.0, validation_alias="VESTNIK_NOTIFIER_POLL_SECONDS")
    # Consent, asked once more right before each e-mail and SMS is handed over: a revocation or
    # a new contact it accepted a second ago stops the message. Empty: only the notifier's own
    # view of consent decides (tests of the notifier alone); production refuses that.
    consent_url: str | None = Field("http://127.0.0.1:8002", validation_alias="VESTNIK_CONSENT_URL")
    # After a start, nothing is sent until the view of consent has taken in what
    # `consent.changes.v1` held, or this long has passed (Kafka away).
    consent_catch_up_seconds: float = Field(
        60.0, ge=0, validation_alias="VESTNIK_NOTIFIER_CONSENT_CATCH_UP_SECONDS"
    )
    # How often the outbox relay looks for status events left unpublished (it also wakes on
    # every write), and tries Kafka again while it is away.
    outbox_poll_seconds: float = Field(
        5.0, gt=0, validation_alias="VESTNIK_NOTIFIER_OUTBOX_POLL_SECONDS"
    )

    # Retention (152-FZ art. 21): days a finished delivery, an inbox message and a deadline
    # miss are kept; the purge runs every `retention_every_seconds`.
    keep_deliveries_days: float = Field(
        365.0, gt=0, validation_alias="VESTNIK_NOTIFIER_KEEP_DELIVERIES_DAYS"
    )
    keep_inbox_days: float = Field(365.0, gt=0, validation_alias="VESTNIK_NOTIFIER_KEEP_INBOX_DAYS")
    keep_misses_days: float = Field(
        365.0, gt=0, validation_alias="VESTNIK_NOTIFIER_KEEP_MISSES_DAYS"
    )
    retention_every_seconds: float = Field(
        86_400, gt=0, validation_alias="VESTNIK_NOTIFIER_RETENTION_EVERY_SECONDS"
    )

    @field_validator("consent_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None

    @model_validator(mode="after")
    def _consent_checked_in_production(self) -> Self:
        if self.environment == "production" and self.consent_url is None:
            raise ValueError("VESTNIK_CONSENT_URL must name the consent service")
        return self

    @field_validator("fallback_order", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`VESTNIK_NOTIFIER_FALLBACK_ORDER=email,sms`, as ops would write it."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
