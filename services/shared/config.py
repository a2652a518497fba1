"""Settings every service shares, read from `VESTNIK_*` environment variables."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_TOKEN = "vestnik-dev-token"


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
    # Until per-role JWTs arrive (issue 3), one bearer token guards every endpoint.
    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Self:
        if self.environment == "production" and self.api_token.get_secret_value() == DEV_API_TOKEN:
            raise ValueError("VESTNIK_API_TOKEN must be set to a real secret in production")
        return self
