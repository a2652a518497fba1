from typing import Self

from pydantic import Field, SecretStr, model_validator

from services.shared.contacts import ContactDigestSettings
from services.shared.unsubscribe import UnsubscribeSettings

# Local stacks only: production refuses to start with it.
DEV_ACCOUNT_SECRET = "vestnik-local-account-secret-not-for-production"


class Settings(ContactDigestSettings, UnsubscribeSettings):
    port: int = Field(8005, validation_alias="VESTNIK_ACCOUNT_PORT")
    mongo_db: str = Field("vestnik_account", validation_alias="VESTNIK_ACCOUNT_MONGO_DB")
    consumer_group: str = Field("vestnik-account", validation_alias="VESTNIK_ACCOUNT_GROUP")
    # Keys the stored hashes of codes and session ids, and signs the CSRF cookie.
    secret_key: SecretStr = Field(
        SecretStr(DEV_ACCOUNT_SECRET), validation_alias="VESTNIK_ACCOUNT_SECRET_KEY"
    )
    # The session cookie is Secure (HTTPS only) unless this is off: a local http stack only.
    secure_cookies: bool = Field(True, validation_alias="VESTNIK_ACCOUNT_SECURE_COOKIES")
    session_idle_minutes: float = Field(
        60 * 24, gt=0, validation_alias="VESTNIK_ACCOUNT_SESSION_IDLE_MINUTES"
    )
    session_absolute_days: float = Field(
        30, gt=0, validation_alias="VESTNIK_ACCOUNT_SESSION_ABSOLUTE_DAYS"
    )
    # The consent registry: the settings pages read and change a person's choices there.
    consent_url: str = Field("http://127.0.0.1:8002", validation_alias="VESTNIK_CONSENT_URL")
    # The digest: a child's PDF extract for any range is its to render.
    digest_url: str = Field("http://127.0.0.1:8004", validation_alias="VESTNIK_DIGEST_URL")
    # Behind a proxy the client's address is the first of X-Forwarded-For (rate limits).
    trust_forwarded_for: bool = Field(False, validation_alias="VESTNIK_ACCOUNT_TRUST_FORWARDED_FOR")
    outbox_poll_seconds: float = Field(5.0, validation_alias="VESTNIK_ACCOUNT_OUTBOX_POLL_SECONDS")
    relay_lease_seconds: float = Field(
        30.0, gt=0, validation_alias="VESTNIK_ACCOUNT_RELAY_LEASE_SECONDS"
    )
    # How often expired codes, sessions and rate-limit marks are deleted.
    purge_every_seconds: float = Field(
        600, gt=0, validation_alias="VESTNIK_ACCOUNT_PURGE_EVERY_SECONDS"
    )

    @model_validator(mode="after")
    def _refuse_dev_account_secret_in_production(self) -> Self:
        secret = self.secret_key.get_secret_value()
        if self.environment == "production" and (secret == DEV_ACCOUNT_SECRET or len(secret) < 32):
            raise ValueError("VESTNIK_ACCOUNT_SECRET_KEY must be a real secret of 32+ characters")
        if self.environment == "production" and not self.secure_cookies:
            raise ValueError("VESTNIK_ACCOUNT_SECURE_COOKIES may be off on a local stack only")
        return self
