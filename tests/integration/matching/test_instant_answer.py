"""Instant answer: a new request is inserted into the day's plan by cheapest insertion."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import pytest
from support.matching_world import (
    AFFSTAETT,
    GAERTRINGEN,
    GUELTSTEIN,
    HERRENBERG,
    KUPPINGEN,
    NAGOLD,
    NUFRINGEN,
    World,
    new_world,
    tomorrow_at,
)

import matching
from maas.domain.models import Point
from maas.domain.recurrence import WeeklyRule
from maas.planning import instant, worker
from maas.planning.plan import PlanInput, build_problem
from maas.planning.service import PlacesCache, RequestsMemo
from maas.roads import RoadNetwork
from maas.settings import Settings

pytestmark = pytest.mark.db


async def _answer(
    conn: asyncpg.Connection,
    network: RoadNetwork,
    settings: Settings,
    request_id: uuid.UUID,
) -> instant.Answer:
    found = await instant.read_day(
        conn,
        request_id,
        network_path=network.path,
        snap_max_distance_m=settings.snap_max_distance_m,
    )
    assert found is not None
    inp, _ = found
    return await asyncio.to_thread(instant.answer_on, network, inp, request_id)


def _answerer(
    pool: asyncpg.Pool, network: RoadNetwork, wake: asyncio.Event | None = None
) -> instant.InstantAnswers:
    """The service's answerer, in threads of this process (no worker pool)."""
    return instant.InstantAnswers(
        pool, lambda: None, network, wake or asyncio.Event(), snap_max_distance_m=1000.0
    )


