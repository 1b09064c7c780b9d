"""Migrations on a real PostGIS: idempotent, serialised between processes, atomic."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from maas import db, migrate
from maas.errors import ConfigError
from maas.settings import Settings

FreshDatabase = Callable[..., Awaitable[Settings]]


async def _applied(conn: asyncpg.Connection) -> list[int]:
    return [r["version"] for r in await conn.fetch(migrate.SQL_APPLIED)]


async def test_migrate_twice_applies_once(fresh_database: FreshDatabase) -> None:
    settings = await fresh_database()
    async with db.connection(settings) as conn:
        first = await migrate.migrate(conn)
        second = await migrate.migrate(conn)
        assert first == [m.version for m in migrate.load_migrations()]
        assert second == []
        assert await _applied(conn) == first


async def test_two_processes_migrating_at_once_take_turns(fresh_database: FreshDatabase) -> None:
    settings = await fresh_database()
    a = await db.connect(settings)
    b = await db.connect(settings)
    try:
        results = await asyncio.gather(migrate.migrate(a), migrate.migrate(b))
        everything = [m.version for m in migrate.load_migrations()]
        assert sorted(results, key=len) == [[], everything]
        assert await _applied(a) == everything
    finally:
        await a.close()
        await b.close()


async def test_failing_migration_leaves_nothing_behind(
    fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    settings = await fresh_database()
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE kept (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    async with db.connection(settings) as conn:
        with pytest.raises(ConfigError, match=r"migration 0002_bad.sql failed: .*no_such_function"):
            await migrate.migrate(conn, migrate.load_migrations(tmp_path))
        assert await _applied(conn) == [1]
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('kept')") is not None


async def test_edited_applied_migration_is_refused(
    fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    settings = await fresh_database()
    path = tmp_path / "0001_a.sql"
    path.write_text("CREATE TABLE a (id int);")
    async with db.connection(settings) as conn:
        await migrate.migrate(conn, migrate.load_migrations(tmp_path))
        path.write_text("CREATE TABLE a (id bigint);")
        with pytest.raises(ConfigError, match="was changed after it was applied"):
            await migrate.migrate(conn, migrate.load_migrations(tmp_path))


async def test_database_without_postgis_privilege_gets_a_clear_error(
    fresh_database: FreshDatabase,
) -> None:
    """A user who may not create the extension, on a database that lacks it."""
    settings = await fresh_database(postgis=False)
    async with db.connection(settings) as conn:
        await conn.execute("DROP ROLE IF EXISTS maas_plain")
        await conn.execute("CREATE ROLE maas_plain LOGIN")
        await conn.execute("GRANT CREATE ON SCHEMA public TO maas_plain")
    plain = settings.database_url.replace("://maas@", "://maas_plain@", 1)
    conn = await asyncpg.connect(plain)
    try:
        with pytest.raises(ConfigError, match="has no PostGIS"):
            await migrate.migrate(conn)
        assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await conn.close()
        async with db.connection(settings) as admin:
            await admin.execute("REVOKE ALL ON SCHEMA public FROM maas_plain")
            await admin.execute("DROP OWNED BY maas_plain")


async def test_geometry_crosses_as_shapely(db_conn: asyncpg.Connection) -> None:
    from shapely.geometry import Point

    geom = await db_conn.fetchval("SELECT ST_SetSRID(ST_MakePoint(8.87, 48.59), 4326)")
    assert isinstance(geom, Point)
    assert (geom.x, geom.y) == (8.87, 48.59)
    back = await db_conn.fetchval("SELECT ST_AsText($1::geometry)", Point(8.9, 48.6))
    assert back == "POINT(8.9 48.6)"
    srid = await db_conn.fetchval("SELECT ST_SRID($1::geometry)", Point(8.9, 48.6))
    assert srid == 4326
