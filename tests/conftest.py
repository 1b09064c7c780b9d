"""Fixtures shared by every test level: the test database and settings."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from maas import db, migrate
from maas.settings import PROJECT_DIR, Settings


def _test_database_url() -> str:
    url = os.environ.get("MAAS_TEST_DATABASE_URL")
    if url:
        return url
    out = subprocess.run(
        [str(PROJECT_DIR / "deploy" / "local-db"), "url", "maas_test"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test database (never the one ``make run`` uses)."""
    return _test_database_url()


@pytest.fixture(scope="session")
def test_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory (graph cache) shared by the whole test session."""
    return tmp_path_factory.mktemp("maas-data")


@pytest.fixture(scope="session")
def settings(database_url: str, test_data_dir: Path) -> Settings:
    # No background work unless a test asks for it: no scheduler, webhook sender or instant
    # answers (the service's defaults switch them on).
    return Settings(
        database_url=database_url,
        data_dir=test_data_dir,
        port=0,
        matching_interval_s=0.0,
        webhook_interval_s=0.0,
        instant_answers=False,
    )


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> None:
    """The test database with every migration applied, once per session."""
    async with db.connection(settings) as conn:
        await migrate.migrate(conn)


@pytest.fixture
async def db_conn(settings: Settings, migrated: None) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    conn = await db.connect(settings)
    tx = conn.transaction()
    await tx.start()
    try:
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


@pytest.fixture(scope="session")
async def demo_region(settings: Settings, migrated: None) -> str:
    """The demo region (Herrenberg) in the test database: imported once (about 6 s) unless a
    previous session left it there; its graph cache is rebuilt from the database if needed."""
    from maas.roads import region_exists
    from maas.roads.importer import import_osm

    async with db.connection(settings) as conn:
        exists = await region_exists(conn, settings.region)
    if not exists:
        await import_osm(settings, settings.demo_osm_path, settings.region, progress=False)
    return settings.region