async def test_a_seat_is_likely_with_a_pickup_time_and_place(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    t = tomorrow_at(7, 30)
    offer = await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    first = await world.request(await world.person("Rider A"), NUFRINGEN, HERRENBERG, t)
    second = await world.request(await world.person("Rider B"), NUFRINGEN, HERRENBERG, t)
    ans = await _answer(conn, network, matching_settings, second)
    assert ans.likely
    assert ans.offer_id == str(offer)
    assert ans.riders_in_plan == 1  # rider A is in the day's plan first
    assert ans.pickup is not None
    assert ans.pickup_s is not None
    assert ans.dropoff_s is not None
    assert ans.pickup_s < ans.dropoff_s
    assert first != second
    print(f"\ninstant answer computed in {ans.compute_s * 1000:.1f} ms")


async def test_no_seat_without_a_driver(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    rider = await world.request(await world.person("Lonely"), NUFRINGEN, HERRENBERG, tomorrow_at(9))
    ans = await _answer(conn, network, matching_settings, rider)
    assert not ans.likely


async def test_the_plan_and_the_insertion_pass_the_matchers_check(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    t = tomorrow_at(8)
    await world.offer(await world.person("D"), GAERTRINGEN, HERRENBERG, t, seats=1)
    for name in ("R1", "R2"):
        await world.request(await world.person(name), NUFRINGEN, HERRENBERG, t)
    new = await world.request(await world.person("R3"), NUFRINGEN, HERRENBERG, t)
    found = await instant.read_day(
        conn,
        new,
        network_path=network.path,
        snap_max_distance_m=matching_settings.snap_max_distance_m,
    )
    assert found is not None
    inp, _ = found
    _, located = worker.locate(network, inp, {})
    problem = located.problem
    plan = instant._empty_plan(problem)
    assert not matching.check(problem, plan)
    ans = await asyncio.to_thread(instant.answer_on, network, inp, new)
    assert not ans.likely  # one seat, already given to R1 in the day's plan
    assert ans.riders_in_plan == 1


async def test_the_answer_is_an_event_for_the_rider(
    world: World,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    rider = await world.person("Rider")
    request_id = await world.request(rider, NUFRINGEN, HERRENBERG, t)
    answers = _answerer(pool, network)
    ans = await answers.answer(request_id)
    assert ans is not None
    assert ans.likely
    payload = json.loads(
        await conn.fetchval(
            "SELECT payload FROM event WHERE person_id = $1 AND kind = $2", rider, instant.KIND
        )
    )
    assert payload["likely"] is True
    assert payload["request_id"] == str(request_id)
    pickup = datetime.fromisoformat(payload["pickup_at"])
    assert abs(pickup - t) < timedelta(hours=1)
    assert pickup.tzinfo is not None
    assert datetime.now(UTC) < pickup


async def _read(
    conn: asyncpg.Connection,
    network: RoadNetwork,
    settings: Settings,
    request_id: uuid.UUID,
    now: datetime,
) -> PlanInput:
    found = await instant.read_day(
        conn,
        request_id,
        network_path=network.path,
        snap_max_distance_m=settings.snap_max_distance_m,
        now=now,
    )
    assert found is not None
    return found[0]


def _same(ans: instant.Answer) -> instant.Answer:
    return dataclasses.replace(ans, compute_s=0.0, cache_hit=False)


async def test_a_cached_answer_equals_a_from_scratch_answer(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    t = tomorrow_at(7, 30)
    now = datetime.now(UTC).replace(microsecond=0)
    key = f"test/{uuid.uuid4()}"
    await world.offer(await world.person("D1"), GAERTRINGEN, HERRENBERG, t, max_detour_pct=100)
    await world.offer(await world.person("D2"), KUPPINGEN, GUELTSTEIN, t, seats=2)
    await world.offer(await world.person("D3"), NUFRINGEN, HERRENBERG, t, window_min=30)
    first = await world.request(await world.person("A"), NUFRINGEN, HERRENBERG, t)
    await world.request(await world.person("B"), NUFRINGEN, HERRENBERG, t)
    # No driver passes Nagold: left out of the plan, and out of the kept day's problem.
    far = await world.request(await world.person("Far"), NAGOLD, GUELTSTEIN, t)
    inp = await _read(conn, network, matching_settings, first, now)
    built = await asyncio.to_thread(
        functools.partial(instant.answer_on, cache_as=key), network, inp, first
    )
    assert not built.cache_hit
    assert _same(built) == _same(await asyncio.to_thread(instant.answer_on, network, inp, first))

    # Two requests posted after the first answer, one from places the day had not seen.
    await world.request(await world.person("C"), AFFSTAETT, GUELTSTEIN, t)
    new = await world.request(await world.person("E"), NUFRINGEN, HERRENBERG, t)
    inp = await _read(conn, network, matching_settings, new, now)
    cached = await asyncio.to_thread(
        functools.partial(instant.answer_on, cache_as=key), network, inp, new
    )
    assert cached.cache_hit
    scratch = await asyncio.to_thread(instant.answer_on, network, inp, new)
    assert not scratch.cache_hit
    assert cached.likely
    assert _same(cached) == _same(scratch)

    # The extended matrix is the from-scratch matrix over the same points, and the kept plan
    # (every rider inserted, the new one last) passes the matcher's check.
    day = instant._days[key]
    assert np.array_equal(day.matrix, worker._matrix(network, inp, day.snaps, day.location_of))
    problem = worker.without_drivers(
        build_problem(inp, day.location_of, day.matrix).problem, day.stuck
    )
    assert not matching.check(problem, day.plan)
    assert str(new) in day.plan.assignments
    assert str(far) not in day.plan.assignments


async def test_an_offer_cancellation_invalidates_the_cache(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    t = tomorrow_at(8)
    now = datetime.now(UTC).replace(microsecond=0)
    key = f"test/{uuid.uuid4()}"
    offer = await world.offer(await world.person("D"), GAERTRINGEN, HERRENBERG, t)
    first = await world.request(await world.person("R1"), NUFRINGEN, HERRENBERG, t)
    inp = await _read(conn, network, matching_settings, first, now)
    ans = await asyncio.to_thread(
        functools.partial(instant.answer_on, cache_as=key), network, inp, first
    )
    assert ans.likely
    assert ans.offer_id == str(offer)

    await conn.execute("UPDATE ride_offer SET status = 'cancelled' WHERE id = $1", offer)
    second = await world.request(await world.person("R2"), NUFRINGEN, HERRENBERG, t)
    inp = await _read(conn, network, matching_settings, second, now)
    ans = await asyncio.to_thread(
        functools.partial(instant.answer_on, cache_as=key), network, inp, second
    )
    assert not ans.cache_hit
    assert not ans.likely


def test_the_answer_horizon_starts_at_the_next_minute() -> None:
    at = datetime(2026, 1, 5, 7, 30, 12, 5, tzinfo=UTC)
    assert instant._next_minute(at) == datetime(2026, 1, 5, 7, 31, tzinfo=UTC)
    on = datetime(2026, 1, 5, 7, 30, tzinfo=UTC)
    assert instant._next_minute(on) == on


def test_backward_search_gives_the_forward_times(network: RoadNetwork) -> None:
    points = (GAERTRINGEN, NUFRINGEN, HERRENBERG, KUPPINGEN, AFFSTAETT, GUELTSTEIN)
    snaps = [network.snap(p.lon, p.lat, "point", 1000.0) for p in points]
    for limit in (None, 600.0):
        forward = network.travel_time_matrix(snaps, snaps[:2], limit_s=limit)
        backward = network.travel_times_to(snaps, snaps[:2], limit_s=limit)
        assert np.array_equal(np.isinf(forward), np.isinf(backward))
        finite = np.isfinite(forward)
        assert np.allclose(forward[finite], backward[finite], rtol=1e-9, atol=1e-6)


async def test_a_request_that_waited_too_long_gets_no_instant_answer(
    pool: asyncpg.Pool, network: RoadNetwork, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    rider = await world.person("Rider")
    request_id = await world.request(rider, NUFRINGEN, HERRENBERG, t)
    answers = _answerer(pool, network)
    late = datetime.now(UTC) - timedelta(seconds=instant.MAX_WAIT_S + 1)
    assert await answers.answer(request_id, created_at=late) is None
    assert answers.skipped == 1
    told = "SELECT count(*) FROM event WHERE person_id = $1 AND kind = $2"
    assert await conn.fetchval(told, rider, instant.KIND) == 0
    # In time, the same request is answered.
    assert await answers.answer(request_id, created_at=datetime.now(UTC)) is not None
    assert await conn.fetchval(told, rider, instant.KIND) == 1


async def test_a_pass_answers_its_requests_in_the_order_they_came(
    world: World,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    """Requests answered in one pass see each other as if answered one by one: the one seat
    goes to whichever came first, and each rider is told in the same pass."""
    t = tomorrow_at(7, 30)
    offer = await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t, seats=1)
    first_rider, second_rider = await world.person("First"), await world.person("Second")
    first = await world.request(first_rider, NUFRINGEN, HERRENBERG, t)
    second = await world.request(second_rider, NUFRINGEN, HERRENBERG, t)
    rows = await conn.fetch(instant.SQL_REQUESTS, [first, second])
    inp = await instant.read_group(
        conn,
        rows,
        network_path=network.path,
        snap_max_distance_m=matching_settings.snap_max_distance_m,
    )
    assert inp is not None
    # Answered alone, the first does not see the second, posted after it.
    alone = await instant.read_group(
        conn,
        [r for r in rows if r["id"] == first],
        network_path=network.path,
        snap_max_distance_m=matching_settings.snap_max_distance_m,
    )
    assert alone is not None
    assert {r.id for r in alone.requests} == {first}
    for order in ((first, second), (second, first)):
        ahead, behind = await asyncio.to_thread(instant.answers_on, network, inp, order)
        assert ahead.likely
        assert ahead.offer_id == str(offer)
        assert not behind.likely
        assert behind.riders_in_plan == ahead.riders_in_plan + 1

    answers = _answerer(pool, network)
    late = datetime.now(UTC) - timedelta(seconds=instant.MAX_WAIT_S + 1)
    gone = uuid.uuid4()
    now = datetime.now(UTC)
    answered = await answers.answer_all([(first, now), (gone, now), (second, late)])
    assert set(answered) == {first}  # the unknown one is skipped, the late one too
    assert answers.skipped == 1
    assert answered[first].likely  # the second, posted later, is not in its day
    told = "SELECT payload FROM event WHERE person_id = $1 AND kind = $2"
    payload = json.loads(await conn.fetchval(told, first_rider, instant.KIND))
    assert payload["request_id"] == str(first)
    assert payload["likely"] is True
    assert await conn.fetchval(told, second_rider, instant.KIND) is None


async def test_a_request_that_commits_after_a_later_one_is_answered_too(
    world: World, conn: asyncpg.Connection, pool: asyncpg.Pool, network: RoadNetwork
) -> None:
    """Event ids are taken at insert and seen at commit: the answerer reads in commit order,
    so a request whose id is below one already answered is still answered, once."""
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    slow_rider, fast_rider = await world.person("Slow"), await world.person("Fast")
    wake = asyncio.Event()
    answers = _answerer(pool, network, wake)
    answers.start()
    told = "SELECT count(*) FROM event WHERE person_id = $1 AND kind = $2"

    async def answered(person: uuid.UUID) -> bool:
        for _ in range(100):
            wake.set()
            if await conn.fetchval(told, person, instant.KIND):
                return True
            await asyncio.sleep(0.1)
        return False

    try:
        await asyncio.sleep(0.2)  # the answerer has taken its starting point
        async with pool.acquire() as other:
            slow_world = dataclasses.replace(world, conn=other)
            async with other.transaction():
                slow = await slow_world.request(slow_rider, NUFRINGEN, HERRENBERG, t)
                fast = await world.request(fast_rider, NUFRINGEN, HERRENBERG, t)
                for _ in range(3):  # the answerer looks while the slow one is still open
                    wake.set()
                    await asyncio.sleep(0.1)
            slow_id = "SELECT id FROM event WHERE payload ->> 'request_id' = $1"
            assert await conn.fetchval(slow_id, str(slow)) < await conn.fetchval(slow_id, str(fast))
        assert await answered(slow_rider)
        assert await answered(fast_rider)
        await asyncio.sleep(0.5)
        for person in (slow_rider, fast_rider):
            assert await conn.fetchval(told, person, instant.KIND) == 1
    finally:
        await answers.close()


async def test_the_answerer_keeps_answering_after_a_pass_fails(
    world: World,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    network: RoadNetwork,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass that fails for any reason (here a bug) loses its requests' answers, not the
    answerer: the next request is answered."""
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    first_rider, second_rider = await world.person("First"), await world.person("Second")
    wake = asyncio.Event()
    answers = _answerer(pool, network, wake)
    real = answers.answer_all
    failed: list[int] = []

    async def failing_once(
        requests: Sequence[tuple[uuid.UUID, datetime | None]],
    ) -> dict[uuid.UUID, instant.Answer]:
        if not failed:
            failed.append(len(requests))
            raise RuntimeError("a bug")
        return await real(requests)

    monkeypatch.setattr(answers, "answer_all", failing_once)
    told = "SELECT count(*) FROM event WHERE person_id = $1 AND kind = $2"
    answers.start()
    try:
        await asyncio.sleep(0.2)  # the answerer has taken its starting point
        await world.request(first_rider, NUFRINGEN, HERRENBERG, t)
        for _ in range(100):
            wake.set()
            if failed:
                break
            await asyncio.sleep(0.1)
        assert failed == [1]
        await world.request(second_rider, NUFRINGEN, HERRENBERG, t)
        for _ in range(100):
            wake.set()
            if await conn.fetchval(told, second_rider, instant.KIND):
                break
            await asyncio.sleep(0.1)
        assert await conn.fetchval(told, second_rider, instant.KIND) == 1
        assert await conn.fetchval(told, first_rider, instant.KIND) == 0
    finally:
        await answers.close()


async def test_a_request_posted_before_the_pass_reads_waits_for_its_turn(
    world: World, pool: asyncpg.Pool, network: RoadNetwork
) -> None:
    """B is posted (and visible) before A's pass reads the day: A is still answered as if
    B did not exist yet, and B then from the kept day, after A."""
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t, seats=1)
    a = await world.request(await world.person("A"), NUFRINGEN, HERRENBERG, t)
    b = await world.request(await world.person("B"), NUFRINGEN, HERRENBERG, t)
    answers = _answerer(pool, network)
    now = datetime.now(UTC)
    first = (await answers.answer_all([(a, now)]))[a]
    assert first.likely
    assert first.riders_in_plan == 0
    second = (await answers.answer_all([(b, now)]))[b]
    assert second.cache_hit
    assert not second.likely
    assert second.riders_in_plan == 1


def _somewhere() -> Point:
    """A random spot in the fields between the villages, where no other test puts a meeting
    point (the test database keeps them)."""
    return Point(8.80 + random.random() * 0.05, 48.63 + random.random() * 0.03)


async def test_days_read_together_are_the_days_read_alone_in_a_few_queries(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    """A pass reads every day it answers at once: each day's input is the one it would get
    alone (offers, weekly trips, meeting points within the community's walk, the requests
    posted after the answered ones left out), and more days cost no more queries."""
    other = await new_world(conn, max_walk_m=20)
    t = tomorrow_at(7, 30)
    later = t + timedelta(days=1)
    days = [d.astimezone(ZoneInfo("Europe/Berlin")) for d in (t, later)]
    weekly = WeeklyRule(
        weekdays=tuple(sorted(d.isoweekday() for d in days)),
        local_depart_earliest=time(7, 30),
        local_depart_latest=time(7, 45),
        valid_from=days[0].date() - timedelta(days=7),
    )
    await world.offer(await world.person("Weekly"), GAERTRINGEN, HERRENBERG, weekly=weekly)
    await world.offer(await world.person("Once"), NUFRINGEN, HERRENBERG, later)
    # The riders live at a spot of their own (other tests' meeting points stay away), with a
    # bench 44 m away: within the first community's walk, not the other's.
    home = _somewhere()
    bank = Point(home.lon + 0.0006, home.lat)
    await world.meeting_point("Bank", bank)
    await other.offer(await other.person("Other"), GAERTRINGEN, HERRENBERG, t)
    groups = []
    for w, at in ((world, t), (world, later), (other, t)):
        first = await w.request(await w.person("A"), home, HERRENBERG, at)
        second = await w.request(await w.person("B"), home, HERRENBERG, at)
        await w.request(await w.person("After"), home, HERRENBERG, at)
        groups.append(list(await conn.fetch(instant.SQL_REQUESTS, [first, second])))
    read: dict[str, Any] = {
        "network_path": network.path,
        "snap_max_distance_m": matching_settings.snap_max_distance_m,
        "now": instant._next_minute(datetime.now(UTC)),
    }
    queries: list[str] = []

    def logged(record: Any) -> None:
        queries.append(record.query)

    await instant.read_groups(conn, groups, **read)  # asyncpg learns the types first
    conn.add_query_logger(logged)
    alone = [await instant.read_group(conn, rows, **read) for rows in groups]
    await asyncio.sleep(0)  # asyncpg tells its query loggers soon after, not at once
    one_day = len(queries) / len(groups)
    queries.clear()
    together = await instant.read_groups(conn, groups, **read)
    await asyncio.sleep(0)
    conn.remove_query_logger(logged)
    assert together == alone
    # One day's queries for the three days, and the meeting points near the requests looked
    # up once more for the other walking limit (both ends).
    assert len(queries) == one_day + 2
    found = [inp for inp in together if inp is not None]
    assert len(found) == 3
    for inp, rows in zip(found, groups, strict=True):
        # The two answered requests are in their day, the one posted after them is not.
        assert {r.id for r in inp.requests} == {r["id"] for r in rows}
    # The weekly offer runs on both days of the first community.
    assert [len(inp.occurrences) for inp in found] == [1, 2, 1]
    for inp, reached in zip(found, (True, True, False), strict=True):
        for r in inp.requests:
            assert ((bank.lon, bank.lat) in {(p.lon, p.lat) for p in r.pickups}) is reached


async def test_a_reader_that_keeps_requests_sees_every_change(
    world: World,
    conn: asyncpg.Connection,
    network: RoadNetwork,
    matching_settings: Settings,
) -> None:
    """Rows and riders kept between passes (:class:`RequestsMemo`) give the input a fresh
    read gives, after a request changed, a new meeting point and a new request."""
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    home = _somewhere()
    first = await world.request(await world.person("A"), home, HERRENBERG, t)
    second = await world.request(await world.person("B"), home, HERRENBERG, t)
    places, memo = PlacesCache(), RequestsMemo()
    read: dict[str, Any] = {
        "network_path": network.path,
        "snap_max_distance_m": matching_settings.snap_max_distance_m,
        "now": instant._next_minute(datetime.now(UTC)),
    }

    async def both() -> PlanInput:
        rows = list(await conn.fetch(instant.SQL_REQUESTS, [second]))
        (kept,) = await instant.read_groups(conn, [rows], places=places, memo=memo, **read)
        (fresh,) = await instant.read_groups(conn, [rows], **read)
        assert kept == fresh
        assert kept is not None
        return kept

    before = await both()
    again = await both()
    assert [r is s for r, s in zip(before.requests, again.requests, strict=True)] == [True] * 2
    await conn.execute("UPDATE ride_request SET passengers = 2 WHERE id = $1", first)
    changed = await both()
    assert [r.passengers for r in changed.requests if r.id == first] == [2]
    assert [r for r in changed.requests if r.id == second] == [
        r for r in again.requests if r.id == second
    ]
    spot = Point(home.lon, home.lat + 0.0004)
    await world.meeting_point("New bench", spot)
    moved = await both()
    assert all((spot.lon, spot.lat) in {(p.lon, p.lat) for p in r.pickups} for r in moved.requests)
    await conn.execute("UPDATE ride_request SET status = 'cancelled' WHERE id = $1", first)
    third = await world.request(await world.person("C"), home, HERRENBERG, t)
    rows = list(await conn.fetch(instant.SQL_REQUESTS, [third]))
    (kept,) = await instant.read_groups(conn, [rows], places=places, memo=memo, **read)
    assert kept == (await instant.read_groups(conn, [rows], **read))[0]
    assert kept is not None
    assert {r.id for r in kept.requests} == {second, third}
