"""Ride offers and ride requests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from maas.domain.models import Endpoint, Offer, RideRequest
from maas.domain.rides import OfferDraft, RequestDraft
from maas.store.common import ListFilter, Page, bbox_geom, from_geom, maybe_point, page_of, to_geom

SQL_INSERT_OFFER = """
INSERT INTO ride_offer (
    community_id, origin, origin_snapped, origin_meeting_point_id,
    destination, destination_snapped, destination_meeting_point_id,
    depart_earliest, depart_latest, weekdays, local_depart_earliest, local_depart_latest,
    valid_from, valid_until, exception_dates, time_zone, seats, max_detour_min, max_detour_pct,
    wheelchair, child_seat, luggage, note, person_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
        COALESCE($15, '{}'::date[]), COALESCE($16, 'Europe/Berlin'), $17, $18, $19, $20,
        $21, $22, $23, $24)
RETURNING *
"""
SQL_UPDATE_OFFER = """
UPDATE ride_offer SET community_id = $1,
    origin = $2, origin_snapped = $3, origin_meeting_point_id = $4,
    destination = $5, destination_snapped = $6, destination_meeting_point_id = $7,
    depart_earliest = $8, depart_latest = $9, weekdays = $10, local_depart_earliest = $11,
    local_depart_latest = $12, valid_from = $13, valid_until = $14,
    exception_dates = COALESCE($15, '{}'::date[]), time_zone = COALESCE($16, 'Europe/Berlin'),
    seats = $17, max_detour_min = $18, max_detour_pct = $19, wheelchair = $20, child_seat = $21,
    luggage = $22, note = $23, updated_at = now()
WHERE id = $24
RETURNING *
"""
SQL_GET_OFFER = "SELECT * FROM ride_offer WHERE id = $1"
# A change is merged into the stored offer; the lock keeps two edits from losing one another.
SQL_GET_OFFER_FOR_UPDATE = "SELECT * FROM ride_offer WHERE id = $1 FOR UPDATE"
SQL_CANCEL_OFFER = """
UPDATE ride_offer SET status = 'cancelled', cancelled_at = COALESCE(cancelled_at, now()),
    updated_at = now()
WHERE id = $1
RETURNING *
"""
# Visible rows: everything for admins, own rows, rows starting in a community the caller
# operates, and rows of people whose home community the caller operates.
SQL_LIST_OFFERS = """
SELECT * FROM ride_offer
WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
  AND ($3::bool OR person_id = $4 OR community_id = ANY($5::uuid[])
       OR person_id IN (SELECT p.id FROM person p WHERE p.home_community_id = ANY($5::uuid[])))
  AND ($6::uuid IS NULL OR community_id = $6)
  AND ($7::text IS NULL OR status::text = $7)
  AND ($8::geometry IS NULL OR ST_Intersects(origin, $8) OR ST_Intersects(destination, $8))
  AND ($9::timestamptz IS NULL OR COALESCE(depart_latest >= $9,
        valid_until IS NULL OR valid_until >= ($9 AT TIME ZONE time_zone)::date))
  AND ($10::timestamptz IS NULL OR COALESCE(depart_earliest < $10,
        valid_from <= ($10 AT TIME ZONE time_zone)::date))
  AND ($11::uuid IS NULL OR person_id = $11)
ORDER BY created_at, id
LIMIT $12
"""

# One statement for the service's hottest write (POST /v1/requests): the community (given;
# else the smallest one of the region whose area covers the origin, the rule of
# maas.store.communities.SQL_COMMUNITY_AT; else the person's home community) and the row.
# Points arrive as coordinates, so no geometry objects are built for the insert. Without any
# community nothing is inserted.
SQL_INSERT_REQUEST = """
WITH place AS MATERIALIZED (  -- else the community lookup runs twice, for WHERE and SELECT
    SELECT COALESCE(
        $17::uuid,
        (SELECT c.id FROM community c
         WHERE ST_Covers(c.area, ST_SetSRID(ST_MakePoint($1, $2), 4326)) AND c.region = $18
         ORDER BY ST_Area(c.area), c.id
         LIMIT 1),
        $19::uuid) AS community_id
)
INSERT INTO ride_request (
    community_id, origin, origin_snapped, origin_meeting_point_id,
    destination, destination_snapped, destination_meeting_point_id,
    depart_earliest, arrive_latest, passengers, needs_wheelchair, needs_child_seat,
    needs_help_getting_in, max_walk_m, note, person_id)
