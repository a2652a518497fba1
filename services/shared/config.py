"""Settings every service shares, read from `VESTNIK_*` environment variables."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Signs the JWTs of a local stack; production refuses to start with it.
DEV_JWT_SECRET = "vestnik-local-development-secret-not-for-production"


class ServiceSettings(BaseSettings):
    """Base for each service's `Settings`; a service adds its port, database and own knobs."""

    # Service-specific fields name their variable with a validation alias (VESTNIK_GRADES_PORT).
    model_config = SettingsConfigDict(env_prefix="VESTNIK_", extra="ignore", validate_by_name=True)

    environment: Literal["local", "production"] = "local"
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: str = "mongodb://127.0.0.1:27017"
    topic_prefix: str = ""
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Self:
        secret = self.jwt_secret.get_secret_value()
        if self.environment == "production" and (secret == DEV_JWT_SECRET or len(secret) < 32):
            raise ValueError("VESTNIK_JWT_SECRET must be a real secret of 32+ characters")
        return self
