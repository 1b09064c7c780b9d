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
    out: dict[tuple[uuid.UUID, tuple[int, int]], int] = {}
    for r in await conn.fetch(SQL_RIDES_GIVEN, sorted(set(person_ids)), first, last):
        key = (r["person_id"], iso_week(r["occurrence_date"]))
        out[key] = out.get(key, 0) + r["rides"]
    return out
