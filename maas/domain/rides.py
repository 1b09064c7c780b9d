"""Ride offers and requests as they are created or changed, and the rules they must obey.

The JSON Schemas check shapes and ranges; the rules here need more than one field or the
clock: windows that end before they start, times in the past, a recurrence that never occurs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from maas.domain.models import Endpoint
from maas.domain.recurrence import WeeklyRule
from maas.errors import InputError

MAX_ADVANCE = timedelta(days=366)
"""How far ahead a one-off ride can be posted."""

PAST_TOLERANCE = timedelta(minutes=5)
"""Clock skew between a phone and the server is not "in the past"."""

MAX_WINDOW = timedelta(hours=24)
"""A departure window (or a rider's whole window) longer than a day is a mistake, not a trip."""


@dataclass(frozen=True, slots=True)
class OfferDraft:
    """Everything an offer stores, validated; ``weekly`` is None for a one-off trip."""

    origin: Endpoint
    destination: Endpoint
    depart_earliest: datetime | None
    depart_latest: datetime | None
    weekly: WeeklyRule | None
    seats: int
    max_detour_min: int
    max_detour_pct: int
    wheelchair: bool
    child_seat: bool
    luggage: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class RequestDraft:
    origin: Endpoint
    destination: Endpoint
    depart_earliest: datetime
    arrive_latest: datetime
    passengers: int
    needs_wheelchair: bool
    needs_child_seat: bool
    needs_help_getting_in: bool
    max_walk_m: int
    note: str | None


def check_window(
    earliest: datetime,
    latest: datetime,
    *,
    now: datetime,
    earliest_field: str,
    latest_field: str,
    strict: bool,
) -> None:
    """A window in the future (within a year) that does not end before it starts."""
    if earliest < now - PAST_TOLERANCE:
        raise InputError(earliest_field, "lies in the past")
    if earliest > now + MAX_ADVANCE:
        raise InputError(earliest_field, "lies more than a year ahead")
    if latest < earliest or (strict and latest == earliest):
        raise InputError(latest_field, f"ends before {earliest_field}")
    if latest - earliest > MAX_WINDOW:
        raise InputError(latest_field, f"is more than 24 hours after {earliest_field}")


def make_weekly_rule(
    *,
    weekdays: list[int],
    local_earliest: time,
    local_latest: time,
    valid_from: date,
    valid_until: date | None,
    exception_dates: list[date],
    time_zone: str,
    today: date,
) -> WeeklyRule:
    """A validated weekly rule; each problem names its field under ``recurrence``."""
    if local_latest < local_earliest:
        raise InputError("recurrence.depart_latest", "ends before recurrence.depart_earliest")
    if valid_until is not None and valid_until < valid_from:
        raise InputError("recurrence.valid_until", "is before recurrence.valid_from")
    if valid_until is not None and valid_until < today:
        raise InputError("recurrence.valid_until", "lies in the past")
    if len(set(weekdays)) != len(weekdays):
        raise InputError("recurrence.weekdays", "lists a weekday twice")
    try:
        ZoneInfo(time_zone)
    except (KeyError, ValueError) as exc:
        raise InputError("recurrence.time_zone", "is not a known time zone") from exc
    return WeeklyRule(
        weekdays=tuple(sorted(weekdays)),
        local_depart_earliest=local_earliest,
        local_depart_latest=local_latest,
        valid_from=valid_from,
        valid_until=valid_until,
        exception_dates=tuple(sorted(set(exception_dates))),
        time_zone=time_zone,
    )


def offer_community(
    origin_community: uuid.UUID | None, home_community: uuid.UUID | None
) -> uuid.UUID:
    """A ride belongs to the community it starts in, else to its person's home community."""
    community = origin_community or home_community
    if community is None:
        raise InputError("origin", "lies in no community and the person has no home community")
    return community
