"""Integration fixtures: throw-away databases on the test server."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from maas import db
from maas.settings import Settings

FreshDatabase = Callable[..., Awaitable[Settings]]


def url_with_database(url: str, database: str) -> str:
    """The same server and user, another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


@pytest.fixture
async def fresh_database(settings: Settings) -> AsyncIterator[FreshDatabase]:
    """Make empty databases, dropped after the test; each call returns settings for one."""
    admin = await db.connect(settings)
    created: list[str] = []

    async def create(*, postgis: bool = True) -> Settings:
        name = f"maas_t_{uuid.uuid4().hex[:10]}"
        # Identifiers cannot be bound as parameters; this one is generated here, never input.
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = url_with_database(settings.database_url, name)
        if postgis:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            finally:
                await conn.close()
        return dataclasses.replace(settings, database_url=url)

    yield create
    for name in created:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
