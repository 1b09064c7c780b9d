"""Request bodies and small helpers for the API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from support.api_world import EAST_POINT, EAST_POINT_2, WEST_POINT, WEST_POINT_2

ZONE = ZoneInfo("Europe/Berlin")


def at(hours: float) -> str:
    """An RFC 3339 time this many hours from now."""
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def day_at(hours: float) -> str:
    """The calendar day in the service's zone (Europe/Berlin) this many hours from now.

    Dates in the API are days of that zone; around midnight the UTC date is another day.
    """
    return (datetime.now(UTC) + timedelta(hours=hours)).astimezone(ZONE).date().isoformat()


def offer_body(*, east: bool = False, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "origin": dict(EAST_POINT if east else WEST_POINT),
        "destination": dict(EAST_POINT_2 if east else WEST_POINT_2),
        "depart_earliest": at(24),
        "depart_latest": at(24.5),
        "seats": 3,
    }
    body.update(overrides)
    return body


def request_body(*, east: bool = False, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "origin": dict(EAST_POINT if east else WEST_POINT),
        "destination": dict(EAST_POINT_2 if east else WEST_POINT_2),
        "depart_earliest": at(24),
        "arrive_latest": at(26),
        "passengers": 1,
    }
    body.update(overrides)
    return body
