"""GTFS time and calendar rules: times past 24:00, calendar exceptions, clock changes, and the
choice between connections."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maas.domain.models import Point
from maas.gtfs.connections import best, connection_from_leg
from maas.gtfs.store import TripLeg
from maas.gtfs.timetable import (
    ServiceCalendar,
    active_services,
    at,
    day_windows,
    parse_date,
    parse_time,
    service_day_start,
    service_runs,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_ONLY = (True, True, True, True, True, False, False)


def test_times_past_midnight_count_on_from_the_service_day() -> None:
    assert parse_time("09:19:00") == 9 * 3600 + 19 * 60
    assert parse_time("7:05:09") == 7 * 3600 + 5 * 60 + 9
    assert parse_time("25:10:00") == 25 * 3600 + 10 * 60
    # Friday's 25:10 trip runs early on Saturday, local time.
    friday = date(2020, 9, 11)
    assert at(friday, parse_time("25:10:00"), BERLIN).astimezone(BERLIN) == datetime(
        2020, 9, 12, 1, 10, tzinfo=BERLIN
    )


@pytest.mark.parametrize("text", ["", "9:19", "09:60:00", "09:19:61", "ab:cd:ef", "-1:00:00"])
def test_what_is_not_a_gtfs_time(text: str) -> None:
    with pytest.raises(ValueError, match="not a GTFS time"):
        parse_time(text)


def test_dates() -> None:
    assert parse_date("20200907") == date(2020, 9, 7)
    for text in ("2020-09-07", "20201340", "2020090"):
        with pytest.raises(ValueError, match="not a GTFS date"):
            parse_date(text)


def test_times_count_from_noon_minus_twelve_hours_on_clock_change_days() -> None:
    # 29 March 2020: clocks jump from 02:00 CET to 03:00 CEST. Noon CEST is 10:00 UTC, so the
    # service day starts at 22:00 UTC (23:00 CET the evening before), and 08:00:00 is 08:00
    # local as the timetable means (a count from local midnight would give 09:00).
    spring = date(2020, 3, 29)
    assert service_day_start(spring, BERLIN) == datetime(2020, 3, 28, 22, tzinfo=UTC)
    assert at(spring, parse_time("08:00:00"), BERLIN).astimezone(BERLIN).hour == 8
    autumn = date(2020, 10, 25)  # 03:00 CEST back to 02:00 CET
    assert at(autumn, parse_time("08:00:00"), BERLIN).astimezone(BERLIN).hour == 8
    assert service_day_start(date(2020, 9, 7), BERLIN) == datetime(2020, 9, 6, 22, tzinfo=UTC)


def test_calendar_weekdays_within_the_date_range() -> None:
    cal = ServiceCalendar(WEEKDAYS_ONLY, date(2020, 4, 27), date(2020, 12, 12))
    assert service_runs(date(2020, 9, 7), cal, None)  # a Monday
    assert not service_runs(date(2020, 9, 5), cal, None)  # a Saturday
    assert not service_runs(date(2020, 4, 24), cal, None)  # a Friday before the range
    assert not service_runs(date(2020, 12, 14), cal, None)  # a Monday after it
    assert service_runs(date(2020, 12, 11), cal, None)  # end date inclusive


def test_exceptions_override_the_calendar() -> None:
    cal = ServiceCalendar(WEEKDAYS_ONLY, date(2020, 4, 27), date(2020, 12, 12))
    assert not service_runs(date(2020, 9, 2), cal, False)  # removed (exception_type 2)
    assert service_runs(date(2020, 9, 5), cal, True)  # a Saturday added (exception_type 1)
    assert service_runs(date(2021, 1, 4), None, True)  # a service with exceptions only
    assert not service_runs(date(2021, 1, 4), None, None)


def test_active_services_of_a_day() -> None:
    calendars = {
        "weekday": ServiceCalendar(WEEKDAYS_ONLY, date(2020, 1, 1), date(2020, 12, 31)),
        "weekend": ServiceCalendar(
            (False, False, False, False, False, True, True), date(2020, 1, 1), date(2020, 12, 31)
        ),
    }
    exceptions = {
        ("weekday", date(2020, 10, 3)): False,  # a Saturday anyway: no effect
        ("weekday", date(2020, 12, 24)): False,  # Christmas Eve (Thursday): no weekday buses
        ("weekend", date(2020, 12, 24)): True,  # … the Sunday timetable instead
        ("extra", date(2020, 12, 24)): True,  # and one service that only has this day
    }
    assert active_services(date(2020, 12, 23), calendars, exceptions) == {"weekday"}
    assert active_services(date(2020, 12, 24), calendars, exceptions) == {"weekend", "extra"}
    assert active_services(date(2020, 10, 3), calendars, exceptions) == {"weekend"}


def test_day_windows_reach_back_for_trips_after_midnight() -> None:
    earliest = datetime(2020, 9, 12, 0, 30, tzinfo=BERLIN)  # Saturday 00:30
    latest = earliest + timedelta(hours=24)
    windows = list(day_windows(earliest, latest, BERLIN, max_time_s=parse_time("25:30:00")))
    # Friday's timetable (its 24:30–25:30 trips), Saturday's, Sunday's (until 00:30).
    assert [w.day for w in windows] == [date(2020, 9, 11), date(2020, 9, 12), date(2020, 9, 13)]
    friday = windows[0]
    assert (friday.from_s, friday.until_s) == (parse_time("24:30:00"), parse_time("25:30:00"))
    assert (windows[1].from_s, windows[1].until_s) == (1800, parse_time("24:30:00"))
    assert (windows[2].from_s, windows[2].until_s) == (0, parse_time("00:30:00"))
    # Without trips past midnight Friday's timetable cannot reach Saturday 00:30.
    plain = list(day_windows(earliest, latest, BERLIN, max_time_s=parse_time("20:41:00")))
    assert [w.day for w in plain] == [date(2020, 9, 12), date(2020, 9, 13)]
    assert list(day_windows(latest, earliest, BERLIN, max_time_s=90_000)) == []


def _leg(departs: str, arrives: str, board_m: float, alight_m: float) -> TripLeg:
    day = datetime(2020, 9, 7, tzinfo=BERLIN)
    return TripLeg(
        trip_id=f"{departs}-{board_m}",
        route_short_name="781",
        route_long_name="Ring",
        headsign=None,
        board_stop_id="a",
        board_name="A",
        board_position=Point(8.86, 48.59),
        board_distance_m=board_m,
        departs_at=day + timedelta(seconds=parse_time(departs)),
        alight_stop_id="b",
        alight_name="B",
        alight_position=Point(8.87, 48.60),
        alight_distance_m=alight_m,
        arrives_at=day + timedelta(seconds=parse_time(arrives)),
    )


def test_the_earliest_arrival_on_foot_wins_then_the_latest_start_from_home() -> None:
    latest = datetime(2020, 9, 7, 9, 0, tzinfo=BERLIN)
    # Arrives 08:13 at the stop but walks 385 m (1.3 × 385 / 1.2 s ≈ 7 min): 08:20 on foot.
    far = connection_from_leg("f", _leg("08:09:00", "08:13:00", 10, 385), latest)
    near = connection_from_leg("f", _leg("08:11:00", "08:15:00", 10, 10), latest)
    assert best([far, near]) == near
    # Same arrival: leaving home later is better, even with a longer walk to a later stop.
    at_zob = connection_from_leg("f", _leg("08:09:00", "08:13:00", 5, 1), latest)
    bronntor = connection_from_leg("f", _leg("08:11:00", "08:13:00", 100, 1), latest)
    assert best([at_zob, bronntor]) == bronntor
    assert bronntor.board.walk_m == 130  # 100 m straight × 1.3 along streets
    assert bronntor.arrives_in_window
    late = connection_from_leg("f", _leg("08:55:00", "08:59:00", 10, 200), latest)
    assert not late.arrives_in_window  # 08:59 at the stop, 09:03 on foot
    assert best([]) is None
