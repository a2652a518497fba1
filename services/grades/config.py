from pydantic import Field

from services.shared.config import ServiceSettings


class Settings(ServiceSettings):
    port: int = Field(8001, validation_alias="VESTNIK_GRADES_PORT")
    mongo_db: str = Field("vestnik_grades", validation_alias="VESTNIK_GRADES_MONGO_DB")
    # The relay also runs on every accepted write; polling only catches what a crash left behind.
    outbox_poll_seconds: float = Field(5.0, validation_alias="VESTNIK_GRADES_OUTBOX_POLL_SECONDS")
    # Off for API-only replicas when the relay runs as a process of its own.
    relay_enabled: bool = Field(True, validation_alias="VESTNIK_GRADES_RELAY")
    # One relay of all the replicas publishes at a time: it holds the lease in slots of this
    # length, and another takes over at most 1.5 slots after it stops.
    relay_lease_seconds: float = Field(
        30.0, gt=0, validation_alias="VESTNIK_GRADES_RELAY_LEASE_SECONDS"
    )
