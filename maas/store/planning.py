"""Matching runs in PostGIS: the locks, the run records, a run's inputs and its results.

Locks (advisory, keyed by the community):

* the *run lock* (session level, :data:`RUN_LOCK_NS`) is held by a run from start to end, so
  two runs of one community never interleave; a second run fails fast (409) instead of waiting;
* the *write lock* (transaction level, :data:`WRITE_LOCK_NS`) is taken exclusively by the
  transaction that writes a run's results and shared by every booking change (accept, decline,
  …) of the community, so answers never interleave with the replacement of proposals.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import shapely
from shapely.geometry import LineString

from maas.domain.models import Point
from maas.store.common import from_json, to_geom

RUN_LOCK_NS = 0x6D6D5201
WRITE_LOCK_NS = 0x6D6D5702

SQL_TRY_RUN_LOCK = "SELECT pg_try_advisory_lock($1::int, hashtext($2::text))"
SQL_RUN_UNLOCK = "SELECT pg_advisory_unlock($1::int, hashtext($2::text))"
SQL_WRITE_LOCK = "SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))"
SQL_WRITE_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared($1::int, hashtext($2::text))"

# A run's parameters are the community's current version (maas.store.params), read together
# with its number so that the run records exactly the version it used.
SQL_COMMUNITY = """
SELECT c.id, c.region, COALESCE(v.params, '{}'::jsonb) AS settings, c.params_version
FROM community c
LEFT JOIN community_params_version v ON v.community_id = c.id AND v.version = c.params_version
WHERE c.id = ANY($1::uuid[])
"""
SQL_LAST_RUN = """
SELECT started_at, status = 'failed' AS failed FROM matching_run WHERE community_id = $1
ORDER BY started_at DESC, id DESC LIMIT 1
"""
# What a new run could answer differently since $2: requests and offers created, changed or
# cancelled, and riders or drivers who left a match (declined, cancelled, did not answer).
SQL_CHANGES_SINCE = """
SELECT (SELECT count(*) FROM ride_request WHERE community_id = $1 AND updated_at > $2)
     + (SELECT count(*) FROM ride_offer WHERE community_id = $1 AND updated_at > $2)
     + (SELECT count(*) FROM match_rider r JOIN match m ON m.id = r.match_id
        WHERE m.community_id = $1 AND r.updated_at > $2
          AND r.status IN ('declined', 'cancelled', 'expired'))
     + (SELECT count(*) FROM match
        WHERE community_id = $1 AND updated_at > $2
          AND driver_status IN ('declined', 'cancelled', 'expired'))
"""
SQL_REGION_COMMUNITIES = "SELECT id FROM community WHERE region = $1 ORDER BY created_at, id"

SQL_FAIL_STALE_RUNS = """
UPDATE matching_run SET status = 'failed', finished_at = now(),
    error = 'interrupted: the service stopped during the run'
WHERE community_id = $1 AND status = 'running'
"""
SQL_INSERT_RUN = """
INSERT INTO matching_run (community_id, horizon_start, horizon_end, trigger, requested_by,
                          params_version, params)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
RETURNING *
"""
SQL_FINISH_RUN = """
UPDATE matching_run SET status = 'succeeded', finished_at = clock_timestamp(),
    requests_count = $2, occurrences_count = $3, served_count = $4, unserved_count = $5,
    matches_count = $6, objective = $7, solver_status = $8, timings = $9::jsonb
WHERE id = $1
RETURNING *
"""
SQL_FAIL_RUN = """
UPDATE matching_run SET status = 'failed', finished_at = clock_timestamp(), error = $2,
    timings = timings || $3::jsonb
WHERE id = $1 AND status = 'running'
RETURNING *
"""
SQL_GET_RUN = "SELECT * FROM matching_run WHERE id = $1"
SQL_LIST_RUNS = """
SELECT * FROM matching_run WHERE community_id = $1
ORDER BY started_at DESC, id DESC
LIMIT $2
"""

# ---- inputs -------------------------------------------------------------------------------

# Cancelled offers and requests end their live matches before a run reads anything.
SQL_CANCEL_MATCHES_OF_CANCELLED_OFFERS = """
WITH ended AS (
    UPDATE match m SET status = 'cancelled', driver_status = 'cancelled', updated_at = now()
    FROM ride_offer o
    WHERE o.id = m.offer_id AND o.status = 'cancelled'
      AND m.community_id = $1 AND m.status IN ('proposed', 'accepted', 'confirmed')
    RETURNING m.id
)
UPDATE match_rider r SET status = 'cancelled', updated_at = now()
FROM ended WHERE r.match_id = ended.id AND r.status IN ('pending', 'accepted')
"""
SQL_RIDERS_OF_CANCELLED_REQUESTS = """
UPDATE match_rider r SET status = 'cancelled', updated_at = now()
FROM match m, ride_request q
WHERE m.id = r.match_id AND q.id = r.request_id AND q.status = 'cancelled'
  AND m.community_id = $1 AND m.status IN ('proposed', 'accepted', 'confirmed')
  AND r.status IN ('pending', 'accepted')
