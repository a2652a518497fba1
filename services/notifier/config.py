from pydantic import Field

from services.shared.config import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8003, validation_alias="VESTNIK_NOTIFIER_PORT")
    mongo_db: str = Field("vestnik_notifier", validation_alias="VESTNIK_NOTIFIER_MONGO_DB")
    consumer_group: str = Field("vestnik-notifier", validation_alias="VESTNIK_NOTIFIER_GROUP")
    smtp_host: str = Field("127.0.0.1", validation_alias="VESTNIK_SMTP_HOST")
    smtp_port: int = Field(1025, validation_alias="VESTNIK_SMTP_PORT")
    smtp_timeout_seconds: float = Field(30.0, validation_alias="VESTNIK_SMTP_TIMEOUT_SECONDS")
    mail_from: str = Field(
        "Электронный дневник <noreply@vestnik.local>", validation_alias="VESTNIK_MAIL_FROM"
    )
