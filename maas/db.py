"""Database access: connection pool, PostGIS geometry codec, and clear connection errors.

Geometry crosses the database boundary as shapely objects (EWKB with SRID 4326), so SQL never
needs ``ST_AsText``/``ST_GeomFromText`` round trips and values are never formatted into SQL.
"""

from __future__ import annotations

import contextlib
import contextvars
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

# The database cannot be reached just now: it is shutting down, restarting or full, or the
# connection ended in the middle of a statement (asyncpg's InternalClientError then says its
# protocol state is confused). A request that meets one of these gets 503 and may be retried.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
)
# What a background loop catches and retries after: the above, any server error, a closed
# connection or pool, and a statement's time limit.
DATABASE_LOST: tuple[type[Exception], ...] = (
    *DATABASE_UNAVAILABLE,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    TimeoutError,
)

SQL_GEOMETRY_TYPE_EXISTS = "SELECT to_regtype('public.geometry') IS NOT NULL"
# What a new server backend and a new asyncpg connection do once, before their first request
# rather than in it: load PostGIS (10-16 ms in the backend) and look up the service's enum types
# (asyncpg's introspection, 8-11 ms).
SQL_WARM_UP = """
SELECT ST_Covers(ST_MakeEnvelope(0, 0, 1, 1, 4326), ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326)),
       NULL::ride_status, NULL::match_status, NULL::party_status, NULL::stop_kind,
       NULL::meeting_point_kind, NULL::matching_run_status, NULL::webhook_delivery_status
"""


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


async def _init_pooled(conn: asyncpg.Connection) -> None:
    """A pooled connection: the codec, and warmed up for the service's queries (skipped on a
    database without the schema yet)."""
    await init_connection(conn)
    with contextlib.suppress(asyncpg.UndefinedObjectError, asyncpg.UndefinedFunctionError):
        await conn.fetchval(SQL_WARM_UP)


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


_session_unchanged: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "maas_db_session_unchanged", default=False
)


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """What the pool runs on a connection given back, after asyncpg's own clean-up (which
    rolls back an open transaction and drops listeners): asyncpg's reset query (advisory locks,
    cursors, LISTEN, settings), unless the connection was lent by :func:`acquire_stateless`
    and came back without an error."""
    if _session_unchanged.get():
        return
    query = conn.get_reset_query()
    if query:
        await conn.execute(query)


@asynccontextmanager
async def acquire_stateless(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for code that leaves no session state behind: only plain
    statements and transactions, no ``SET``, ``LISTEN``, session advisory locks, cursors or
    temporary tables. It goes back to the pool without the reset query, a round trip to the
    database per use that the hottest requests (POST /v1/requests) do not need; if an error
    escapes, it is reset as always."""
    conn = await pool.acquire()
    unchanged = False
    try:
        yield conn
        unchanged = True
    finally:
        # The release runs in a task of its own (asyncio.shield), which copies this context.
        token = _session_unchanged.set(unchanged)
        try:
            await pool.release(conn)
        finally:
            _session_unchanged.reset(token)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """The service's connection pool; a clear :class:`ConfigError` if it cannot connect."""
    try:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            init=_init_pooled,
            reset=_reset_connection,
            timeout=10,
            command_timeout=60,
        )
    except (OSError, asyncpg.PostgresError, ValueError, TimeoutError) as exc:
        raise _connection_error(settings, exc) from exc
    assert pool is not None
    return pool