RETURNING r.match_id, r.request_id
"""

# The planning reads take points as their coordinates (ST_X, ST_Y: the stored doubles): a
# run or an instant-answer pass reads the whole day, and decoding each geometry in Python
# took most of a pass.
# A run reads one horizon; an instant-answer pass reads many at once (one per community day it
# answers): the planning reads take parallel arrays of horizons (community, start, end) and
# tag each row with its horizon's index k (1-based), so a pass costs a few queries, not a few
# per day.
SQL_OFFERS = """
SELECT h.k, o.id, o.person_id, ST_X(o.origin) AS origin_lon, ST_Y(o.origin) AS origin_lat,
       ST_X(o.destination) AS destination_lon, ST_Y(o.destination) AS destination_lat,
       o.depart_earliest, o.depart_latest, o.weekdays, o.local_depart_earliest,
       o.local_depart_latest, o.valid_from, o.valid_until, o.exception_dates, o.time_zone,
       o.seats, o.max_detour_min, o.max_detour_pct, o.wheelchair, o.child_seat, o.luggage
FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[])
     WITH ORDINALITY AS h(community_id, lo, hi, k)
JOIN ride_offer o ON o.community_id = h.community_id
WHERE o.status = 'open'
  AND ((o.weekdays IS NULL AND o.depart_latest >= h.lo AND o.depart_earliest < h.hi)
       OR (o.weekdays IS NOT NULL
           AND o.valid_from <= (h.hi AT TIME ZONE o.time_zone)::date
           AND (o.valid_until IS NULL
                OR o.valid_until >= (h.lo AT TIME ZONE o.time_zone)::date - 1)))
ORDER BY h.k, o.created_at, o.id
"""
# Open requests of the horizon that no kept match holds (proposals are replaced, so a rider
# in a 'proposed' match is open for this run), with their row version (xmin: new with every
# update), so that a reader that keeps rows reads again only the rows that changed.
SQL_OPEN_REQUESTS = """
SELECT h.k, q.id, q.xmin AS version
FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[])
     WITH ORDINALITY AS h(community_id, lo, hi, k)
JOIN ride_request q ON q.community_id = h.community_id
WHERE q.status = 'open' AND q.depart_earliest < h.hi AND q.arrive_latest > h.lo
  AND NOT EXISTS (
      SELECT 1 FROM match_rider r JOIN match m ON m.id = r.match_id
      WHERE r.request_id = q.id AND r.status IN ('pending', 'accepted')
        AND m.status IN ('accepted', 'confirmed', 'completed', 'no_show'))
ORDER BY h.k, q.created_at, q.id
"""
SQL_REQUEST_ROWS = """
SELECT q.id, q.xmin AS version, q.person_id, ST_X(q.origin) AS origin_lon,
       ST_Y(q.origin) AS origin_lat, ST_X(q.destination) AS destination_lon,
       ST_Y(q.destination) AS destination_lat, q.origin_meeting_point_id,
       q.destination_meeting_point_id, q.depart_earliest, q.arrive_latest, q.passengers,
       q.needs_wheelchair, q.needs_child_seat, q.needs_help_getting_in, q.max_walk_m,
       q.created_at
FROM ride_request q WHERE q.id = ANY($1::uuid[])
"""
# Riders held by kept matches, with their planned stops.
SQL_HELD_STOPS = """
SELECT h.k, m.id AS match_id, m.offer_id, m.occurrence_date, r.request_id, q.person_id,
       q.passengers, q.needs_wheelchair, q.needs_child_seat, q.needs_help_getting_in,
       q.depart_earliest, q.arrive_latest, s.kind, ST_X(s.position) AS lon,
       ST_Y(s.position) AS lat, s.planned_at, s.meeting_point_id
FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[])
     WITH ORDINALITY AS h(community_id, lo, hi, k)
JOIN match m ON m.community_id = h.community_id
JOIN match_rider r ON r.match_id = m.id
JOIN ride_request q ON q.id = r.request_id
JOIN match_stop s ON s.match_id = m.id AND s.request_id = r.request_id
WHERE m.status IN ('accepted', 'confirmed')
  AND r.status IN ('pending', 'accepted')
  AND m.departure_at >= h.lo - interval '1 day' AND m.departure_at < h.hi
