"""API fixtures: one migrated database of its own with the synthetic region and its people,
and the service app (no road graph: the PostGIS checks stand in) behind a test client."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.api_world import REGION, ApiClient, World, seed_world

from maas import db, migrate
from maas.app import create_app
from maas.settings import Settings


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture(scope="session")
async def api_settings(settings: Settings) -> AsyncIterator[Settings]:
    """A database just for the API tests (their rows are committed), dropped at the end."""
    name = f"maas_api_{uuid.uuid4().hex[:10]}"
    admin = await db.connect(settings)
    # Identifiers cannot be bound as parameters; this one is generated here, never input.
    await admin.execute(f'CREATE DATABASE "{name}"')
    api = dataclasses.replace(
        settings,
        database_url=_with_database(settings.database_url, name),
        region=REGION,
        max_body_bytes=64 * 1024,
    )
    try:
        async with db.connection(api) as conn:
            await migrate.migrate(conn)
        yield api
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def world(api_settings: Settings) -> World:
    async with db.connection(api_settings) as conn:
        return await seed_world(conn)


@pytest.fixture(scope="session")
async def client(api_settings: Settings, world: World) -> AsyncIterator[ApiClient]:
    app = create_app(api_settings, load_roads=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture
async def api_conn(api_settings: Settings, world: World) -> AsyncIterator[object]:
    """A connection to the API database inside a transaction that is rolled back."""
    conn = await db.connect(api_settings)
    tx = conn.transaction()
    await tx.start()
    try:
        yield conn
    finally:
        await tx.rollback()
        await conn.close()
