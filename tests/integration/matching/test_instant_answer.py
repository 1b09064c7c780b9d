"""Instant answer: a new request is inserted into the day's plan by cheapest insertion."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from support.matching_world import (
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    tomorrow_at,
)

import matching
from maas.planning import instant, worker
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
    answers = instant.InstantAnswers(
        pool, lambda: None, network, asyncio.Event(), snap_max_distance_m=1000.0
    )
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
