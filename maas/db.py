"""Database access: connection pool, PostGIS geometry codec, and clear connection errors.

Geometry crosses the database boundary as shapely objects (EWKB with SRID 4326), so SQL never
needs ``ST_AsText``/``ST_GeomFromText`` round trips and values are never formatted into SQL.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import shapely
from shapely.geometry.base import BaseGeometry

from maas.errors import ConfigError
from maas.settings import Settings

SRID_WGS84 = 4326

SQL_GEOMETRY_TYPE_EXISTS = "SELECT to_regtype('public.geometry') IS NOT NULL"


def redact_url(url: str) -> str:
    """The URL with any password replaced, for error messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _encode_geometry(geom: BaseGeometry) -> bytes:
    if not isinstance(geom, BaseGeometry):
        raise TypeError(f"expected a shapely geometry, got {type(geom).__name__}")
    if shapely.get_srid(geom) == 0:
        geom = shapely.set_srid(geom, SRID_WGS84)
    return bytes(shapely.to_wkb(geom, include_srid=True))


def _decode_geometry(data: bytes) -> BaseGeometry:
    return shapely.from_wkb(data)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Register the PostGIS geometry codec when the extension is installed."""
    if await conn.fetchval(SQL_GEOMETRY_TYPE_EXISTS):
        await conn.set_type_codec(
            "geometry",
            encoder=_encode_geometry,
            decoder=_decode_geometry,
            format="binary",
            schema="public",
        )


def _connection_error(settings: Settings, exc: BaseException) -> ConfigError:
    where = redact_url(settings.database_url)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        reason = "the database does not exist"
    elif isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        reason = "the user or password was refused"
    elif isinstance(exc, socket.gaierror):
        reason = "the host name cannot be resolved"
    elif isinstance(exc, ConnectionRefusedError | FileNotFoundError):
        reason = (
            "nothing is listening there (is the server running? 'make db' starts the local one)"
        )
    elif isinstance(exc, TimeoutError):
        reason = "the connection timed out"
    elif isinstance(exc, ValueError):
        reason = f"the URL is malformed ({exc})"
    else:
        reason = str(exc) or type(exc).__name__
    return ConfigError(
        f"cannot connect to the database at {where}: {reason}; check MAAS_DATABASE_URL"
    )


async def connect(settings: Settings, **kwargs: Any) -> asyncpg.Connection:
    """One connection with the geometry codec; a clear :class:`ConfigError` if it fails."""
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=10, **kwargs)
    except (OSError, asyncpg.PostgresError, ValueError, TimeoutError) as exc:
        raise _connection_error(settings, exc) from exc
    await init_connection(conn)
    return conn


@asynccontextmanager
async def connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection that is closed on exit."""
    conn = await connect(settings)
    try:
        yield conn
    finally:
        await conn.close()


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """The service's connection pool; a clear :class:`ConfigError` if it cannot connect."""
    try:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            init=init_connection,
            timeout=10,
            command_timeout=60,
        )
    except (OSError, asyncpg.PostgresError, ValueError, TimeoutError) as exc:
        raise _connection_error(settings, exc) from exc
    assert pool is not None
    return pool
