"""GTFS time and calendar rules, pure (no I/O).

* A stop time is ``H:MM:SS`` counted from "noon minus 12 h" of the *service day* in the feed's
  time zone; hours may pass 24 (``25:10:00`` is 01:10 the next morning, still on the service
  day's timetable). Counting from noon minus 12 h instead of midnight keeps the times right on
  the two days a year the clocks change.
* A service runs on a day when ``calendar.txt`` says so for the weekday within its date range,
  unless ``calendar_dates.txt`` removes that day (exception_type 2); an exception_type 1 adds a
  day whatever ``calendar.txt`` says (or for a service that only has exceptions).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_TIME = re.compile(r"^(\d{1,3}):([0-5]\d):([0-5]\d)$")
_DATE = re.compile(r"^\d{8}$")
DAY_S = 86_400


def parse_time(text: str) -> int:
    """Seconds since the service day's start for a GTFS time; ``ValueError`` if it is none."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a GTFS time (H:MM:SS, hours may pass 24)")
    hours, minutes, seconds = (int(g) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_date(text: str) -> date:
    """A GTFS date (``YYYYMMDD``); ``ValueError`` if it is none."""
    text = text.strip()
    if not _DATE.match(text):
        raise ValueError(f"{text!r} is not a GTFS date (YYYYMMDD)")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError(f"{text!r} is not a GTFS date (YYYYMMDD)") from None


@dataclass(frozen=True, slots=True)
class ServiceCalendar:
    """One row of ``calendar.txt``: the weekdays (Monday first) between two dates inclusive."""

    weekdays: tuple[bool, bool, bool, bool, bool, bool, bool]
    start: date
    end: date

    def runs_on(self, day: date) -> bool:
        return self.start <= day <= self.end and self.weekdays[day.weekday()]


def service_runs(day: date, calendar: ServiceCalendar | None, exception: bool | None) -> bool:
    """Whether a service runs on ``day``: ``exception`` is the day's calendar_dates entry
    (True added, False removed, None none), which overrides ``calendar.txt``."""
    if exception is not None:
        return exception
    return calendar is not None and calendar.runs_on(day)


def active_services(
    day: date,
    calendars: Mapping[str, ServiceCalendar],
    exceptions: Mapping[tuple[str, date], bool],
) -> set[str]:
    """The service ids running on ``day`` (``exceptions`` keyed by (service_id, day))."""
    ids = set(calendars) | {sid for sid, d in exceptions if d == day}
    return {sid for sid in ids if service_runs(day, calendars.get(sid), exceptions.get((sid, day)))}


def service_day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant (UTC) that GTFS times of service day ``day`` count from: noon minus 12 h."""
    noon = datetime.combine(day, time(12), tzinfo=tz).astimezone(UTC)
    return noon - timedelta(hours=12)


def at(day: date, time_s: int, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of GTFS time ``time_s`` on service day ``day``."""
    return service_day_start(day, tz) + timedelta(seconds=time_s)


@dataclass(frozen=True, slots=True)
class DayWindow:
    """A service day that can have a departure in the searched interval, and that interval in
    the day's own GTFS seconds."""

    day: date
    start: datetime
    from_s: int
    until_s: int


def day_windows(
    earliest: datetime, latest: datetime, tz: ZoneInfo, *, max_time_s: int
) -> Iterator[DayWindow]:
    """The service days whose trips (times up to ``max_time_s``) can depart in
    ``[earliest, latest]``, each with that interval in its seconds. A trip at 25:30 belongs to
    the previous day's timetable, so days before ``earliest``'s local date are included as far
    back as the feed's latest time reaches."""
    if latest < earliest:
        return
    first = earliest.astimezone(tz).date() - timedelta(days=max_time_s // DAY_S + 1)
    last = latest.astimezone(tz).date()
    day = first
    while day <= last:
        start = service_day_start(day, tz)
        from_s = max(0, math.ceil((earliest - start).total_seconds()))
        until_s = min(max_time_s, math.floor((latest - start).total_seconds()))
        if from_s <= until_s:
            yield DayWindow(day, start, from_s, until_s)
        day += timedelta(days=1)
