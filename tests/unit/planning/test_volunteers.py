"""Fair-load limits for volunteers: quiet hours cut departure windows, weekly trip budgets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from maas.domain.volunteers import iso_week, outside_quiet_hours, trips_allowed

TZ = "Europe/Berlin"


def berlin(hour: int, minute: int = 0, day: int = 4) -> datetime:
    # 2026-05-04 is a Monday; Berlin is UTC+2 in May.
    return datetime(2026, 5, day, hour - 2, minute, tzinfo=UTC)


def test_no_quiet_hours_keep_the_window() -> None:
    assert outside_quiet_hours(berlin(7), berlin(8), TZ, None) == (berlin(7), berlin(8))


def test_a_window_inside_quiet_hours_is_left_out() -> None:
    quiet = (time(21, 0), time(6, 0))  # spans midnight
    assert outside_quiet_hours(berlin(22), berlin(23), TZ, quiet) is None
    assert outside_quiet_hours(berlin(5), berlin(5, 30), TZ, quiet) is None


def test_quiet_hours_cut_the_window() -> None:
    quiet = (time(21, 0), time(6, 0))
    assert outside_quiet_hours(berlin(20), berlin(22), TZ, quiet) == (berlin(20), berlin(20, 59))
    assert outside_quiet_hours(berlin(5), berlin(7), TZ, quiet) == (berlin(6), berlin(7))
    day = (time(12, 0), time(14, 0))
    assert outside_quiet_hours(berlin(8), berlin(11), TZ, day) == (berlin(8), berlin(11))


def test_weekly_budget() -> None:
    assert trips_allowed(0, 3) == 3
    assert trips_allowed(3, 3) == 0
    assert trips_allowed(5, 3) == 0
    assert iso_week(date(2026, 5, 4)) == iso_week(date(2026, 5, 10))  # Monday .. Sunday
    assert iso_week(date(2026, 5, 11)) != iso_week(date(2026, 5, 10))
