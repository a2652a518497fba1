"""One time-zone lookup for every school: a name the journal typed wrong never stops work."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from services.shared.timezones import school_zone, zone_named

MOSCOW = ZoneInfo("Europe/Moscow")


def test_a_school_s_zone_falls_back_to_the_default_for_any_name_that_is_not_a_zone() -> None:
    assert school_zone("Asia/Yekaterinburg", MOSCOW) == ZoneInfo("Asia/Yekaterinburg")
    # "Europe" is a folder of zones: ZoneInfo raises an OSError for it, not a lookup error.
    for name in (None, "", "Europe", "Mars/Base", "../etc/passwd", "a" * 300, "UTC\x00"):
        assert school_zone(name, MOSCOW) == MOSCOW


def test_a_setting_that_is_not_a_zone_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="Europe"):
        zone_named("Europe")


def test_a_school_named_after_a_folder_of_zones_is_a_422_in_grades() -> None:
    """Before: PUT of a school with "timezone": "Europe" raised IsADirectoryError (a 500)."""
    import pydantic
    import pytest

    from services.grades.items import SchoolIn

    with pytest.raises(pydantic.ValidationError, match="IANA time zone"):
        SchoolIn.model_validate({"name": "Школа", "timezone": "Europe"})