ORDER BY h.k, m.id, r.request_id, s.seq
"""
# Pairs that must not meet again: a rider who left a driver occurrence, or whose driver did.
SQL_EXCLUSIONS = """
SELECT m.community_id, m.offer_id, m.occurrence_date, r.request_id
FROM match m JOIN match_rider r ON r.match_id = m.id
WHERE m.community_id = ANY($1::uuid[])
  AND (r.status IN ('declined', 'cancelled') OR m.driver_status IN ('declined', 'cancelled'))
"""
# The nearest meeting points (at most $4) within each request's walking limit of one end
# ($5: 'origin' or 'destination').
SQL_MEETING_POINTS_NEAR = """
SELECT q.id AS request_id, mp.id AS meeting_point_id, ST_X(mp.position) AS lon,
       ST_Y(mp.position) AS lat, mp.distance_m
FROM ride_request q
CROSS JOIN LATERAL (
    SELECT CASE WHEN $5::text = 'origin' THEN q.origin ELSE q.destination END AS at
) e
CROSS JOIN LATERAL (
    SELECT * FROM (
        -- Two meeting points at the same spot (a bench and a bus stop) are one candidate.
        SELECT DISTINCT ON (p.position) p.id, p.position,
               ST_Distance(p.position::geography, e.at::geography) AS distance_m
        FROM meeting_point p
        -- The box (degrees, a little larger than the walk) lets the position index find the
        -- few candidates; the distance on the sphere then decides. Without it every request
        -- measured its distance to every meeting point of the region.
        WHERE p.position && ST_Expand(
                  e.at,
                  LEAST(q.max_walk_m, $2) / $3::float8
                      / (111000 * GREATEST(cos(radians(abs(ST_Y(e.at)) + 0.5)), 0.01)),
                  LEAST(q.max_walk_m, $2) / $3::float8 / 110000)
          AND ST_DWithin(p.position::geography, e.at::geography,
                         LEAST(q.max_walk_m, $2) / $3::float8)
        ORDER BY p.position, p.id
    ) d
    ORDER BY distance_m, id
    LIMIT $4
) mp
WHERE q.id = ANY($1::uuid[])
"""
# Changes whenever a meeting point is added, removed or moved.
SQL_MEETING_POINTS_FINGERPRINT = """
SELECT count(*), coalesce(sum(hashtext(id::text || ST_AsText(position))), 0) FROM meeting_point
"""
SQL_MEETING_POINT_POSITIONS = """
SELECT id, ST_X(position) AS lon, ST_Y(position) AS lat FROM meeting_point
WHERE id = ANY($1::uuid[])
"""

# ---- results ------------------------------------------------------------------------------

# The proposals a run replaces: untouched ones of its community departing in its horizon, and
# any holding one of its requests or occurrences; but not those it keeps ($7). The same
# condition reads them first (SQL_REPLACED_PROPOSALS): keep the two in step.
SQL_DELETE_PROPOSED = """
DELETE FROM match m
WHERE m.status = 'proposed'
  AND ((m.community_id = $1 AND m.departure_at >= $2 AND m.departure_at < $3)
       OR m.id IN (SELECT r.match_id FROM match_rider r WHERE r.request_id = ANY($4::uuid[]))
       OR (m.offer_id, m.occurrence_date) IN (
           SELECT * FROM unnest($5::uuid[], $6::date[])))
  AND m.id <> ALL($7::uuid[])
RETURNING m.id
"""
# Those proposals with their riders and stops, to find the ones a run would propose again
# unchanged (those stay, so nobody hears "withdrawn" and "proposed" for the same ride).
SQL_REPLACED_PROPOSALS = """
SELECT m.id, m.offer_id, m.occurrence_date, m.departure_at,
       ARRAY(SELECT r.request_id FROM match_rider r WHERE r.match_id = m.id
             ORDER BY r.request_id) AS request_ids,
       ARRAY(SELECT s.request_id FROM match_stop s WHERE s.match_id = m.id ORDER BY s.seq)
           AS stop_requests,
       ARRAY(SELECT s.kind::text FROM match_stop s WHERE s.match_id = m.id ORDER BY s.seq)
           AS stop_kinds,
       ARRAY(SELECT s.meeting_point_id FROM match_stop s WHERE s.match_id = m.id
             ORDER BY s.seq) AS stop_meeting_points,
       ARRAY(SELECT ST_X(s.position) FROM match_stop s WHERE s.match_id = m.id ORDER BY s.seq)
           AS stop_lons,
       ARRAY(SELECT ST_Y(s.position) FROM match_stop s WHERE s.match_id = m.id ORDER BY s.seq)
           AS stop_lats,
       ARRAY(SELECT s.planned_at FROM match_stop s WHERE s.match_id = m.id ORDER BY s.seq)
           AS stop_times