SELECT place.community_id,
    ST_SetSRID(ST_MakePoint($1, $2), 4326), ST_SetSRID(ST_MakePoint($3, $4), 4326), $5,
    ST_SetSRID(ST_MakePoint($6, $7), 4326), ST_SetSRID(ST_MakePoint($8, $9), 4326), $10,
    $11, $12, $13, $14, $15, $16, $20, $21, $22
FROM place
WHERE place.community_id IS NOT NULL
RETURNING *
"""
# POST /v1/requests of a rider for themselves in one round trip: the caller (the token lookup
# of maas.store.people.SQL_PRINCIPAL_BY_TOKEN, on every request as always, so a revoked token
# stops working at once) and, if they are a rider, the request in the community of
# SQL_INSERT_REQUEST. Only what the database decides comes back; the rest of the answer is
# what was inserted. No row: nothing was inserted, and the caller is unknown, not a rider or
# in no community.
SQL_INSERT_OWN_REQUEST = """
WITH caller AS (
    SELECT p.id, p.home_community_id
    FROM api_token t JOIN person p ON p.id = t.person_id
    WHERE t.secret_sha256 = $17 AND t.revoked_at IS NULL AND t.expires_at > now()
      AND p.deleted_at IS NULL AND p.is_rider
), place AS MATERIALIZED (  -- else the community lookup runs twice, for WHERE and SELECT
    SELECT caller.id AS person_id, COALESCE(
        (SELECT c.id FROM community c
         WHERE ST_Covers(c.area, ST_SetSRID(ST_MakePoint($1, $2), 4326)) AND c.region = $18
         ORDER BY ST_Area(c.area), c.id
         LIMIT 1),
        caller.home_community_id) AS community_id
    FROM caller
)
INSERT INTO ride_request (
    community_id, origin, origin_snapped, origin_meeting_point_id,
    destination, destination_snapped, destination_meeting_point_id,
    depart_earliest, arrive_latest, passengers, needs_wheelchair, needs_child_seat,
    needs_help_getting_in, max_walk_m, note, person_id)
SELECT place.community_id,
    ST_SetSRID(ST_MakePoint($1, $2), 4326), ST_SetSRID(ST_MakePoint($3, $4), 4326), $5,
    ST_SetSRID(ST_MakePoint($6, $7), 4326), ST_SetSRID(ST_MakePoint($8, $9), 4326), $10,
    $11, $12, $13, $14, $15, $16, $19, $20, place.person_id
FROM place
WHERE place.community_id IS NOT NULL
RETURNING id, person_id, community_id, status, created_at, updated_at
"""
SQL_GET_REQUEST = "SELECT * FROM ride_request WHERE id = $1"
SQL_CANCEL_REQUEST = """
UPDATE ride_request SET status = 'cancelled', cancelled_at = COALESCE(cancelled_at, now()),
    updated_at = now()
WHERE id = $1
RETURNING *
"""
SQL_LIST_REQUESTS = """
SELECT * FROM ride_request
WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
  AND ($3::bool OR person_id = $4 OR community_id = ANY($5::uuid[])
       OR person_id IN (SELECT p.id FROM person p WHERE p.home_community_id = ANY($5::uuid[])))
  AND ($6::uuid IS NULL OR community_id = $6)
  AND ($7::text IS NULL OR status::text = $7)
  AND ($8::geometry IS NULL OR ST_Intersects(origin, $8) OR ST_Intersects(destination, $8))
  AND ($9::timestamptz IS NULL OR arrive_latest >= $9)
  AND ($10::timestamptz IS NULL OR depart_earliest < $10)
  AND ($11::uuid IS NULL OR person_id = $11)
ORDER BY created_at, id
LIMIT $12
"""

# Account deletion: free text goes, exact points become their 300 m grid cell's centre
# (approx_point, the same rule as maas.domain.privacy.approximate), open rides are cancelled.
SQL_ANONYMISE_OFFERS = """
UPDATE ride_offer SET note = NULL,
    origin = approx_point(origin), destination = approx_point(destination),
    origin_snapped = NULL, destination_snapped = NULL,
    status = 'cancelled', cancelled_at = COALESCE(cancelled_at, now()), updated_at = now()
WHERE person_id = $1
"""
SQL_ANONYMISE_REQUESTS = """
UPDATE ride_request SET note = NULL,
    origin = approx_point(origin), destination = approx_point(destination),
    origin_snapped = NULL, destination_snapped = NULL,
    status = 'cancelled', cancelled_at = COALESCE(cancelled_at, now()), updated_at = now()
WHERE person_id = $1
"""
SQL_ANONYMISE_STOPS = """
UPDATE match_stop SET position = approx_point(position)
WHERE meeting_point_id IS NULL
  AND request_id IN (SELECT id FROM ride_request WHERE person_id = $1)
