"""The periodic scheduler, parameter versions, and a worker pool that breaks."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import asyncpg
import pytest
from support.matching_world import (
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    new_world,
    soon_at,
    tomorrow_at,
    tomorrow_run,
)

from maas.planning.service import MatchingRunner, RunRequest
from maas.roads import RoadNetwork
from maas.settings import Settings

pytestmark = pytest.mark.db


async def test_a_run_records_the_parameter_version_it_used(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    current = await conn.fetchval(
        "SELECT params_version FROM community WHERE id = $1", world.community_id
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.params_version == current
    version = await conn.fetchval("SELECT params_version FROM match WHERE run_id = $1", run.id)
    assert version == current


async def test_the_scheduler_runs_communities_with_open_requests(
    matching_settings: Settings,
    pool: asyncpg.Pool,
    network: RoadNetwork,
    conn: asyncpg.Connection,
) -> None:
    t = soon_at()
    # A region label of its own, so the tick sees only this test's community.
    region = f"sched-{uuid.uuid4().hex[:8]}"
    world = await new_world(conn, region=region)
    quiet = await new_world(conn, region=region)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    settings = dataclasses.replace(matching_settings, region=region, matching_interval_s=3600.0)
    runner = MatchingRunner(settings, pool, None, lambda: network)
    try:
        done = await runner.run_due()
    finally:
        await runner.close()
    assert [r.community_id for r in done] == [world.community_id]  # not the quiet one
    assert done[0].trigger == "scheduler"
    assert done[0].status == "succeeded", done[0].error
    assert done[0].served_count == 1
    assert quiet.community_id not in {r.community_id for r in done}


class _Broken(Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise BrokenProcessPool("a worker died (simulated)")


async def test_a_broken_worker_pool_fails_one_run_and_is_replaced(
    matching_settings: Settings,
    pool: asyncpg.Pool,
    network: RoadNetwork,
    world: World,
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    made: list[Executor | None] = []

    def make() -> Any:
        made.append(None)
        return None  # the default thread pool

    runner = MatchingRunner(matching_settings, pool, _Broken(), lambda: network, make_executor=make)
    try:
        failed = await runner.run(tomorrow_run(world))
        assert failed.status == "failed"
        assert failed.error is not None
        assert "worker died" in failed.error
        assert made == [None]
        ok = await runner.run(RunRequest(world.community_id, tomorrow_run(world).horizon))
        assert ok.status == "succeeded", ok.error
    finally:
        await runner.close()


async def test_a_run_uses_the_current_parameter_version(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    from maas.store import params as params_store

    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    saved = await params_store.save(
        conn,
        world.community_id,
        {"max_detour_min": 9, "max_walk_m": 250},
        changed_by=None,
        reason="test",
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.params_version == saved.version
    assert (run.params["max_detour_min"], run.params["max_walk_m"]) == (9, 250)
