"""The booking lifecycle against the database: answers, illegal moves, seats, and people put
back into the next run."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from support.matching_world import (
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    matches_of,
    tomorrow_at,
    tomorrow_run,
)

from maas.domain.booking import Action
from maas.domain.models import Point, Principal
from maas.errors import ConflictError, ForbiddenError, NotFoundError
from maas.http.matching import answer
from maas.planning.service import MatchingRunner
from maas.store import planning
from maas.store.planning import ProposedStop

pytestmark = pytest.mark.db


def person(person_id: uuid.UUID, world: World, *, operator: bool = False) -> Principal:
    return Principal(
        person_id=person_id,
        home_community_id=world.community_id,
        is_rider=True,
        is_driver=True,
        is_admin=False,
        operator_of=frozenset({world.community_id}) if operator else frozenset(),
    )


async def act(
    conn: asyncpg.Connection,
    who: Principal,
    match_id: uuid.UUID,
    action: Action,
    on_behalf: uuid.UUID | None = None,
) -> str:
    async with conn.transaction():
        return await answer(conn, who, match_id, action, on_behalf)


async def one_match(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> tuple[uuid.UUID, Principal, Principal, uuid.UUID]:
    """A proposed match of one driver and one rider: (match, driver, rider, request)."""
    t = tomorrow_at(7, 30)
    driver = await world.person("Driver")
    rider = await world.person("Rider")
    await world.offer(driver, GAERTRINGEN, HERRENBERG, t)
    request = await world.request(rider, NUFRINGEN, HERRENBERG, t)
    run = await runner.run(tomorrow_run(world))
    [m] = await matches_of(conn, run)
    return m["id"], person(driver, world), person(rider, world), request


async def test_accepted_by_driver_and_rider_is_confirmed_then_completed(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, driver, rider, _ = await one_match(runner, world, conn)
    assert await act(conn, driver, match_id, Action.ACCEPT) == "accepted"
    assert await act(conn, driver, match_id, Action.ACCEPT) == "accepted"  # repeating is fine
    assert await act(conn, rider, match_id, Action.ACCEPT) == "confirmed"
    with pytest.raises(ForbiddenError):
        await act(conn, rider, match_id, Action.COMPLETE)
    operator = person(await world.person("Operator"), world, operator=True)
    assert await act(conn, operator, match_id, Action.COMPLETE) == "completed"
    with pytest.raises(ConflictError):
        await act(conn, driver, match_id, Action.CANCEL)


async def test_illegal_moves_are_conflicts(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, driver, rider, _ = await one_match(runner, world, conn)
    operator = person(await world.person("Operator"), world, operator=True)
    with pytest.raises(ConflictError):
        await act(conn, operator, match_id, Action.NO_SHOW)  # not confirmed
    stranger = person(await world.person("Stranger"), world)
    with pytest.raises(NotFoundError):
        await act(conn, stranger, match_id, Action.ACCEPT)
    assert await act(conn, rider, match_id, Action.DECLINE) == "declined"
    with pytest.raises(ConflictError):
        await act(conn, rider, match_id, Action.ACCEPT)
    with pytest.raises(ConflictError):
        await act(conn, driver, match_id, Action.ACCEPT)  # the match is over


async def test_a_rider_who_declines_leaves_just_that_match_and_rides_with_someone_else(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, _driver, rider, request = await one_match(runner, world, conn)
    other = await world.person("Other driver")
    other_offer = await world.offer(
        other, GAERTRINGEN, HERRENBERG, tomorrow_at(7, 40), max_detour_min=20
    )
    assert await act(conn, rider, match_id, Action.DECLINE) == "declined"
    stops = await conn.fetchval("SELECT count(*) FROM match_stop WHERE match_id = $1", match_id)
    assert stops == 0
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    outcome = await planning.latest_outcome(conn, request)
    assert outcome is not None
    assert outcome.match_id is not None
    new_offer = await conn.fetchval("SELECT offer_id FROM match WHERE id = $1", outcome.match_id)
    assert new_offer == other_offer


async def test_a_driver_who_declines_ends_the_match_and_frees_the_riders(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, driver, rider, request = await one_match(runner, world, conn)
    assert await act(conn, rider, match_id, Action.ACCEPT) == "accepted"
    assert await act(conn, driver, match_id, Action.DECLINE) == "declined"
    statuses = await conn.fetch("SELECT status FROM match_rider WHERE match_id = $1", match_id)
    assert [r["status"] for r in statuses] == ["cancelled"]
    run = await runner.run(tomorrow_run(world))
    assert run.requests_count == 1  # the rider is open again
    outcome = await planning.latest_outcome(conn, request)
    assert outcome is not None
    assert outcome.reason == "only_declined_drivers"


async def test_a_confirmed_rider_stays_with_their_driver_while_others_join(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    match_id, driver, rider, request = await one_match(runner, world, conn)
    await act(conn, driver, match_id, Action.ACCEPT)
    assert await act(conn, rider, match_id, Action.ACCEPT) == "confirmed"
    before = await conn.fetch(
        "SELECT seq, request_id, planned_at FROM match_stop WHERE match_id = $1 ORDER BY seq",
        match_id,
    )
    newcomer = await world.request(
        await world.person("Newcomer"), NUFRINGEN, HERRENBERG, tomorrow_at(7, 25)
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.requests_count == 1
    after = await conn.fetch(
        "SELECT seq, request_id, planned_at FROM match_stop WHERE match_id = $1 ORDER BY seq",
        match_id,
    )
    assert [dict(r) for r in after] == [dict(r) for r in before]
    assert await conn.fetchval("SELECT status FROM match WHERE id = $1", match_id) == "confirmed"
    outcome = await planning.latest_outcome(conn, newcomer)
    assert outcome is not None
    assert outcome.served, outcome.reason
    joined = await conn.fetchrow(
        "SELECT offer_id, occurrence_date FROM match WHERE id = $1", outcome.match_id
    )
    first = await conn.fetchrow(
        "SELECT offer_id, occurrence_date FROM match WHERE id = $1", match_id
    )
    assert dict(joined) == dict(first)  # the same car, as a second proposal
    # The confirmed rider's planned times were kept within the slack.
    stops = await conn.fetch(
        "SELECT kind::text AS kind, planned_at FROM match_stop WHERE match_id = $1 ORDER BY seq",
        outcome.match_id,
    )
    assert [s["kind"] for s in stops] == ["pickup", "dropoff"]
    del request


async def test_seats_are_never_double_booked_across_overlapping_proposals(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    driver = await world.person("Driver")
    offer = await world.offer(driver, GAERTRINGEN, HERRENBERG, t, seats=1)
    run = await planning.start_run(
        conn,
        community_id=world.community_id,
        horizon=(t - timedelta(hours=1), t + timedelta(hours=2)),
        trigger="test",
        requested_by=None,
        params_version=1,
        params={},
    )
    riders = []
    matches = []
    for i in range(2):
        rider = await world.person(f"Rider {i}")
        request = await world.request(rider, NUFRINGEN, HERRENBERG, t)
        match_id = await planning.insert_proposal(
            conn,
            run_id=run.id,
            community_id=world.community_id,
            offer_id=offer,
            occurrence_date=t.date(),
            departure_at=t,
            params_version=1,
            request_ids=[request],
            stops=[
                ProposedStop(
                    request, "pickup", Point(8.888, 48.622), None, t + timedelta(minutes=5)
                ),
                ProposedStop(request, "dropoff", HERRENBERG, None, t + timedelta(minutes=12)),
            ],
            route=[],
        )
        riders.append(person(rider, world))
        matches.append(match_id)
    assert await act(conn, riders[0], matches[0], Action.ACCEPT) == "accepted"
    with pytest.raises(ConflictError) as caught:
        await act(conn, riders[1], matches[1], Action.ACCEPT)
    assert caught.value.extra["reason"] == "no_free_seat"
    # After the first rider cancels, the seat is free again.
    assert await act(conn, riders[0], matches[0], Action.CANCEL) == "cancelled"
    assert await act(conn, riders[1], matches[1], Action.ACCEPT) == "accepted"


async def test_cancelling_the_request_or_the_offer_frees_the_seats_at_once(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    from maas.store import bookings, rides

    match_id, driver, rider, request = await one_match(runner, world, conn)
    await act(conn, driver, match_id, Action.ACCEPT)
    assert await act(conn, rider, match_id, Action.ACCEPT) == "confirmed"
    async with conn.transaction():
        await rides.cancel_request(conn, request)
        assert await bookings.release_request(conn, request) == [match_id]
    assert await conn.fetchval("SELECT status FROM match WHERE id = $1", match_id) == "cancelled"
    assert await conn.fetchval("SELECT count(*) FROM match_stop WHERE match_id = $1", match_id) == 0

    second, driver2, rider2, _ = await one_match(runner, world, conn)
    assert await act(conn, rider2, second, Action.ACCEPT) == "accepted"
    offer = await conn.fetchval("SELECT offer_id FROM match WHERE id = $1", second)
    async with conn.transaction():
        await rides.cancel_offer(conn, offer)
        assert await bookings.release_offer(conn, offer) == [second]
    assert await conn.fetchval("SELECT status FROM match WHERE id = $1", second) == "cancelled"
    statuses = await conn.fetch("SELECT status FROM match_rider WHERE match_id = $1", second)
    assert [r["status"] for r in statuses] == ["cancelled"]
    del driver2


async def test_answers_racing_a_run_never_overbook_nor_double_place_anyone(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Eight riders proposed onto one 2-seat trip accept while a run replaces proposals."""
    import asyncio

    t = tomorrow_at(7, 30)
    offer = await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t, seats=2)
    seeded = await planning.start_run(
        conn,
        community_id=world.community_id,
        horizon=(t - timedelta(hours=1), t + timedelta(hours=2)),
        trigger="test",
        requested_by=None,
        params_version=1,
        params={},
    )
    await planning.fail_run(conn, seeded.id, "seeded by a test", {})
    riders: list[tuple[Principal, uuid.UUID]] = []
    for i in range(8):
        rider = await world.person(f"Rider {i}")
        request = await world.request(rider, NUFRINGEN, HERRENBERG, t - timedelta(minutes=5))
        match_id = await planning.insert_proposal(
            conn,
            run_id=seeded.id,
            community_id=world.community_id,
            offer_id=offer,
            occurrence_date=t.astimezone(ZoneInfo("Europe/Berlin")).date(),
            departure_at=t,
            params_version=1,
            request_ids=[request],
            stops=[
                ProposedStop(request, "pickup", NUFRINGEN, None, t + timedelta(minutes=4)),
                ProposedStop(request, "dropoff", HERRENBERG, None, t + timedelta(minutes=12)),
            ],
            route=[],
        )
        riders.append((person(rider, world), match_id))

    async def accept(who: Principal, match_id: uuid.UUID) -> str:
        async with pool.acquire() as c, c.transaction():
            try:
                return await answer(c, who, match_id, Action.ACCEPT)
            except (ConflictError, NotFoundError) as error:
                return type(error).__name__

    run_task = asyncio.ensure_future(runner.run(tomorrow_run(world)))
    answers = list(await asyncio.gather(*(accept(w, m) for w, m in riders)))
    run = await run_task
    assert run.status == "succeeded", run.error
    assert answers.count("accepted") <= 2
    assert set(answers) <= {"accepted", "ConflictError", "NotFoundError"}
    accepted = await conn.fetchval(
        "SELECT count(*) FROM match m JOIN match_rider r ON r.match_id = m.id "
        "WHERE m.offer_id = $1 AND r.status = 'accepted' AND m.status <> 'cancelled'",
        offer,
    )
    assert accepted == answers.count("accepted")
    twice = await conn.fetchval(
        "SELECT count(*) FROM (SELECT r.request_id FROM match_rider r "
        "JOIN match m ON m.id = r.match_id WHERE m.community_id = $1 "
        "AND m.status IN ('proposed', 'accepted', 'confirmed') "
        "AND r.status IN ('pending', 'accepted') GROUP BY r.request_id HAVING count(*) > 1) x",
        world.community_id,
    )
    assert twice == 0