FROM match m
WHERE m.status = 'proposed'
  AND ((m.community_id = $1 AND m.departure_at >= $2 AND m.departure_at < $3)
       OR m.id IN (SELECT r.match_id FROM match_rider r WHERE r.request_id = ANY($4::uuid[]))
       OR (m.offer_id, m.occurrence_date) IN (
           SELECT * FROM unnest($5::uuid[], $6::date[])))
"""
SQL_ADOPT_PROPOSAL = "UPDATE match SET run_id = $2, params_version = $3 WHERE id = $1"
SQL_WITHDRAW_PROPOSAL = "DELETE FROM match WHERE id = $1 AND status = 'proposed'"
SQL_STILL_FREE = """
SELECT q.id FROM ride_request q
WHERE q.id = ANY($1::uuid[]) AND q.status = 'open'
  AND NOT EXISTS (
      SELECT 1 FROM match_rider r JOIN match m ON m.id = r.match_id
      WHERE r.request_id = q.id AND r.status IN ('pending', 'accepted')
        AND m.status IN ('proposed', 'accepted', 'confirmed', 'completed', 'no_show'))
"""
SQL_STILL_OPEN_OFFERS = "SELECT id FROM ride_offer WHERE id = ANY($1::uuid[]) AND status = 'open'"
SQL_HELD_NOW = """
SELECT m.offer_id, m.occurrence_date, r.request_id
FROM match m JOIN match_rider r ON r.match_id = m.id
WHERE m.offer_id = ANY($1::uuid[]) AND m.status IN ('accepted', 'confirmed')
  AND r.status IN ('pending', 'accepted')
"""
SQL_INSERT_MATCH = """
INSERT INTO match (offer_id, occurrence_date, departure_at, community_id, status, params_version,
                   route, run_id)
VALUES ($1, $2, $3, $4, 'proposed', $5, $6, $7)
RETURNING id
"""
SQL_INSERT_RIDER = "INSERT INTO match_rider (match_id, request_id) VALUES ($1, $2)"
SQL_INSERT_STOP = """
INSERT INTO match_stop (match_id, seq, request_id, kind, position, meeting_point_id, planned_at)
VALUES ($1, $2, $3, $4::stop_kind, $5, $6, $7)
"""
SQL_INSERT_OUTCOME = """
INSERT INTO request_outcome (run_id, request_id, served, match_id, reason)
VALUES ($1, $2, $3, $4, $5)
"""
SQL_LATEST_OUTCOME = """
SELECT o.run_id, o.served, o.match_id, o.reason, o.created_at, r.finished_at
FROM request_outcome o JOIN matching_run r ON r.id = o.run_id
WHERE o.request_id = $1
ORDER BY o.created_at DESC, r.started_at DESC
LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class CommunityParams:
    id: uuid.UUID
    region: str
    settings: dict[str, Any]
    """The parameters of the current version (``community_params_version.params``)."""
    params_version: int


@dataclass(frozen=True, slots=True)
class MatchingRun:
    id: uuid.UUID
    community_id: uuid.UUID
    horizon_start: datetime
    horizon_end: datetime
    trigger: str
    requested_by: uuid.UUID | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    params_version: int
    params: dict[str, Any]
    requests_count: int | None
    occurrences_count: int | None
    served_count: int | None
    unserved_count: int | None
    matches_count: int | None
    objective: int | None
    solver_status: str | None
    timings: dict[str, Any]
    error: str | None


