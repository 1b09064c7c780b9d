"""Requests due for the "no driver found" notice at their community's cut-off, claimed once, and
what each rider was told."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from maas.domain.models import Point
from maas.store.common import from_geom, from_json

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
SELECT q.id, q.person_id, q.community_id, q.depart_earliest, q.arrive_latest, q.origin,
       q.destination, q.max_walk_m
FROM told JOIN ride_request q ON q.id = told.request_id
"""
SQL_RECORD_FALLBACK = "UPDATE fallback_notice SET fallback = $2::jsonb WHERE request_id = $1"
SQL_TOLD = "SELECT told_at, fallback FROM fallback_notice WHERE request_id = $1"


@dataclass(frozen=True, slots=True)
class Unmatched:
    request_id: uuid.UUID
    person_id: uuid.UUID
    community_id: uuid.UUID
    depart_earliest: datetime
    arrive_latest: datetime
    origin: Point
    destination: Point
    max_walk_m: int


@dataclass(frozen=True, slots=True)
class Told:
    """The notice a rider got: when, and the fallback as sent (None for notices written
    before the fallback was kept)."""

    told_at: datetime
    fallback: dict[str, Any] | None


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
                  r["arrive_latest"], from_geom(r["origin"]), from_geom(r["destination"]),
                  r["max_walk_m"])
        for r in rows
    ]  # fmt: skip


async def record_fallback(
    conn: asyncpg.Connection, request_id: uuid.UUID, fallback: dict[str, Any]
) -> None:
    """Keep what the rider was told with the claimed notice (same transaction)."""
    await conn.execute(SQL_RECORD_FALLBACK, request_id, json.dumps(fallback))


async def told(conn: asyncpg.Connection, request_id: uuid.UUID) -> Told | None:
    """The "no driver found" notice of a request, if it was sent."""
    row = await conn.fetchrow(SQL_TOLD, request_id)
    if row is None:
        return None
    return Told(row["told_at"], from_json(row["fallback"]))
