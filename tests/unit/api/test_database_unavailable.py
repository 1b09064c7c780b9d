"""A request that meets a database going away is answered 503 with Retry-After, a problem
document; any other error stays a 500."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from maas.http.problems import RETRY_AFTER_S, request_context_middleware

# What asyncpg raised to requests during a PostgreSQL restart under load.
RESTART_ERRORS: list[Exception] = [
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress"),
    FileNotFoundError(2, "No such file or directory"),  # the server's socket is gone
    ConnectionRefusedError(111, "Connection refused"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
]


async def _client(error: Exception) -> TestClient[web.Request, web.Application]:
    async def handler(request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[request_context_middleware])
    app.router.add_post("/v1/requests", handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.mark.parametrize("error", RESTART_ERRORS)
async def test_a_database_restart_is_a_503_to_retry(error: Exception) -> None:
    client = await _client(error)
    try:
        r = await client.post("/v1/requests", json={})
        assert r.status == 503
        assert r.content_type == "application/problem+json"
        assert r.headers["Retry-After"] == str(RETRY_AFTER_S)
        problem = await r.json()
        assert problem["title"] == "Service unavailable"
        assert "database" in problem["detail"]
    finally:
        await client.close()


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.UndefinedColumnError("column w.previous_secret_until does not exist"),
        RuntimeError("a bug"),
    ],
)
async def test_any_other_error_stays_an_internal_error(error: Exception) -> None:
    client = await _client(error)
    try:
        r = await client.post("/v1/requests", json={})
        assert r.status == 500
        assert "Retry-After" not in r.headers
        assert (await r.json())["title"] == "Internal error"
    finally:
        await client.close()
