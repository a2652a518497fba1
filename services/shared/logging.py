"""One log format for every service. Messages never carry contact data (e-mail, phone)."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # aiokafka is chatty about every rebalance at INFO.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
