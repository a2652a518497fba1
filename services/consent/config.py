from pydantic import Field

from services.shared.config import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8002, validation_alias="VESTNIK_CONSENT_PORT")
    mongo_db: str = Field("vestnik_consent", validation_alias="VESTNIK_CONSENT_MONGO_DB")
    consumer_group: str = Field("vestnik-consent", validation_alias="VESTNIK_CONSENT_GROUP")
    # The relay also runs on every accepted write; polling only catches what a crash left behind.
    outbox_poll_seconds: float = Field(5.0, validation_alias="VESTNIK_CONSENT_OUTBOX_POLL_SECONDS")
