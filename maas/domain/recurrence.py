"""Weekly recurring trips: expand a local-time rule into concrete UTC departure windows.

A driver says "Mondays and Thursdays, leaving between 07:30 and 07:45"; that is a wall-clock
time in the community's zone (Europe/Berlin), so the UTC instant moves by an hour across
daylight-saving changes. Expansion therefore builds each occurrence from its local date and
time with :mod:`zoneinfo` and only then converts to UTC.

A local time that does not exist (the hour skipped in spring) is read with ``fold=0``, which
moves it forward by the gap (02:30 becomes 03:30 CEST); an ambiguous time in autumn takes its
first (summer-time) instant. Both are what a driver's clock shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_HORIZON_DAYS = 366
"""Never expand more than a year at once: a rule without an end date is unbounded."""


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """Departures on ISO ``weekdays`` (1 = Monday … 7 = Sunday) between two local times."""

    weekdays: tuple[int, ...]
    local_depart_earliest: time
    local_depart_latest: time
    valid_from: date
    valid_until: date | None = None
    exception_dates: tuple[date, ...] = ()
    time_zone: str = "Europe/Berlin"

    def __post_init__(self) -> None:
        if not self.weekdays or any(not 1 <= d <= 7 for d in self.weekdays):
            raise ValueError("weekdays are ISO numbers 1 (Monday) to 7 (Sunday)")
        if self.local_depart_latest < self.local_depart_earliest:
            raise ValueError("the window ends before it starts")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One concrete trip of a rule: its local date and its departure window in UTC."""

    local_date: date
    depart_earliest: datetime
    depart_latest: datetime


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date (see the module notes on DST)."""
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone)
    # A round trip through UTC normalises a skipped time to the instant the clock shows.
    return local.astimezone(UTC)


def expand(rule: WeeklyRule, start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence whose window overlaps ``[start, end)``, in order.

    ``start`` and ``end`` are aware datetimes; at most :data:`MAX_HORIZON_DAYS` are expanded.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    zone = ZoneInfo(rule.time_zone)
    end = min(end, start + timedelta(days=MAX_HORIZON_DAYS))
    # One day of slack each side: a local date and its UTC instants can differ by a day.
    first = max(rule.valid_from, start.astimezone(zone).date() - timedelta(days=1))
    last = end.astimezone(zone).date() + timedelta(days=1)
    if rule.valid_until is not None:
        last = min(last, rule.valid_until)
    skip = set(rule.exception_dates)
    days = set(rule.weekdays)
    out: list[Occurrence] = []
    day = first
    while day <= last:
        if day.isoweekday() in days and day not in skip:
            earliest = local_to_utc(day, rule.local_depart_earliest, zone)
            latest = local_to_utc(day, rule.local_depart_latest, zone)
            if latest >= start and earliest < end:
                out.append(Occurrence(day, earliest, latest))
        day += timedelta(days=1)
    return out
