from pydantic import Field

from services.shared.contacts import ContactDigestSettings


class Settings(ContactDigestSettings):
    port: int = Field(8002, validation_alias="VESTNIK_CONSENT_PORT")
    mongo_db: str = Field("vestnik_consent", validation_alias="VESTNIK_CONSENT_MONGO_DB")
    consumer_group: str = Field("vestnik-consent", validation_alias="VESTNIK_CONSENT_GROUP")
    # The relay also runs on every accepted write; polling only catches what a crash left behind.
    outbox_poll_seconds: float = Field(5.0, validation_alias="VESTNIK_CONSENT_OUTBOX_POLL_SECONDS")
    # One relay of all the replicas publishes at a time: it holds the lease in slots of this.
    relay_lease_seconds: float = Field(
        30.0, gt=0, validation_alias="VESTNIK_CONSENT_RELAY_LEASE_SECONDS"
    )
    # 152-FZ art. 21: how long the decision log is kept, and how long after a consent is
    # withdrawn its contact data is; how often the purge runs.
    decisions_retention_days: float = Field(
        365, ge=0, validation_alias="VESTNIK_CONSENT_DECISIONS_RETENTION_DAYS"
    )
    contacts_after_withdrawal_days: float = Field(
        30, ge=0, validation_alias="VESTNIK_CONSENT_CONTACTS_AFTER_WITHDRAWAL_DAYS"
    )
    retention_every_seconds: float = Field(
        86_400, gt=0, validation_alias="VESTNIK_CONSENT_RETENTION_EVERY_SECONDS"
    )
    # Today and tomorrow (a lesson change's e-mail and SMS) for a school whose zone the journal
    # has not named yet.
    school_timezone: str = Field("Europe/Moscow", validation_alias="VESTNIK_SCHOOL_TIMEZONE")
