"""Answers to matches (accept, decline, cancel, complete, no-show): row locks and updates.

The caller owns the transaction and takes the locks in one order: the community's shared write
lock (:func:`maas.store.planning.write_lock`), the match row, then its offer row. The offer row
lock serialises every seat-taking answer on the same offer, so two riders can never both take
the last seat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from maas.domain import booking
from maas.domain.booking import SeatStop
from maas.store.planning import write_lock

SQL_MATCH_COMMUNITY = "SELECT community_id FROM match WHERE id = $1"
SQL_LOCK_MATCH = """
SELECT m.id, m.offer_id, m.occurrence_date, m.community_id, m.status, m.driver_status,
       o.person_id AS driver_id
FROM match m JOIN ride_offer o ON o.id = m.offer_id
WHERE m.id = $1
FOR UPDATE OF m
"""
SQL_MATCH_RIDERS = """
SELECT r.request_id, r.status, q.person_id, q.passengers
FROM match_rider r JOIN ride_request q ON q.id = r.request_id
WHERE r.match_id = $1
ORDER BY r.request_id
"""
SQL_LOCK_OFFER_SEATS = "SELECT seats FROM ride_offer WHERE id = $1 FOR UPDATE"
# The stops of every accepted rider of an offer occurrence, across its live matches.
SQL_ACCEPTED_STOPS = """
SELECT s.planned_at, s.kind::text AS kind, q.passengers
FROM match m
JOIN match_rider r ON r.match_id = m.id
JOIN ride_request q ON q.id = r.request_id
JOIN match_stop s ON s.match_id = m.id AND s.request_id = r.request_id
WHERE m.offer_id = $1 AND m.occurrence_date = $2
  AND m.status IN ('proposed', 'accepted', 'confirmed') AND r.status = 'accepted'
"""
SQL_RIDER_STOPS = """
SELECT s.planned_at, s.kind::text AS kind, q.passengers
FROM match_stop s JOIN ride_request q ON q.id = s.request_id
WHERE s.match_id = $1 AND s.request_id = $2
"""
SQL_ACCEPTED_ELSEWHERE = """
SELECT EXISTS (
    SELECT 1 FROM match_rider r JOIN match m ON m.id = r.match_id
    WHERE r.request_id = $1 AND r.match_id <> $2 AND r.status = 'accepted'
      AND m.status IN ('proposed', 'accepted', 'confirmed', 'completed', 'no_show'))
"""
SQL_SET_RIDER = """
UPDATE match_rider SET status = $3::party_status, updated_at = now()
WHERE match_id = $1 AND request_id = $2
"""
SQL_SET_ACTIVE_RIDERS = """
UPDATE match_rider SET status = $2::party_status, updated_at = now()
WHERE match_id = $1 AND status IN ('pending', 'accepted')
"""
SQL_DELETE_RIDER_STOPS = "DELETE FROM match_stop WHERE match_id = $1 AND request_id = $2"
SQL_SET_DRIVER = """
UPDATE match SET driver_status = $2::party_status, updated_at = now() WHERE id = $1
"""
SQL_SET_STATUS = "UPDATE match SET status = $2::match_status, updated_at = now() WHERE id = $1"


@dataclass(frozen=True, slots=True)
class RiderAnswer:
    request_id: uuid.UUID
    person_id: uuid.UUID
    status: str
    passengers: int


@dataclass(frozen=True, slots=True)
class LockedMatch:
    id: uuid.UUID
    offer_id: uuid.UUID
    occurrence_date: date
    community_id: uuid.UUID
    status: str
    driver_status: str
    driver_id: uuid.UUID
    riders: tuple[RiderAnswer, ...]


async def match_community(conn: asyncpg.Connection, match_id: uuid.UUID) -> uuid.UUID | None:
    value: uuid.UUID | None = await conn.fetchval(SQL_MATCH_COMMUNITY, match_id)
    return value


async def lock_match(conn: asyncpg.Connection, match_id: uuid.UUID) -> LockedMatch | None:
    row = await conn.fetchrow(SQL_LOCK_MATCH, match_id)
    if row is None:
        return None
    riders = tuple(
        RiderAnswer(r["request_id"], r["person_id"], r["status"], r["passengers"])
        for r in await conn.fetch(SQL_MATCH_RIDERS, match_id)
    )
    return LockedMatch(
        id=row["id"],
        offer_id=row["offer_id"],
        occurrence_date=row["occurrence_date"],
        community_id=row["community_id"],
        status=row["status"],
        driver_status=row["driver_status"],
        driver_id=row["driver_id"],
        riders=riders,
    )


async def lock_offer_seats(conn: asyncpg.Connection, offer_id: uuid.UUID) -> int:
    seats: int = await conn.fetchval(SQL_LOCK_OFFER_SEATS, offer_id)
    return seats


async def accepted_stops(
    conn: asyncpg.Connection, offer_id: uuid.UUID, occurrence_date: date
) -> list[SeatStop]:
    rows = await conn.fetch(SQL_ACCEPTED_STOPS, offer_id, occurrence_date)
    return [SeatStop(r["planned_at"], r["kind"], r["passengers"]) for r in rows]


async def rider_stops(
    conn: asyncpg.Connection, match_id: uuid.UUID, request_id: uuid.UUID
) -> list[SeatStop]:
    rows = await conn.fetch(SQL_RIDER_STOPS, match_id, request_id)
    return [SeatStop(r["planned_at"], r["kind"], r["passengers"]) for r in rows]


async def accepted_elsewhere(
    conn: asyncpg.Connection, request_id: uuid.UUID, match_id: uuid.UUID
) -> bool:
    return bool(await conn.fetchval(SQL_ACCEPTED_ELSEWHERE, request_id, match_id))


async def set_rider(
    conn: asyncpg.Connection, match_id: uuid.UUID, request_id: uuid.UUID, status: str
) -> None:
    await conn.execute(SQL_SET_RIDER, match_id, request_id, status)
    if status not in booking.ACTIVE_PARTY:
        # A rider who left has no stops any more; the others' stops and times stay.
        await conn.execute(SQL_DELETE_RIDER_STOPS, match_id, request_id)


async def set_driver(conn: asyncpg.Connection, match_id: uuid.UUID, status: str) -> None:
    await conn.execute(SQL_SET_DRIVER, match_id, status)
    if status not in booking.ACTIVE_PARTY:
        # The ride is off for everyone; riders are open for the next run again.
        await conn.execute(SQL_SET_ACTIVE_RIDERS, match_id, "cancelled")


async def set_status(conn: asyncpg.Connection, match_id: uuid.UUID, status: str) -> None:
    await conn.execute(SQL_SET_STATUS, match_id, status)


async def settle(conn: asyncpg.Connection, match_id: uuid.UUID) -> str:
    """Recompute a match's status from the answers (after riders left it)."""
    locked = await lock_match(conn, match_id)
    assert locked is not None
    status = booking.match_status(
        locked.status, locked.driver_status, (r.status for r in locked.riders)
    )
    if status != locked.status:
        await set_status(conn, match_id, status)
    return status