"""
SQL_ANONYMISE_ROUTES = """
UPDATE match SET route = NULL
WHERE offer_id IN (SELECT id FROM ride_offer WHERE person_id = $1)
   OR id IN (SELECT r.match_id FROM match_rider r JOIN ride_request q ON q.id = r.request_id
             WHERE q.person_id = $1)
"""


def _endpoint(row: asyncpg.Record, prefix: str) -> Endpoint:
    return Endpoint(
        point=from_geom(row[prefix]),
        snapped=maybe_point(row[f"{prefix}_snapped"]),
        meeting_point_id=row[f"{prefix}_meeting_point_id"],
    )


def _offer(row: asyncpg.Record) -> Offer:
    return Offer(
        id=row["id"],
        person_id=row["person_id"],
        community_id=row["community_id"],
        status=row["status"],
        origin=_endpoint(row, "origin"),
        destination=_endpoint(row, "destination"),
        depart_earliest=row["depart_earliest"],
        depart_latest=row["depart_latest"],
        weekdays=None if row["weekdays"] is None else tuple(row["weekdays"]),
        local_depart_earliest=row["local_depart_earliest"],
        local_depart_latest=row["local_depart_latest"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        exception_dates=tuple(row["exception_dates"] or ()),
        time_zone=row["time_zone"],
        seats=row["seats"],
        max_detour_min=row["max_detour_min"],
        max_detour_pct=row["max_detour_pct"],
        wheelchair=row["wheelchair"],
        child_seat=row["child_seat"],
        luggage=row["luggage"],
        note=row["note"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancelled_at=row["cancelled_at"],
    )


def _request(row: asyncpg.Record) -> RideRequest:
    return RideRequest(
        id=row["id"],
        person_id=row["person_id"],
        community_id=row["community_id"],
        status=row["status"],
        origin=_endpoint(row, "origin"),
        destination=_endpoint(row, "destination"),
        depart_earliest=row["depart_earliest"],
        arrive_latest=row["arrive_latest"],
        passengers=row["passengers"],
        needs_wheelchair=row["needs_wheelchair"],
        needs_child_seat=row["needs_child_seat"],
        needs_help_getting_in=row["needs_help_getting_in"],
        max_walk_m=row["max_walk_m"],
        note=row["note"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancelled_at=row["cancelled_at"],
    )


def _endpoint_args(e: Endpoint) -> list[object]:
    return [to_geom(e.point), None if e.snapped is None else to_geom(e.snapped), e.meeting_point_id]


def _offer_args(community_id: uuid.UUID, d: OfferDraft) -> list[object]:
    w = d.weekly
    return [
        community_id,
        *_endpoint_args(d.origin),
        *_endpoint_args(d.destination),
        d.depart_earliest,
        d.depart_latest,
        None if w is None else list(w.weekdays),
        None if w is None else w.local_depart_earliest,
        None if w is None else w.local_depart_latest,
        None if w is None else w.valid_from,
        None if w is None else w.valid_until,
        None if w is None else list(w.exception_dates),
        None if w is None else w.time_zone,
        d.seats,
        d.max_detour_min,
        d.max_detour_pct,
        d.wheelchair,
        d.child_seat,
        d.luggage,
        d.note,
    ]


async def create_offer(
    conn: asyncpg.Connection, person_id: uuid.UUID, community_id: uuid.UUID, draft: OfferDraft
) -> Offer:
    row = await conn.fetchrow(SQL_INSERT_OFFER, *_offer_args(community_id, draft), person_id)
    return _offer(row)


async def update_offer(
    conn: asyncpg.Connection, offer_id: uuid.UUID, community_id: uuid.UUID, draft: OfferDraft
) -> Offer:
    row = await conn.fetchrow(SQL_UPDATE_OFFER, *_offer_args(community_id, draft), offer_id)
    return _offer(row)


async def get_offer(
    conn: asyncpg.Connection, offer_id: uuid.UUID, *, for_update: bool = False
) -> Offer | None:
    """The offer; ``for_update`` locks it until the caller's transaction ends."""
    row = await conn.fetchrow(SQL_GET_OFFER_FOR_UPDATE if for_update else SQL_GET_OFFER, offer_id)
    return None if row is None else _offer(row)


async def cancel_offer(conn: asyncpg.Connection, offer_id: uuid.UUID) -> Offer:
    return _offer(await conn.fetchrow(SQL_CANCEL_OFFER, offer_id))


