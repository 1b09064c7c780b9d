"""Matching-run fixtures: the demo region's network, a pool and a runner on the test database.

Runs commit (they hold their own connections and advisory locks), so each test works in a
community of its own instead of a rolled-back transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest
from support.matching_world import World, new_world

from maas import db
from maas.planning.service import MatchingRunner
from maas.roads import RoadNetwork, load_network
from maas.settings import Settings

pytestmark = pytest.mark.db


@pytest.fixture(scope="session")
async def matching_settings(settings: Settings, demo_region: str) -> Settings:
    return dataclasses.replace(settings, matching_time_limit_s=0.5, db_pool_max=6)


@pytest.fixture(scope="session")
async def pool(matching_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(matching_settings)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def network(matching_settings: Settings, pool: asyncpg.Pool) -> RoadNetwork:
    async with pool.acquire() as conn:
        return await load_network(conn, matching_settings.region, matching_settings.cache_dir)


@pytest.fixture
async def runner(
    matching_settings: Settings, pool: asyncpg.Pool, network: RoadNetwork
) -> AsyncIterator[MatchingRunner]:
    """Runs solve in a thread of this process (the service uses a process pool)."""
    runner = MatchingRunner(matching_settings, pool, None, lambda: network)
    yield runner
    await runner.close()


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as connection:
        yield connection


@pytest.fixture
async def world(conn: asyncpg.Connection) -> World:
    return await new_world(conn)
