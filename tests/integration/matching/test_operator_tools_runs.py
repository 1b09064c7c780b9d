"""Matching runs use the community's current parameter version, and a what-if replay of a day
runs the same worker code without writing anything live."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from support.matching_world import (
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    tomorrow_at,
    tomorrow_run,
)

from maas.domain import params as community_params
from maas.planning.service import MatchingRunner
from maas.roads import RoadNetwork
from maas.settings import Settings
from maas.store import params as params_store
from maas.store import whatif as whatif_store
from maas.whatif import WhatIfRequest, WhatIfRunner

pytestmark = pytest.mark.db

SQL_LIVE_ROWS = """
SELECT (SELECT count(*) FROM match WHERE community_id = $1)
     + (SELECT count(*) FROM matching_run WHERE community_id = $1)
"""


async def test_a_run_uses_and_records_the_current_parameter_version(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    saved = await params_store.save(
        conn,
        world.community_id,
        community_params.validate({"max_detour_min": 7, "max_walk_m": 250}),
        changed_by=None,
        reason="test",
    )
    assert saved.version == 2
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.params_version == 2
    assert (run.params["max_detour_min"], run.params["max_walk_m"]) == (7, 250)
    versions = await conn.fetch("SELECT params_version FROM match WHERE run_id = $1", run.id)
    assert {r["params_version"] for r in versions} <= {2}


async def test_a_replay_of_a_day_writes_nothing_live(
    runner: MatchingRunner,
    world: World,
    conn: asyncpg.Connection,
    matching_settings: Settings,
    pool: asyncpg.Pool,
    network: RoadNetwork,
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    await world.request(
        await world.person("Late rider"), NUFRINGEN, HERRENBERG, t + timedelta(hours=6)
    )
    done = await runner.run(tomorrow_run(world))
    assert done.status == "succeeded", done.error
    live = await conn.fetchval(SQL_LIVE_ROWS, world.community_id)
    whatif = WhatIfRunner(matching_settings, pool, lambda: None, lambda: network)
    day = t.astimezone(ZoneInfo("Europe/Berlin")).date()
    run = await whatif.start(
        WhatIfRequest(
            world.community_id,
            day=day,
            source="past",
            params=community_params.validate({"max_detour_min": 30}),
            time_limit_s=0.5,
        )
    )
    await asyncio.wait([whatif.tasks[run.id]] if run.id in whatif.tasks else [], timeout=120)
    finished = await whatif_store.get_run(conn, run.id)
    assert finished is not None
    assert finished.status == "succeeded", finished.error
    result = finished.result
    assert result is not None
    assert result["reference_kind"] == "actual"
    assert result["candidate"]["requests"] == result["reference"]["requests"] == 2
    assert result["reference"]["served"] == done.served_count
    assert result["changes"] == [{"field": "max_detour_min", "old": 15, "new": 30}]
    assert await conn.fetchval(SQL_LIVE_ROWS, world.community_id) == live
    await whatif.close()


async def test_replays_cut_off_by_a_stop_are_marked_failed(
    world: World, conn: asyncpg.Connection, matching_settings: Settings, pool: asyncpg.Pool
) -> None:
    current = await params_store.current(conn, world.community_id)
    assert current is not None
    run = await whatif_store.insert_run(
        conn,
        community_id=world.community_id,
        requested_by=None,
        day=tomorrow_at(7).date(),
        source="past",
        num_requests=None,
        seed=None,
        params=current.params,
        base_params_version=current.version,
    )
    await conn.execute(
        "UPDATE whatif_run SET started_at = now() - interval '1 day' WHERE id = $1", run.id
    )
    fresh = await whatif_store.insert_run(
        conn,
        community_id=world.community_id,
        requested_by=None,
        day=tomorrow_at(7).date(),
        source="past",
        num_requests=None,
        seed=None,
        params=current.params,
        base_params_version=current.version,
    )
    await WhatIfRunner(matching_settings, pool, lambda: None, lambda: None).fail_stale()
    old = await whatif_store.get_run(conn, run.id)
    new = await whatif_store.get_run(conn, fresh.id)
    assert old is not None
    assert new is not None
    assert (old.status, new.status) == ("failed", "running")
    assert old.error is not None
    assert "interrupted" in old.error
    await whatif_store.finish(conn, fresh.id, "cancelled", error="test over")