def _run(row: asyncpg.Record) -> MatchingRun:
    return MatchingRun(
        id=row["id"],
        community_id=row["community_id"],
        horizon_start=row["horizon_start"],
        horizon_end=row["horizon_end"],
        trigger=row["trigger"],
        requested_by=row["requested_by"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        params_version=row["params_version"],
        params=from_json(row["params"]),
        requests_count=row["requests_count"],
        occurrences_count=row["occurrences_count"],
        served_count=row["served_count"],
        unserved_count=row["unserved_count"],
        matches_count=row["matches_count"],
        objective=row["objective"],
        solver_status=row["solver_status"],
        timings=from_json(row["timings"]),
        error=row["error"],
    )


async def try_run_lock(conn: asyncpg.Connection, community_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(SQL_TRY_RUN_LOCK, RUN_LOCK_NS, str(community_id)))


async def run_unlock(conn: asyncpg.Connection, community_id: uuid.UUID) -> None:
    await conn.fetchval(SQL_RUN_UNLOCK, RUN_LOCK_NS, str(community_id))


async def write_lock(conn: asyncpg.Connection, community_id: uuid.UUID, *, shared: bool) -> None:
    """The community's write lock until the end of the caller's transaction."""
    sql = SQL_WRITE_LOCK_SHARED if shared else SQL_WRITE_LOCK
    await conn.fetchval(sql, WRITE_LOCK_NS, str(community_id))


async def last_run(
    conn: asyncpg.Connection, community_id: uuid.UUID
) -> tuple[datetime | None, bool]:
    """When the community's latest run started (None: never), and whether it failed (then it
    wrote nothing)."""
    row = await conn.fetchrow(SQL_LAST_RUN, community_id)
    return (None, False) if row is None else (row["started_at"], bool(row["failed"]))


async def changes_since(conn: asyncpg.Connection, community_id: uuid.UUID, since: datetime) -> int:
    return int(await conn.fetchval(SQL_CHANGES_SINCE, community_id, since))


async def community_params(
    conn: asyncpg.Connection, community_id: uuid.UUID
) -> CommunityParams | None:
    return (await communities_params(conn, [community_id])).get(community_id)


async def communities_params(
    conn: asyncpg.Connection, community_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CommunityParams]:
    """The communities' current parameters, by id (communities that do not exist are left
    out)."""
    rows = await conn.fetch(SQL_COMMUNITY, list(community_ids))
    return {
        r["id"]: CommunityParams(
            r["id"], r["region"], from_json(r["settings"]), r["params_version"]
        )
        for r in rows
    }


async def region_communities(conn: asyncpg.Connection, region: str) -> list[uuid.UUID]:
    return [r["id"] for r in await conn.fetch(SQL_REGION_COMMUNITIES, region)]


async def start_run(
    conn: asyncpg.Connection,
    *,
    community_id: uuid.UUID,
    horizon: tuple[datetime, datetime],
    trigger: str,
    requested_by: uuid.UUID | None,
    params_version: int,
    params: dict[str, Any],
) -> MatchingRun:
    """Record a run as running (the caller holds the run lock, so any other 'running' run of
    the community is a leftover of a stopped process)."""
    async with conn.transaction():
        await conn.execute(SQL_FAIL_STALE_RUNS, community_id)
        row = await conn.fetchrow(
            SQL_INSERT_RUN,
            community_id,
            horizon[0],
            horizon[1],
            trigger,
            requested_by,
            params_version,
            json.dumps(params),
        )
    return _run(row)


async def finish_run(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    *,
    requests_count: int,
    occurrences_count: int,
    served_count: int,
    unserved_count: int,
    matches_count: int,
    objective: int,
    solver_status: str,
    timings: dict[str, float],
) -> MatchingRun:
    row = await conn.fetchrow(
        SQL_FINISH_RUN,
        run_id,
        requests_count,
        occurrences_count,
        served_count,
        unserved_count,
        matches_count,
        objective,
        solver_status,
        json.dumps(timings),
    )
    return _run(row)


async def fail_run(
    conn: asyncpg.Connection, run_id: uuid.UUID, error: str, timings: dict[str, float]
) -> None:
    await conn.execute(SQL_FAIL_RUN, run_id, error[:2000], json.dumps(timings))


async def get_run(conn: asyncpg.Connection, run_id: uuid.UUID) -> MatchingRun | None:
    row = await conn.fetchrow(SQL_GET_RUN, run_id)
    return None if row is None else _run(row)


async def list_runs(
    conn: asyncpg.Connection, community_id: uuid.UUID, *, limit: int
) -> list[MatchingRun]:
    return [_run(r) for r in await conn.fetch(SQL_LIST_RUNS, community_id, limit)]


async def end_matches_of_cancelled_rides(
    conn: asyncpg.Connection, community_id: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Live matches of cancelled offers end; riders of cancelled requests leave their match.
    Returns the (match, request) pairs that left, for the caller to remove stops and settle
    the match's status."""
    await conn.execute(SQL_CANCEL_MATCHES_OF_CANCELLED_OFFERS, community_id)
    rows = await conn.fetch(SQL_RIDERS_OF_CANCELLED_REQUESTS, community_id)
    return [(r["match_id"], r["request_id"]) for r in rows]


@dataclass(frozen=True, slots=True)
class OfferRow:
    id: uuid.UUID
    person_id: uuid.UUID
    origin: Point
    destination: Point
    depart_earliest: datetime | None
    depart_latest: datetime | None
    weekdays: tuple[int, ...] | None
    local_depart_earliest: Any
    local_depart_latest: Any
    valid_from: date | None
    valid_until: date | None
    exception_dates: tuple[date, ...]
    time_zone: str
    seats: int
    max_detour_min: int
    max_detour_pct: int
    features: frozenset[str]


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: uuid.UUID
    person_id: uuid.UUID
    origin: Point
    destination: Point
    origin_meeting_point_id: uuid.UUID | None
    destination_meeting_point_id: uuid.UUID | None
    depart_earliest: datetime
    arrive_latest: datetime
    passengers: int
    needs: frozenset[str]
    needs_help: bool
    max_walk_m: int
    created_at: datetime
    version: int
    """The row's version (PostgreSQL's ``xmin``): it changes whenever the row is updated."""


@dataclass(frozen=True, slots=True)
class HeldStop:
    match_id: uuid.UUID
    offer_id: uuid.UUID
    occurrence_date: date
    request_id: uuid.UUID
    person_id: uuid.UUID
    passengers: int
    needs: frozenset[str]
    needs_help: bool
    depart_earliest: datetime
    arrive_latest: datetime
    kind: str
    position: Point
    planned_at: datetime
    meeting_point_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class NearbyPoint:
    request_id: uuid.UUID
    meeting_point_id: uuid.UUID
    position: Point
    distance_m: float


def _needs(row: asyncpg.Record) -> frozenset[str]:
    out = set()
    if row["needs_wheelchair"]:
        out.add("wheelchair")
    if row["needs_child_seat"]:
        out.add("child_seat")
    return frozenset(out)


Horizon = tuple[uuid.UUID, datetime, datetime]
"""A community and a time span (start, end) to read the planning input of."""


async def _by_horizon(
    conn: asyncpg.Connection, sql: str, horizons: Sequence[Horizon]
) -> list[list[asyncpg.Record]]:
    """The rows of ``sql`` (tagged ``k``, see :data:`SQL_OFFERS`) per horizon, in order."""
    out: list[list[asyncpg.Record]] = [[] for _ in horizons]
    if horizons:
        rows = await conn.fetch(
            sql, [h[0] for h in horizons], [h[1] for h in horizons], [h[2] for h in horizons]
        )
        for r in rows:
            out[r["k"] - 1].append(r)
    return out


def _offer(r: asyncpg.Record) -> OfferRow:
    return OfferRow(
        id=r["id"],
        person_id=r["person_id"],
        origin=Point(r["origin_lon"], r["origin_lat"]),
        destination=Point(r["destination_lon"], r["destination_lat"]),
        depart_earliest=r["depart_earliest"],
        depart_latest=r["depart_latest"],
        weekdays=None if r["weekdays"] is None else tuple(r["weekdays"]),
        local_depart_earliest=r["local_depart_earliest"],
        local_depart_latest=r["local_depart_latest"],
        valid_from=r["valid_from"],
        valid_until=r["valid_until"],
        exception_dates=tuple(r["exception_dates"] or ()),
        time_zone=r["time_zone"],
        seats=r["seats"],
        max_detour_min=r["max_detour_min"],
        max_detour_pct=r["max_detour_pct"],
        features=frozenset(name for name in ("wheelchair", "child_seat", "luggage") if r[name]),
    )


def request_row(r: asyncpg.Record) -> RequestRow:
    """A request's row read with the columns of :data:`SQL_REQUEST_ROWS`."""
    return RequestRow(
        id=r["id"],
        person_id=r["person_id"],
        origin=Point(r["origin_lon"], r["origin_lat"]),
        destination=Point(r["destination_lon"], r["destination_lat"]),
        origin_meeting_point_id=r["origin_meeting_point_id"],
        destination_meeting_point_id=r["destination_meeting_point_id"],
        depart_earliest=r["depart_earliest"],
        arrive_latest=r["arrive_latest"],
        passengers=r["passengers"],
        needs=_needs(r),
        needs_help=r["needs_help_getting_in"],
        max_walk_m=r["max_walk_m"],
        created_at=r["created_at"],
        version=r["version"],
    )


def _held_stop(r: asyncpg.Record) -> HeldStop:
    return HeldStop(
        match_id=r["match_id"],
        offer_id=r["offer_id"],
        occurrence_date=r["occurrence_date"],
        request_id=r["request_id"],
        person_id=r["person_id"],
        passengers=r["passengers"],
        needs=_needs(r),
        needs_help=r["needs_help_getting_in"],
        depart_earliest=r["depart_earliest"],
        arrive_latest=r["arrive_latest"],
        kind=r["kind"],
        position=Point(r["lon"], r["lat"]),
        planned_at=r["planned_at"],
        meeting_point_id=r["meeting_point_id"],
    )


async def offers_in(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> list[OfferRow]:
    return (await offers_in_horizons(conn, [(community_id, start, end)]))[0]


async def offers_in_horizons(
    conn: asyncpg.Connection, horizons: Sequence[Horizon]
) -> list[list[OfferRow]]:
    """The open offers with a trip in each horizon, per horizon."""
    return [[_offer(r) for r in rows] for rows in await _by_horizon(conn, SQL_OFFERS, horizons)]


async def open_requests(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> list[RequestRow]:
    (day,) = await open_request_versions(conn, [(community_id, start, end)])
    rows = await requests_by_id(conn, [i for i, _ in day])
    return [rows[i] for i, _ in day if i in rows]


async def open_request_versions(
    conn: asyncpg.Connection, horizons: Sequence[Horizon]
) -> list[list[tuple[uuid.UUID, int]]]:
    """The open requests no kept match holds in each horizon, per horizon, as (id, row
    version) in the order they were made; :func:`requests_by_id` reads the rows."""
    # By position: a pass reads thousands of these, and a lookup by name costs more.
    return [
        [(r[1], r[2]) for r in rows]
        for rows in await _by_horizon(conn, SQL_OPEN_REQUESTS, horizons)
    ]


async def requests_by_id(
    conn: asyncpg.Connection, request_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RequestRow]:
    """The requests' rows as they are now, by id (requests that are gone are left out)."""
    if not request_ids:
        return {}
    return {r["id"]: request_row(r) for r in await conn.fetch(SQL_REQUEST_ROWS, list(request_ids))}


async def held_stops_in_horizons(
    conn: asyncpg.Connection, horizons: Sequence[Horizon]
) -> list[list[HeldStop]]:
    """The planned stops of the riders kept matches hold in each horizon, per horizon."""
    return [
        [_held_stop(r) for r in rows] for rows in await _by_horizon(conn, SQL_HELD_STOPS, horizons)
    ]


async def exclusions(
    conn: asyncpg.Connection, community_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, date, uuid.UUID]]]:
    """The (offer, day, request) pairs that must not meet again, by community."""
    out: dict[uuid.UUID, list[tuple[uuid.UUID, date, uuid.UUID]]] = {}
    for r in await conn.fetch(SQL_EXCLUSIONS, sorted(set(community_ids))):
        out.setdefault(r["community_id"], []).append(
            (r["offer_id"], r["occurrence_date"], r["request_id"])
        )
    return out


async def meeting_points_near(
    conn: asyncpg.Connection,
    request_ids: Sequence[uuid.UUID],
    *,
    side: str,
    max_walk_m: int,
    walk_factor: float,
    per_request: int = 3,
) -> list[NearbyPoint]:
    """Meeting points within walking distance of each request's origin or destination
    (straight-line distance × ``walk_factor`` ≤ the smaller of the request's and the
    community's limit)."""
    rows = await conn.fetch(
        SQL_MEETING_POINTS_NEAR, list(request_ids), max_walk_m, walk_factor, per_request, side
    )
    return [
        NearbyPoint(
            r["request_id"], r["meeting_point_id"], Point(r["lon"], r["lat"]), r["distance_m"]
        )
        for r in rows
    ]


async def meeting_points_fingerprint(conn: asyncpg.Connection) -> tuple[int, int]:
    """A value that changes whenever a meeting point is added, removed or moved."""
    count, hashes = await conn.fetchrow(SQL_MEETING_POINTS_FINGERPRINT)
    return int(count), int(hashes)


async def meeting_point_positions(
    conn: asyncpg.Connection, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Point]:
    if not ids:
        return {}
    rows = await conn.fetch(SQL_MEETING_POINT_POSITIONS, list(ids))
    return {r["id"]: Point(r["lon"], r["lat"]) for r in rows}


@dataclass(frozen=True, slots=True)
class StandingProposal:
    """A proposal a run would replace, as its riders and stops read it."""

    id: uuid.UUID
    offer_id: uuid.UUID
    occurrence_date: date
    departure_at: datetime
    request_ids: tuple[uuid.UUID, ...]
    stops: tuple[ProposedStop, ...]


def _replaced_args(
    community_id: uuid.UUID,
    start: datetime,
    end: datetime,
    request_ids: Sequence[uuid.UUID],
    occurrences: Sequence[tuple[uuid.UUID, date]],
) -> tuple[Any, ...]:
    return (
        community_id,
        start,
        end,
        list(request_ids),
        [o for o, _ in occurrences],
        [d for _, d in occurrences],
    )


async def replaced_proposals(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    start: datetime,
    end: datetime,
    request_ids: Sequence[uuid.UUID],
    occurrences: Sequence[tuple[uuid.UUID, date]] = (),
) -> list[StandingProposal]:
    """The proposals :func:`delete_proposed` would delete (same arguments), with their stops."""
    rows = await conn.fetch(
        SQL_REPLACED_PROPOSALS,
        *_replaced_args(community_id, start, end, request_ids, occurrences),
    )
    return [
        StandingProposal(
            id=r["id"],
            offer_id=r["offer_id"],
            occurrence_date=r["occurrence_date"],
            departure_at=r["departure_at"],
            request_ids=tuple(r["request_ids"]),
            stops=tuple(
                ProposedStop(
                    request_id=rid,
                    kind=kind,
                    position=Point(lon, lat),
                    meeting_point_id=mp,
                    planned_at=at,
                )
                for rid, kind, mp, lon, lat, at in zip(
                    r["stop_requests"],
                    r["stop_kinds"],
                    r["stop_meeting_points"],
                    r["stop_lons"],
                    r["stop_lats"],
                    r["stop_times"],
                    strict=True,
                )
            ),
        )
        for r in rows
    ]


async def delete_proposed(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    start: datetime,
    end: datetime,
    request_ids: Sequence[uuid.UUID],
    occurrences: Sequence[tuple[uuid.UUID, date]] = (),
    keep: Sequence[uuid.UUID] = (),
) -> int:
    rows = await conn.fetch(
        SQL_DELETE_PROPOSED,
        *_replaced_args(community_id, start, end, request_ids, occurrences),
        list(keep),
    )
    return len(rows)


async def adopt_proposal(
    conn: asyncpg.Connection, match_id: uuid.UUID, run_id: uuid.UUID, params_version: int
) -> None:
    """A standing proposal the run found again unchanged becomes the run's own."""
    await conn.execute(SQL_ADOPT_PROPOSAL, match_id, run_id, params_version)


async def withdraw_proposal(conn: asyncpg.Connection, match_id: uuid.UUID) -> None:
    await conn.execute(SQL_WITHDRAW_PROPOSAL, match_id)


async def still_free(conn: asyncpg.Connection, request_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    return {r["id"] for r in await conn.fetch(SQL_STILL_FREE, list(request_ids))}


async def still_open_offers(
    conn: asyncpg.Connection, offer_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    return {r["id"] for r in await conn.fetch(SQL_STILL_OPEN_OFFERS, list(offer_ids))}


async def held_now(
    conn: asyncpg.Connection, offer_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, date], set[uuid.UUID]]:
    out: dict[tuple[uuid.UUID, date], set[uuid.UUID]] = {}
    for r in await conn.fetch(SQL_HELD_NOW, list(offer_ids)):
        out.setdefault((r["offer_id"], r["occurrence_date"]), set()).add(r["request_id"])
    return out


@dataclass(frozen=True, slots=True)
class ProposedStop:
    request_id: uuid.UUID
    kind: str
    position: Point
    meeting_point_id: uuid.UUID | None
    planned_at: datetime


async def insert_proposal(
    conn: asyncpg.Connection,
    *,
    run_id: uuid.UUID,
    community_id: uuid.UUID,
    offer_id: uuid.UUID,
    occurrence_date: date,
    departure_at: datetime,
    params_version: int,
    request_ids: Sequence[uuid.UUID],
    stops: Sequence[ProposedStop],
    route: Sequence[tuple[float, float]],
) -> uuid.UUID:
    geom = shapely.set_srid(LineString(route), 4326) if len(route) >= 2 else None
    match_id: uuid.UUID = await conn.fetchval(
        SQL_INSERT_MATCH,
        offer_id,
        occurrence_date,
        departure_at,
        community_id,
        params_version,
        geom,
        run_id,
    )
    await conn.executemany(SQL_INSERT_RIDER, [(match_id, r) for r in request_ids])
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
            for seq, s in enumerate(stops)
        ],
    )
    return match_id


async def insert_outcomes(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    outcomes: Sequence[tuple[uuid.UUID, uuid.UUID | None, str | None]],
) -> None:
    """(request, match or None, reason or None) per request the run considered."""
    await conn.executemany(
        SQL_INSERT_OUTCOME,
        [
            (run_id, request_id, reason is None, match_id, reason)
            for request_id, match_id, reason in outcomes
        ],
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    run_id: uuid.UUID
    served: bool
    match_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


async def latest_outcome(conn: asyncpg.Connection, request_id: uuid.UUID) -> Outcome | None:
    row = await conn.fetchrow(SQL_LATEST_OUTCOME, request_id)
    if row is None:
        return None
    return Outcome(row["run_id"], row["served"], row["match_id"], row["reason"], row["created_at"])
