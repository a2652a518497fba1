"""A school's time zone, looked up one way everywhere.

The journal names each school's zone (`SchoolChanged.timezone`), as an IANA name it typed
itself; a name this machine does not know must never stop the work of the school, let alone
of the others (`ZoneInfo` answers a bad name with any of three exception types, one of them an
`OSError` for a name like "Europe", which is a folder of zones).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_named(name: str) -> ZoneInfo:
    """The zone of IANA name `name`; ValueError naming it when there is none (for validators
    and settings, where a bad name should be refused)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"not a known time zone: {name[:100]!r}") from None


def school_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The school's zone, or `default` while the journal has not named one or when it named
    one this machine does not know."""
    if not name:
        return default
    try:
        return zone_named(name)
    except ValueError:
        return default
