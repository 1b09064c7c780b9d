"""Requests due for the "no driver found" notice at their community's cut-off, claimed once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Open requests departing within the cut-off (and not yet departed) that have no confirmed
# ride; each is claimed in fallback_notice, so a request is returned at most once ever.
SQL_CLAIM_UNMATCHED = """
WITH due AS (
    SELECT q.id, q.community_id FROM ride_request q
    WHERE q.community_id = $1 AND q.status = 'open'
      AND q.depart_earliest > $2 AND q.depart_earliest <= $2 + make_interval(mins => $3)
      AND NOT EXISTS (
          SELECT 1 FROM match_rider r JOIN match m ON m.id = r.match_id
          WHERE r.request_id = q.id AND r.status = 'accepted' AND m.status = 'confirmed')
    ORDER BY q.depart_earliest, q.id
    LIMIT $4
), told AS (
    INSERT INTO fallback_notice (request_id, community_id)
    SELECT id, community_id FROM due
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
)
SELECT q.id, q.person_id, q.community_id, q.depart_earliest, q.arrive_latest
FROM told JOIN ride_request q ON q.id = told.request_id
"""


@dataclass(frozen=True, slots=True)
class Unmatched:
    request_id: uuid.UUID
    person_id: uuid.UUID
    community_id: uuid.UUID
    depart_earliest: datetime
    arrive_latest: datetime


async def claim_unmatched(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    *,
    now: datetime,
    cutoff_min: int,
    limit: int = 1000,
) -> list[Unmatched]:
    """Claim the community's requests at their cut-off (in the caller's transaction, which
    must also write the notices)."""
    rows = await conn.fetch(SQL_CLAIM_UNMATCHED, community_id, now, cutoff_min, limit)
    return [
        Unmatched(r["id"], r["person_id"], r["community_id"], r["depart_earliest"],
                  r["arrive_latest"])
        for r in rows
    ]  # fmt: skip
