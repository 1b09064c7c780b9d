"""Fair load in a real run: the rides a volunteer already gives this week make the fairness
weight send a rider to a driver with fewer (no ride is taken away: a rider is served either
way); a what-if replay of a day starts from the rides given earlier that week."""

from __future__ import annotations

import dataclasses
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
from maas.domain.models import Principal
from maas.http.matching import answer
from maas.planning import worker
from maas.planning.params import MatchingParams
from maas.planning.service import MatchingRunner, read_input
from maas.roads import RoadNetwork
from maas.settings import Settings
from maas.store import params as params_store
from maas.store import planning
from maas.whatif import read_past_day

pytestmark = pytest.mark.db


async def _two_drivers_one_busy(
    world: World, conn: asyncpg.Connection, rides: int
) -> tuple[uuid.UUID, uuid.UUID]:
    """Two volunteers offer the same trip; the first already gives ``rides`` rides this week
    (that evening, on another offer). Returns (busy offer, fresh offer)."""
    t = tomorrow_at(7, 30)
    busy, fresh = await world.person("Busy Driver"), await world.person("Fresh Driver")
    busy_offer = await world.offer(busy, GAERTRINGEN, HERRENBERG, t)
    fresh_offer = await world.offer(fresh, GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    evening = await world.offer(busy, HERRENBERG, GAERTRINGEN, tomorrow_at(17))
    for _ in range(rides):
        await conn.execute(
            "INSERT INTO match (offer_id, occurrence_date, departure_at, community_id, status)"
            " VALUES ($1, $2, $3, $4, 'confirmed')",
            evening,
            tomorrow_at(17).astimezone(ZoneInfo("Europe/Berlin")).date(),
            tomorrow_at(17),
            world.community_id,
        )
    return busy_offer, fresh_offer


async def test_the_rider_goes_to_the_driver_with_fewer_rides_this_week(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    _busy, fresh_offer = await _two_drivers_one_busy(world, conn, rides=3)
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.params["fairness_weight"] == 60
    assert [m["offer_id"] for m in await matches_of(conn, run)] == [fresh_offer]


async def test_without_the_weight_the_tie_goes_to_the_first_offer(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    busy_offer, _fresh = await _two_drivers_one_busy(world, conn, rides=3)
    await params_store.save(
        conn, world.community_id, {"fairness_weight": 0}, changed_by=None, reason="test"
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.params["fairness_weight"] == 0
    # Both trips drive the same: with driving alone in the objective the first one wins.
    assert [m["offer_id"] for m in await matches_of(conn, run)] == [busy_offer]


async def test_a_replay_starts_from_the_rides_given_earlier_that_week(
    world: World, conn: asyncpg.Connection, network: RoadNetwork, matching_settings: Settings
) -> None:
    zone = ZoneInfo("Europe/Berlin")
    # A Wednesday after tomorrow: its Tuesday (same ISO week) is not in the past either.
    t = tomorrow_at(7, 30) + timedelta(days=1)
    t += timedelta(days=(2 - t.astimezone(zone).weekday()) % 7)
    day = t.astimezone(zone).date()
    busy, fresh = await world.person("Busy Driver"), await world.person("Fresh Driver")
    busy_offer = await world.offer(busy, GAERTRINGEN, HERRENBERG, t)
    fresh_offer = await world.offer(fresh, GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    tuesday = await world.offer(busy, HERRENBERG, GAERTRINGEN, t - timedelta(days=1))
    for _ in range(3):
        await conn.execute(
            "INSERT INTO match (offer_id, occurrence_date, departure_at, community_id, status)"
            " VALUES ($1, $2, $3, $4, 'completed')",
            tuesday,
            day - timedelta(days=1),
            t - timedelta(days=1),
            world.community_id,
        )
    params = MatchingParams(time_limit_s=0.5)
    assert network.path is not None
    inp, _meta = await read_past_day(
        conn,
        world.community_id,
        day,
        params,
        network_path=network.path,
        snap_max_distance_m=matching_settings.snap_max_distance_m,
    )
    before = {o.offer_id: o.rides_before for o in inp.occurrences}
    assert (before[busy_offer], before[fresh_offer]) == (3, 0)
    fair = worker.plan_on(network, inp)
    assert [r.offer_id for r in fair.routes] == [fresh_offer]
    off = worker.plan_on(
        network,
        dataclasses.replace(inp, params=MatchingParams(time_limit_s=0.5, fairness_weight=0)),
    )
    assert [r.offer_id for r in off.routes] == [busy_offer]


async def test_a_held_match_counts_once_not_as_a_ride_before_and_as_riders(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    busy_offer, _fresh = await _two_drivers_one_busy(world, conn, rides=2)
    # Without the weight the tie goes to the busy driver's offer (the first).
    await params_store.save(
        conn, world.community_id, {"fairness_weight": 0}, changed_by=None, reason="test"
    )
    run = await runner.run(tomorrow_run(world))
    [m] = await matches_of(conn, run)
    assert m["offer_id"] == busy_offer
    parties = await conn.fetchrow(
        "SELECT o.person_id AS driver, q.person_id AS rider FROM match m"
        " JOIN ride_offer o ON o.id = m.offer_id JOIN match_rider r ON r.match_id = m.id"
        " JOIN ride_request q ON q.id = r.request_id WHERE m.id = $1",
        m["id"],
    )
    for who in (parties["driver"], parties["rider"]):
        principal = Principal(who, world.community_id, True, True, False, frozenset())
        async with conn.transaction():
            await answer(conn, principal, m["id"], Action.ACCEPT, None)
    req = tomorrow_run(world)
    assert req.horizon is not None
    reading = await planning.start_run(
        conn,
        community_id=world.community_id,
        horizon=req.horizon,
        trigger="test",
        requested_by=None,
        params_version=1,
        params={},
    )
    await planning.fail_run(conn, reading.id, "only reading inputs", {})
    inp = await read_input(
        conn, reading, MatchingParams(), network_path=None, snap_max_distance_m=1000
    )
    by_offer = {o.offer_id: o for o in inp.occurrences}
    held = by_offer[m["offer_id"]]
    assert held.held_match_ids == (m["id"],)
    # The driver now gives this week the 2 evening rides and the confirmed one; the held
    # occurrence counts its own match as riders of the plan, not as a ride before.
    driver_offers = await conn.fetch(
        "SELECT id FROM ride_offer WHERE person_id = $1", parties["driver"]
    )
    others = [by_offer[r["id"]] for r in driver_offers if r["id"] != m["offer_id"]]
    assert held.rides_before == 2
    assert [o.rides_before for o in others] == [3]
