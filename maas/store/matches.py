"""Matches: proposed and confirmed rides, with each rider's answer and the planned stops.

The matching engine writes a whole proposal with :func:`insert_match` inside the caller's
transaction; the API only reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from shapely.geometry.base import BaseGeometry

from maas.domain.models import Match, MatchRider, MatchStop, Point
from maas.store.common import ListFilter, Page, bbox_geom, from_geom, maybe_point, page_of, to_geom

SQL_LIST_MATCHES = """
SELECT m.*, o.person_id AS driver_id, o.wheelchair AS vehicle_wheelchair,
       o.child_seat AS vehicle_child_seat, o.luggage AS vehicle_luggage,
       d.name AS driver_name, d.phone AS driver_phone
FROM match m JOIN ride_offer o ON o.id = m.offer_id JOIN person d ON d.id = o.person_id
WHERE ($1::timestamptz IS NULL OR (m.created_at, m.id) > ($1, $2::uuid))
  AND ($3::bool OR o.person_id = $4 OR m.community_id = ANY($5::uuid[])
       OR EXISTS (SELECT 1 FROM match_rider r JOIN ride_request q ON q.id = r.request_id
                  WHERE r.match_id = m.id AND q.person_id = $4)
       -- Operators also follow their residents' rides in other communities.
       OR (cardinality($5::uuid[]) > 0 AND EXISTS (
            SELECT 1 FROM person p
            WHERE p.home_community_id = ANY($5::uuid[])
              AND (p.id = o.person_id OR p.id IN (
                    SELECT q.person_id FROM match_rider r
                    JOIN ride_request q ON q.id = r.request_id WHERE r.match_id = m.id)))))
  AND ($6::uuid IS NULL OR m.community_id = $6)
  AND ($7::text IS NULL OR m.status::text = $7)
  AND ($8::geometry IS NULL OR EXISTS (
        SELECT 1 FROM match_stop s WHERE s.match_id = m.id AND ST_Intersects(s.position, $8)))
  AND ($9::timestamptz IS NULL OR m.departure_at >= $9)
  AND ($10::timestamptz IS NULL OR m.departure_at < $10)
  AND ($11::uuid IS NULL OR m.id = $11)
ORDER BY m.created_at, m.id
LIMIT $12
"""
SQL_MATCH_RIDERS = """
SELECT r.match_id, r.request_id, r.status, q.person_id, q.passengers, q.needs_wheelchair,
       q.needs_child_seat, q.needs_help_getting_in, q.note, p.name, p.phone
FROM match_rider r JOIN ride_request q ON q.id = r.request_id JOIN person p ON p.id = q.person_id
WHERE r.match_id = ANY($1::uuid[])
ORDER BY r.match_id, r.request_id
"""
SQL_MATCH_STOPS = """
SELECT s.match_id, s.seq, s.request_id, s.kind, s.position, s.meeting_point_id, s.planned_at,
       q.person_id AS rider_id, mp.position AS meeting_point_position
FROM match_stop s
JOIN ride_request q ON q.id = s.request_id
LEFT JOIN meeting_point mp ON mp.id = s.meeting_point_id
WHERE s.match_id = ANY($1::uuid[])
ORDER BY s.match_id, s.seq
"""
SQL_INSERT_MATCH = """
INSERT INTO match (offer_id, occurrence_date, departure_at, community_id, status, params_version,
                   route)
