"""Answer deadlines against the database: whoever has not answered a proposal in time is
expired, the match settles without them, and the people it frees are matched again."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest
from support.matching_world import (
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    matches_of,
    stops_of,
    tomorrow_at,
    tomorrow_run,
)

from maas.domain.booking import Action
from maas.domain.models import Principal
from maas.http.matching import answer
from maas.planning import answers
from maas.planning.service import MatchingRunner
from maas.store import params as params_store
from maas.store import planning

pytestmark = pytest.mark.db


def person(person_id: uuid.UUID, world: World) -> Principal:
    return Principal(
        person_id=person_id,
        home_community_id=world.community_id,
        is_rider=True,
        is_driver=True,
        is_admin=False,
        operator_of=frozenset(),
    )


async def act(conn: asyncpg.Connection, who: Principal, match_id: uuid.UUID, a: Action) -> str:
    async with conn.transaction():
        return await answer(conn, who, match_id, a, None)


async def one_trip(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection, riders: int
) -> tuple[uuid.UUID, Principal, list[tuple[Principal, uuid.UUID]]]:
    """One driver and ``riders`` riders proposed together: (match, driver, [(rider, request)])."""
    t = tomorrow_at(7, 30)
    driver = await world.person("Driver")
    await world.offer(driver, GAERTRINGEN, HERRENBERG, t)
    people = []
    for i in range(riders):
        rider = await world.person(f"Rider {i}")
        people.append((person(rider, world), await world.request(rider, NUFRINGEN, HERRENBERG, t)))
    run = await runner.run(tomorrow_run(world))
    [m] = await matches_of(conn, run)
    return m["id"], person(driver, world), people


async def state(conn: asyncpg.Connection, match_id: uuid.UUID) -> tuple[str, str, list[str]]:
    row = await conn.fetchrow("SELECT status, driver_status FROM match WHERE id = $1", match_id)
    riders = await conn.fetch(
        "SELECT status FROM match_rider WHERE match_id = $1 ORDER BY request_id", match_id
    )
    return str(row["status"]), str(row["driver_status"]), sorted(str(r["status"]) for r in riders)


async def kinds(conn: asyncpg.Connection, person_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT kind FROM event WHERE person_id = $1 ORDER BY id", person_id)
    return [r["kind"] for r in rows]


async def proposed_at(conn: asyncpg.Connection, match_id: uuid.UUID) -> datetime:
    at: datetime = await conn.fetchval("SELECT created_at FROM match WHERE id = $1", match_id)
    return at


async def test_a_silent_rider_expires_and_the_others_are_confirmed(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, driver, riders = await one_trip(runner, world, conn, 2)
    (quick, _), (silent, silent_request) = riders
    assert await act(conn, driver, match_id, Action.ACCEPT) == "accepted"
    assert await act(conn, quick, match_id, Action.ACCEPT) == "accepted"
    at = await proposed_at(conn, match_id)

    # Not yet due: a minute after the proposal nothing changes.
    assert await answers.expire_community(conn, world.community_id, at + timedelta(minutes=1)) == 0
    assert await state(conn, match_id) == ("accepted", "accepted", ["accepted", "pending"])

    # The default answer time (240 min) or the cut-off has passed: the silent rider leaves.
    late = at + timedelta(minutes=241)
    assert await answers.expire_community(conn, world.community_id, late) == 1
    assert await state(conn, match_id) == ("confirmed", "accepted", ["accepted", "expired"])
    assert not [s for s in await stops_of(conn, match_id) if s["request_id"] == silent_request]
    assert "match.rider_expired" in await kinds(conn, silent.person_id)
    assert "match.confirmed" in await kinds(conn, quick.person_id)
    # Repeating the tick changes nothing.
    assert await answers.expire_community(conn, world.community_id, late) == 0
    # The freed rider is open for the next run again (an expiry keeps no one apart).
    requests = await planning.open_requests(
        conn, world.community_id, tomorrow_at(0), tomorrow_at(23)
    )
    assert silent_request in {r.id for r in requests}


async def test_a_silent_driver_ends_the_match_and_frees_every_rider(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, _driver, riders = await one_trip(runner, world, conn, 1)
    [(rider, request)] = riders
    assert await act(conn, rider, match_id, Action.ACCEPT) == "accepted"
    late = await proposed_at(conn, match_id) + timedelta(minutes=241)
    assert await answers.expire_community(conn, world.community_id, late) == 1
    assert await state(conn, match_id) == ("expired", "expired", ["expired"])
    # The rider hears why: the driver did not answer (and their own place is released).
    assert {"match.driver_expired", "match.rider_expired"} <= set(
        await kinds(conn, rider.person_id)
    )
    # The rider can be proposed again, to the same driver too.
    run = await runner.run(tomorrow_run(world))
    [again] = await matches_of(conn, run)
    assert again["status"] == "proposed"
    assert (
        await conn.fetchval("SELECT request_id FROM match_rider WHERE match_id = $1", again["id"])
        == request
    )


async def test_without_an_answer_time_the_cut_off_is_the_deadline(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    await params_store.save(
        conn, world.community_id, {"answer_min": 0}, changed_by=None, reason="test"
    )
    match_id, _, _ = await one_trip(runner, world, conn, 1)
    departure = await conn.fetchval("SELECT departure_at FROM match WHERE id = $1", match_id)
    cutoff = departure - timedelta(minutes=120)  # the default cut-off
    before = cutoff - timedelta(minutes=1)
    assert await answers.expire_community(conn, world.community_id, before) == 0
    assert await state(conn, match_id) == ("proposed", "pending", ["pending"])
    assert await answers.expire_community(conn, world.community_id, cutoff) == 1
    assert await state(conn, match_id) == ("expired", "expired", ["expired"])


async def test_a_confirmed_match_never_expires(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, driver, [(rider, _)] = await one_trip(runner, world, conn, 1)
    assert await act(conn, driver, match_id, Action.ACCEPT) == "accepted"
    assert await act(conn, rider, match_id, Action.ACCEPT) == "confirmed"
    departure = await conn.fetchval("SELECT departure_at FROM match WHERE id = $1", match_id)
    assert await answers.expire_community(conn, world.community_id, departure) == 0
    assert await state(conn, match_id) == ("confirmed", "accepted", ["accepted"])