async def list_offers(
    conn: asyncpg.Connection,
    flt: ListFilter,
    *,
    see_all: bool,
    me: uuid.UUID,
    scope: Sequence[uuid.UUID],
    person_id: uuid.UUID | None = None,
) -> Page[Offer]:
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_OFFERS,
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
        person_id,
        flt.limit + 1,
    )
    return page_of([_offer(r) for r in rows], flt.limit)


def _xy_args(e: Endpoint) -> list[object]:
    snapped = e.snapped
    return [
        e.point.lon,
        e.point.lat,
        None if snapped is None else snapped.lon,
        None if snapped is None else snapped.lat,
        e.meeting_point_id,
    ]


async def create_request(
    conn: asyncpg.Connection, person_id: uuid.UUID, community_id: uuid.UUID, d: RequestDraft
) -> RideRequest:
    """The request in ``community_id``."""
    created = await create_request_where(conn, person_id, d, community_id=community_id)
    assert created is not None
    return created


async def create_request_where(
    conn: asyncpg.Connection,
    person_id: uuid.UUID,
    d: RequestDraft,
    *,
    community_id: uuid.UUID | None = None,
    region: str | None = None,
    home_community_id: uuid.UUID | None = None,
) -> RideRequest | None:
    """The request, in ``community_id`` if given, else in the community of ``region`` where it
    starts, else in ``home_community_id``; ``None`` (and nothing written) if none applies.
    One statement, so it needs no transaction of its own."""
    row = await conn.fetchrow(
        SQL_INSERT_REQUEST,
        *_xy_args(d.origin),
        *_xy_args(d.destination),
        d.depart_earliest,
        d.arrive_latest,
        d.passengers,
        d.needs_wheelchair,
        d.needs_child_seat,
        d.needs_help_getting_in,
        community_id,
        region,
        home_community_id,
        d.max_walk_m,
        d.note,
        person_id,
    )
    return None if row is None else _request(row)


async def create_own_request(
    conn: asyncpg.Connection, secret_sha256: bytes, d: RequestDraft, *, region: str
) -> RideRequest | None:
    """The request of the rider whose token's hash is ``secret_sha256``, in the community of
    ``region`` where it starts, else in their home community; ``None`` (nothing written) if
    the token is unknown, expired or revoked, its person deleted or not a rider, or no
    community applies. One statement, so it needs no transaction of its own."""
    row = await conn.fetchrow(
        SQL_INSERT_OWN_REQUEST,
        *_xy_args(d.origin),
        *_xy_args(d.destination),
        d.depart_earliest,
        d.arrive_latest,
        d.passengers,
        d.needs_wheelchair,
        d.needs_child_seat,
        d.needs_help_getting_in,
        secret_sha256,
        region,
        d.max_walk_m,
        d.note,
    )
    if row is None:
        return None
    # The points went in as coordinates and come back as the same doubles: no geometry is
    # decoded for the answer.
    return RideRequest(
        id=row["id"],
        person_id=row["person_id"],
        community_id=row["community_id"],
        status=row["status"],
        origin=d.origin,
        destination=d.destination,
        depart_earliest=d.depart_earliest,
        arrive_latest=d.arrive_latest,
        passengers=d.passengers,
        needs_wheelchair=d.needs_wheelchair,
        needs_child_seat=d.needs_child_seat,
        needs_help_getting_in=d.needs_help_getting_in,
        max_walk_m=d.max_walk_m,
        note=d.note,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancelled_at=None,
    )


async def get_request(conn: asyncpg.Connection, request_id: uuid.UUID) -> RideRequest | None:
    row = await conn.fetchrow(SQL_GET_REQUEST, request_id)
    return None if row is None else _request(row)


async def cancel_request(conn: asyncpg.Connection, request_id: uuid.UUID) -> RideRequest:
    return _request(await conn.fetchrow(SQL_CANCEL_REQUEST, request_id))


async def list_requests(
    conn: asyncpg.Connection,
    flt: ListFilter,
    *,
    see_all: bool,
    me: uuid.UUID,
    scope: Sequence[uuid.UUID],
    person_id: uuid.UUID | None = None,
) -> Page[RideRequest]:
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_REQUESTS,
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
        person_id,
        flt.limit + 1,
    )
    return page_of([_request(r) for r in rows], flt.limit)


async def anonymise_rides(conn: asyncpg.Connection, person_id: uuid.UUID) -> None:
    """Strip a deleted person's rides to what anonymous statistics need."""
    await conn.execute(SQL_ANONYMISE_OFFERS, person_id)
    await conn.execute(SQL_ANONYMISE_REQUESTS, person_id)
    await conn.execute(SQL_ANONYMISE_STOPS, person_id)
    await conn.execute(SQL_ANONYMISE_ROUTES, person_id)