VALUES ($1, $2, $3, $4, $5::match_status, $6, $7)
RETURNING id
"""
SQL_INSERT_RIDER = """
INSERT INTO match_rider (match_id, request_id, status) VALUES ($1, $2, $3::party_status)
"""
SQL_INSERT_STOP = """
INSERT INTO match_stop (match_id, seq, request_id, kind, position, meeting_point_id, planned_at)
VALUES ($1, $2, $3, $4::stop_kind, $5, $6, $7)
"""


@dataclass(frozen=True, slots=True)
class NewStop:
    request_id: uuid.UUID
    kind: str
    position: Point
    planned_at: datetime
    meeting_point_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class NewMatch:
    """A proposal as the matching engine produces it; stops are in driving order."""

    offer_id: uuid.UUID
    occurrence_date: date
    departure_at: datetime
    community_id: uuid.UUID
    request_ids: Sequence[uuid.UUID]
    stops: Sequence[NewStop]
    params_version: int = 0
    route: BaseGeometry | None = None
    status: str = "proposed"
    rider_status: str = "pending"


async def insert_match(conn: asyncpg.Connection, new: NewMatch) -> uuid.UUID:
    """Write one match with its riders and stops (atomic: a savepoint inside the caller's
    transaction, or a transaction of its own)."""
    async with conn.transaction():
        match_id: uuid.UUID = await conn.fetchval(
            SQL_INSERT_MATCH,
            new.offer_id,
            new.occurrence_date,
            new.departure_at,
            new.community_id,
            new.status,
            new.params_version,
            new.route,
        )
        await conn.executemany(
            SQL_INSERT_RIDER, [(match_id, r, new.rider_status) for r in new.request_ids]
        )
        await conn.executemany(
            SQL_INSERT_STOP,
            [
                (
                    match_id,
                    seq,
                    s.request_id,
                    s.kind,
                    to_geom(s.position),
                    s.meeting_point_id,
                    s.planned_at,
                )
                for seq, s in enumerate(new.stops)
            ],
        )
    return match_id


async def list_matches(
    conn: asyncpg.Connection,
    flt: ListFilter,
    *,
    see_all: bool,
    me: uuid.UUID,
    scope: Sequence[uuid.UUID],
    match_id: uuid.UUID | None = None,
) -> Page[Match]:
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_MATCHES,
        after_at,
        after_id,
        see_all,
        me,
        list(scope),
        flt.community_id,
        flt.status,
        bbox_geom(flt.bbox),
        flt.time_from,
        flt.time_to,
        match_id,
        flt.limit + 1,
    )
    rows = rows[: flt.limit + 1]
    ids = [r["id"] for r in rows]
    riders: dict[uuid.UUID, list[MatchRider]] = {i: [] for i in ids}
    stops: dict[uuid.UUID, list[MatchStop]] = {i: [] for i in ids}
    if ids:
        for r in await conn.fetch(SQL_MATCH_RIDERS, ids):
            riders[r["match_id"]].append(
                MatchRider(
                    request_id=r["request_id"],
                    person_id=r["person_id"],
                    status=r["status"],
                    passengers=r["passengers"],
                    needs_wheelchair=r["needs_wheelchair"],
                    needs_child_seat=r["needs_child_seat"],
                    needs_help_getting_in=r["needs_help_getting_in"],
                    note=r["note"],
                    name=r["name"],
                    phone=r["phone"],
                )
            )
        for s in await conn.fetch(SQL_MATCH_STOPS, ids):
            stops[s["match_id"]].append(
                MatchStop(
                    seq=s["seq"],
                    request_id=s["request_id"],
                    rider_id=s["rider_id"],
                    kind=s["kind"],
                    position=from_geom(s["position"]),
                    meeting_point_id=s["meeting_point_id"],
                    meeting_point_position=maybe_point(s["meeting_point_position"]),
                    planned_at=s["planned_at"],
                )
            )
    matches = [
        Match(
            id=r["id"],
            offer_id=r["offer_id"],
            driver_id=r["driver_id"],
            occurrence_date=r["occurrence_date"],
            departure_at=r["departure_at"],
            community_id=r["community_id"],
            status=r["status"],
            driver_status=r["driver_status"],
            params_version=r["params_version"],
            route=r["route"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            riders=tuple(riders[r["id"]]),
            stops=tuple(stops[r["id"]]),
            vehicle_wheelchair=r["vehicle_wheelchair"],
            vehicle_child_seat=r["vehicle_child_seat"],
            vehicle_luggage=r["vehicle_luggage"],
            driver_name=r["driver_name"],
            driver_phone=r["driver_phone"],
        )
        for r in rows
    ]
    return page_of(matches, flt.limit)


async def matches_of_person(conn: asyncpg.Connection, person_id: uuid.UUID) -> list[Match]:
    """Every match the person drives or rides in (for the data export)."""
    out: list[Match] = []
    flt = ListFilter(limit=500)
    while True:
        page = await list_matches(conn, flt, see_all=False, me=person_id, scope=())
        out.extend(page.items)
        if not page.has_more:
            return out
        last = page.items[-1]
        flt = ListFilter(limit=500, after=(last.created_at, last.id))
