"""Fair load: quiet hours and rides per week keep a volunteer's trips out of a run; and the
scheduler's tick tells riders at the cut-off."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
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

from maas.planning import fallback
from maas.planning.service import MatchingRunner
from maas.settings import Settings
from maas.store import params as params_store

pytestmark = pytest.mark.db


async def _setup(world: World) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)


async def test_quiet_hours_keep_the_trip_out(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    await _setup(world)
    await params_store.save(
        conn,
        world.community_id,
        {"volunteer_quiet_from": "07:00", "volunteer_quiet_until": "09:00"},
        changed_by=None,
        reason="test",
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.occurrences_count == 0
    assert await matches_of(conn, run) == []


async def test_quiet_hours_elsewhere_change_nothing(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    await _setup(world)
    await params_store.save(
        conn,
        world.community_id,
        {"volunteer_quiet_from": "21:00", "volunteer_quiet_until": "06:00"},
        changed_by=None,
        reason="test",
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert len(await matches_of(conn, run)) == 1


async def test_a_driver_at_the_weekly_limit_is_not_asked(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    driver = await world.person("Busy Driver")
    await world.offer(driver, GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    # A ride the driver already gives this week (the same day, on another offer).
    other = await world.offer(driver, HERRENBERG, GAERTRINGEN, tomorrow_at(17))
    await conn.execute(
        "INSERT INTO match (offer_id, occurrence_date, departure_at, community_id, status)"
        " VALUES ($1, $2, $3, $4, 'confirmed')",
        other,
        tomorrow_at(17).astimezone(ZoneInfo("Europe/Berlin")).date(),
        tomorrow_at(17),
        world.community_id,
    )
    await params_store.save(
        conn,
        world.community_id,
        {"volunteer_max_rides_per_week": 1},
        changed_by=None,
        reason="test",
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert await matches_of(conn, run) == []

    await params_store.save(
        conn,
        world.community_id,
        {"volunteer_max_rides_per_week": 2},
        changed_by=None,
        reason="test",
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert len(await matches_of(conn, run)) == 1


async def test_the_scheduler_tick_tells_riders_at_the_cut_off(
    matching_settings: Settings, pool: asyncpg.Pool, world: World, conn: asyncpg.Connection
) -> None:
    """The fallback notice comes from the scheduler's tick (no road network needed)."""
    rider = await world.person("Rider Soon")
    request_id = await world.request(
        rider, NUFRINGEN, HERRENBERG, datetime.now(UTC) + timedelta(minutes=30)
    )
    fast = dataclasses.replace(matching_settings, matching_interval_s=0.05)
    runner = MatchingRunner(fast, pool, None, lambda: None)
    runner.start_scheduler()
    try:
        found = None
        for _ in range(200):
            found = await conn.fetchval(
                "SELECT payload FROM event WHERE person_id = $1 AND kind = $2",
                rider,
                fallback.KIND,
            )
            if found is not None:
                break
            await asyncio.sleep(0.05)
        assert found is not None
        assert json.loads(found)["request_id"] == str(request_id)
        await asyncio.sleep(0.2)  # more ticks tell no one again
        told = await conn.fetchval(
            "SELECT count(*) FROM event WHERE person_id = $1 AND kind = $2", rider, fallback.KIND
        )
        assert told == 1
    finally:
        await runner.close()