SQL_LIVE_MATCHES_OF_REQUEST = """
SELECT DISTINCT m.id, m.community_id FROM match m JOIN match_rider r ON r.match_id = m.id
WHERE r.request_id = $1 AND r.status IN ('pending', 'accepted')
  AND m.status IN ('proposed', 'accepted', 'confirmed')
"""
SQL_LIVE_MATCHES_OF_OFFER = """
SELECT id, community_id FROM match
WHERE offer_id = $1 AND status IN ('proposed', 'accepted', 'confirmed')
"""


async def release_request(conn: asyncpg.Connection, request_id: uuid.UUID) -> list[uuid.UUID]:
    """A cancelled request leaves every live match at once (its seats are free again); call it
    in the transaction that cancels the request. Returns the matches it left."""
    rows = await conn.fetch(SQL_LIVE_MATCHES_OF_REQUEST, request_id)
    for community_id in sorted({r["community_id"] for r in rows}):
        await _write_lock_shared(conn, community_id)
    for r in rows:
        await lock_match(conn, r["id"])
        await set_rider(conn, r["id"], request_id, "cancelled")
        await settle(conn, r["id"])
    return [r["id"] for r in rows]


async def release_offer(conn: asyncpg.Connection, offer_id: uuid.UUID) -> list[uuid.UUID]:
    """A cancelled offer ends its live matches at once (the riders are open for the next run);
    call it in the transaction that cancels the offer. Returns the matches it ended."""
    rows = await conn.fetch(SQL_LIVE_MATCHES_OF_OFFER, offer_id)
    for community_id in sorted({r["community_id"] for r in rows}):
        await _write_lock_shared(conn, community_id)
    for r in rows:
        await lock_match(conn, r["id"])
        await set_driver(conn, r["id"], "cancelled")
        await settle(conn, r["id"])
    return [r["id"] for r in rows]


async def _write_lock_shared(conn: asyncpg.Connection, community_id: uuid.UUID) -> None:
    await write_lock(conn, community_id, shared=True)


# ---- answer deadlines ---------------------------------------------------------------------

# Live, not yet confirmed matches of a community with someone still to answer (small: the
# partial index match_unanswered holds only proposed and accepted matches).
SQL_UNANSWERED = """
SELECT m.id, m.created_at, m.departure_at FROM match m
WHERE m.community_id = $1 AND m.status IN ('proposed', 'accepted')
  AND (m.driver_status = 'pending'
       OR EXISTS (SELECT 1 FROM match_rider r WHERE r.match_id = m.id AND r.status = 'pending'))
ORDER BY m.id
"""


@dataclass(frozen=True, slots=True)
class Unanswered:
    match_id: uuid.UUID
    proposed_at: datetime
    departure_at: datetime


async def unanswered(conn: asyncpg.Connection, community_id: uuid.UUID) -> list[Unanswered]:
    rows = await conn.fetch(SQL_UNANSWERED, community_id)
    return [Unanswered(r["id"], r["created_at"], r["departure_at"]) for r in rows]


async def expire_pending(conn: asyncpg.Connection, match_id: uuid.UUID) -> str | None:
    """Expire the pending answers of one match (the caller holds the community's write lock in
    its transaction) and settle it; returns its new status, or None if it is no longer live
    and unconfirmed (answered or ended meanwhile)."""
    locked = await lock_match(conn, match_id)
    if locked is None or locked.status not in ("proposed", "accepted"):
        return None
    if locked.driver_status == "pending":
        # No driver, no ride: everyone still in it is released, the stops stay as history.
        await conn.execute(SQL_SET_DRIVER, match_id, "expired")
        await conn.execute(SQL_SET_ACTIVE_RIDERS, match_id, "expired")
    else:
        for rider in locked.riders:
            if rider.status == "pending":
                await set_rider(conn, match_id, rider.request_id, "expired")
    return await settle(conn, match_id)


async def lock_community_answers(conn: asyncpg.Connection, community_id: uuid.UUID) -> None:
    """Take the community's shared write lock, as every answer does (runs take it exclusive)."""
    await _write_lock_shared(conn, community_id)
