"""Fair load for volunteer drivers: quiet hours and rides per week, as hard limits applied when
a matching problem is built (the solver never sees a trip it must not offer).

Pure: no I/O. The community parameters ``volunteer_quiet_from``/``volunteer_quiet_until``
(local times; the period may span midnight) and ``volunteer_max_rides_per_week`` (rides of
one driver per ISO week, Monday to Sunday in the offer's time zone) are enforced as follows:

* an occurrence's departure window loses the part inside quiet hours; an occurrence whose
  whole window is quiet is left out;
* a driver who already gives ``n`` rides in a week (matches accepted, confirmed or completed)
  is offered at most ``limit - n`` further trips that week, the earliest first.

Trips that already hold riders are never touched (a confirmed ride is never broken).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _quiet(at: time, quiet: tuple[time, time]) -> bool:
    start, end = quiet
    if start < end:
        return start <= at < end
    return at >= start or at < end  # spans midnight


def outside_quiet_hours(
    earliest: datetime, latest: datetime, time_zone: str, quiet: tuple[time, time] | None
) -> tuple[datetime, datetime] | None:
    """The departure window without its quiet part (the first stretch that is not quiet), or
    ``None`` if it is quiet throughout. Checked to the minute."""
    if quiet is None:
        return earliest, latest
    tz = ZoneInfo(time_zone)
    step = timedelta(minutes=1)
    t = earliest
    while t <= latest and _quiet(t.astimezone(tz).time(), quiet):
        t += step
    if t > latest:
        return None
    start = t
    while t <= latest and not _quiet(t.astimezone(tz).time(), quiet):
        t += step
    return start, min(latest, t - step) if t <= latest else latest


def iso_week(day: date) -> tuple[int, int]:
    year, week, _ = day.isocalendar()
    return year, week


def trips_allowed(given_this_week: int, limit: int) -> int:
    """How many more trips a driver may be offered in a week."""
    return max(0, limit - given_this_week)
