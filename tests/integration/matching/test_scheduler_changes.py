"""The scheduler runs a community on its rhythm, and in between once enough has changed."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from support.matching_world import GAERTRINGEN, HERRENBERG, NUFRINGEN, new_world, soon_at

from maas.planning.service import MatchingRunner, run_is_due
from maas.roads import RoadNetwork
from maas.settings import Settings
from maas.store import planning

pytestmark = pytest.mark.db


def test_run_is_due_on_the_rhythm_or_after_enough_changes() -> None:
    now = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    recent = now - timedelta(seconds=30)
    assert run_is_due(last_run=None, changes=0, now=now, interval_s=300, changes_threshold=5)
    assert not run_is_due(last_run=recent, changes=4, now=now, interval_s=300, changes_threshold=5)
    assert run_is_due(last_run=recent, changes=5, now=now, interval_s=300, changes_threshold=5)
    assert not run_is_due(last_run=recent, changes=99, now=now, interval_s=300, changes_threshold=0)
    old = now - timedelta(seconds=300)
    assert run_is_due(last_run=old, changes=0, now=now, interval_s=300, changes_threshold=5)
    # A failed run (it wrote nothing) is retried after a minute, not after the whole rhythm.
    minute = now - timedelta(seconds=60)
    assert not run_is_due(
        last_run=recent, last_failed=True, changes=0, now=now, interval_s=300, changes_threshold=5
    )
    assert run_is_due(
        last_run=minute, last_failed=True, changes=0, now=now, interval_s=300, changes_threshold=5
    )
    assert not run_is_due(
        last_run=minute, last_failed=False, changes=0, now=now, interval_s=300, changes_threshold=5
    )


async def test_the_scheduler_runs_again_once_enough_has_changed(
    matching_settings: Settings,
    pool: asyncpg.Pool,
    network: RoadNetwork,
    conn: asyncpg.Connection,
) -> None:
    t = soon_at()
    region = f"sched-{uuid.uuid4().hex[:8]}"
    world = await new_world(conn, region=region)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    settings = dataclasses.replace(
        matching_settings, region=region, matching_interval_s=3600.0, matching_changes=2
    )
    runner = MatchingRunner(settings, pool, None, lambda: network)
    try:
        [first] = await runner.run_due()  # never run: due
        assert first.status == "succeeded", first.error
        assert await runner.run_due() == []  # nothing changed, the hour is not over
        await world.request(await world.person("Second"), NUFRINGEN, HERRENBERG, t)
        last, failed = await planning.last_run(conn, world.community_id)
        assert (last, failed) == (first.started_at, False)
        assert last is not None
        assert await planning.changes_since(conn, world.community_id, last) == 1
        assert await runner.run_due() == []  # one change is not enough
        await world.offer(await world.person("Second driver"), GAERTRINGEN, HERRENBERG, t)
        [second] = await runner.run_due()  # two are
        assert second.community_id == world.community_id
        # A run that failed (it wrote nothing) is retried after a minute.
        await conn.execute(
            "UPDATE matching_run SET status = 'failed', error = 'test' WHERE id = $1", second.id
        )
        assert await runner.run_due(now=second.started_at + timedelta(seconds=30)) == []
        [retry] = await runner.run_due(now=second.started_at + timedelta(seconds=61))
        assert retry.status == "succeeded", retry.error
        # The rhythm alone: an hour later the community is due without any change.
        later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
        assert len(await runner.run_due(now=later)) == 1
    finally:
        await runner.close()
