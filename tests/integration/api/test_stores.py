"""Repositories on their own: a proposal is written whole or not at all; keyset pages."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from support.api_world import World

from maas import db
from maas.domain.models import Endpoint, Point
from maas.domain.rides import OfferDraft, RequestDraft
from maas.settings import Settings
from maas.store import rides
from maas.store.common import ListFilter
from maas.store.matches import NewMatch, NewStop, insert_match

SQL_MATCHES_OF_OFFER = "SELECT count(*) FROM match WHERE offer_id = $1"


def _draft(hours: int) -> RequestDraft:
    start = datetime.now(UTC) + timedelta(hours=hours)
    here = Endpoint(Point(8.83, 48.59), None, None)
    there = Endpoint(Point(8.85, 48.60), None, None)
    return RequestDraft(
        here, there, start, start + timedelta(hours=1), 1, False, False, False, 500, None
    )


async def test_keyset_pages_cover_everything_once(
    api_conn: asyncpg.Connection, world: World
) -> None:
    me = world["rider_east"].id
    made = [
        (await rides.create_request(api_conn, me, world.east, _draft(h))).id for h in range(2, 9)
    ]
    seen: list[uuid.UUID] = []
    flt = ListFilter(limit=3)
    while True:
        page = await rides.list_requests(
            api_conn, flt, see_all=False, me=me, scope=(), person_id=me
        )
        seen += [r.id for r in page.items]
        if not page.has_more:
            break
        last = page.items[-1]
        flt = ListFilter(limit=3, after=(last.created_at, last.id))
    # Rows of one transaction share created_at (now()); the id breaks the tie, so the order
    # among them is by id, and no row is skipped or repeated.
    assert set(made) <= set(seen)
    assert len(seen) == len(set(seen))


async def test_a_proposal_with_a_stray_stop_is_not_written(
    api_settings: Settings, world: World
) -> None:
    async with db.connection(api_settings) as conn:
        start = datetime.now(UTC) + timedelta(days=1)
        offer = await rides.create_offer(
            conn,
            world["driver_west"].id,
            world.west,
            OfferDraft(
                origin=Endpoint(Point(8.83, 48.59), None, None),
                destination=Endpoint(Point(8.85, 48.60), None, None),
                depart_earliest=start,
                depart_latest=start + timedelta(minutes=30),
                weekly=None,
                seats=3,
                max_detour_min=15,
                max_detour_pct=50,
                wheelchair=False,
                child_seat=False,
                luggage=False,
                note=None,
            ),
        )
        request = await rides.create_request(conn, world["rider_west"].id, world.west, _draft(30))
        other = await rides.create_request(conn, world["rider_west"].id, world.west, _draft(31))
        before = await conn.fetchval(SQL_MATCHES_OF_OFFER, offer.id)
        when = datetime.now(UTC) + timedelta(days=1)
        bad = NewMatch(
            offer_id=offer.id,
            occurrence_date=date.today(),
            departure_at=when,
            community_id=offer.community_id,
            request_ids=[request.id],
            # A stop of a request that is not a rider of this match.
            stops=[NewStop(other.id, "pickup", Point(8.83, 48.59), when)],
        )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await insert_match(conn, bad)
        assert await conn.fetchval(SQL_MATCHES_OF_OFFER, offer.id) == before
