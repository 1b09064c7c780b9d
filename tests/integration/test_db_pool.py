"""The service's pool resets a connection given back, except one lent by
``db.acquire_stateless`` that came back without an error (the hot path's saved round trip)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest

from maas import db
from maas.settings import Settings

SQL_TIMEOUT = "SELECT current_setting('statement_timeout')"


@pytest.fixture
async def one_connection_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(dataclasses.replace(settings, db_pool_min=1, db_pool_max=1))
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_connection_is_reset_when_given_back(one_connection_pool: asyncpg.Pool) -> None:
    pool = one_connection_pool
    async with pool.acquire() as conn:
        await conn.execute("SET statement_timeout = '7s'")
    async with pool.acquire() as conn:
        assert await conn.fetchval(SQL_TIMEOUT) == "0"


async def test_a_stateless_connection_goes_back_without_the_reset(
    one_connection_pool: asyncpg.Pool,
) -> None:
    pool = one_connection_pool
    # Misused on purpose: the setting shows that no reset query ran.
    async with db.acquire_stateless(pool) as conn:
        await conn.execute("SET statement_timeout = '7s'")
    async with pool.acquire() as conn:
        assert await conn.fetchval(SQL_TIMEOUT) == "7s"
    # Given back by pool.acquire, it was reset as always.
    async with db.acquire_stateless(pool) as conn:
        assert await conn.fetchval(SQL_TIMEOUT) == "0"


async def test_a_stateless_connection_is_reset_after_an_error(
    one_connection_pool: asyncpg.Pool,
) -> None:
    pool = one_connection_pool

    async def misuse_and_fail() -> None:
        async with db.acquire_stateless(pool) as conn:
            await conn.execute("SET statement_timeout = '7s'")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await misuse_and_fail()
    async with pool.acquire() as conn:
        assert await conn.fetchval(SQL_TIMEOUT) == "0"


async def test_an_open_transaction_is_rolled_back(one_connection_pool: asyncpg.Pool) -> None:
    pool = one_connection_pool
    async with db.acquire_stateless(pool) as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TEMP TABLE scratch (x int) ON COMMIT DROP")
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT to_regclass('pg_temp.scratch')") is None


async def test_the_warm_up_names_the_schemas_types(one_connection_pool: asyncpg.Pool) -> None:
    """Every type and function the warm-up names exists: a renamed enum would fail it (and
    leave every new connection cold)."""
    async with one_connection_pool.acquire() as conn:
        assert await conn.fetchval(db.SQL_WARM_UP) is True


async def test_the_warm_up_gives_way_on_a_database_without_the_schema(settings: Settings) -> None:
    """A pool opened before the migrations ran (or on a database without PostGIS) works."""
    async with db.connection(settings) as conn:
        await conn.execute("SET search_path = pg_catalog")  # no table, type or PostGIS here
        await db._init_pooled(conn)
        assert await conn.fetchval("SELECT 1") == 1
