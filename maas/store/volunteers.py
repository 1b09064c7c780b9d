"""How many rides each volunteer driver already gives, per ISO week (for the fair-load limits
of :mod:`maas.domain.volunteers`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

from maas.domain.volunteers import iso_week

SQL_RIDES_GIVEN = """
SELECT o.person_id, m.occurrence_date, count(*) AS rides
FROM match m JOIN ride_offer o ON o.id = m.offer_id
WHERE o.person_id = ANY($1::uuid[]) AND m.occurrence_date BETWEEN $2 AND $3
  AND m.status IN ('accepted', 'confirmed', 'completed')
GROUP BY o.person_id, m.occurrence_date
"""


async def rides_given(
    conn: asyncpg.Connection, person_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[tuple[uuid.UUID, tuple[int, int]], int]:
    """Rides (live or completed matches) per (driver, ISO week) between two dates."""
    return per_week(await rides_by_day(conn, person_ids, first, last), first, last)


async def rides_by_day(
    conn: asyncpg.Connection, person_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[tuple[uuid.UUID, date], int]:
    """Rides (live or completed matches) per (driver, day) between two dates."""
    rows = await conn.fetch(SQL_RIDES_GIVEN, sorted(set(person_ids)), first, last)
    return {(r["person_id"], r["occurrence_date"]): r["rides"] for r in rows}


def per_week(
    by_day: dict[tuple[uuid.UUID, date], int], first: date, last: date
) -> dict[tuple[uuid.UUID, tuple[int, int]], int]:
    """The rides of ``by_day`` (see :func:`rides_by_day`) between two dates, per (driver, ISO
    week): one read of a wide span serves several narrower ones."""
    out: dict[tuple[uuid.UUID, tuple[int, int]], int] = {}
    for (person_id, day), rides in by_day.items():
        if first <= day <= last:
            key = (person_id, iso_week(day))
            out[key] = out.get(key, 0) + rides
    return out
