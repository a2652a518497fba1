from pydantic import Field

from services.shared.config import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8004, validation_alias="VESTNIK_DIGEST_PORT")
    mongo_db: str = Field("vestnik_digest", validation_alias="VESTNIK_DIGEST_MONGO_DB")
    consumer_group: str = Field("vestnik-digest", validation_alias="VESTNIK_DIGEST_GROUP")
