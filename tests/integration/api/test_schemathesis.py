"""Property-based requests generated from the OpenAPI document: no 5xx, answers as documented.

The service runs in a thread with its own event loop (schemathesis calls synchronously); the
cases are bounded (20 per operation, no shrinking, no deadline) so the run stays short.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.api_world import World

from maas import db
from maas.app import api_routes, create_app
from maas.http.openapi import build_document
from maas.schemas import SchemaRegistry
from maas.settings import Settings

# The event stream never ends, so no generated request to it would ever get a whole answer to
# check; tests/integration/api/test_events.py opens it, resumes it and checks its refusals.
schema = schemathesis.openapi.from_dict(build_document(api_routes(), SchemaRegistry())).exclude(
    method="GET", path="/v1/me/events"
)
# Valid and invalid inputs alike must never cause a 5xx. (Whether each invalid input is
# refused is not checked here: in a query string an invalid value often serialises to a valid
# one, e.g. the array ["0","0","0","0"] and the string "0,0,0,0" for bbox; the explicit
# validation tests cover refusals.)
schema.config.generation.update(modes=list(GenerationMode))
LOCAL_URL = "http://127.0.0.1:9/discard"


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


class ThreadServer:
    """The app on a free port, in a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.runner = web.AppRunner(app, access_log=None)
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> str:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the test server did not start")
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def base_url(api_settings: Settings, world: World) -> Iterator[str]:
    server = ThreadServer(create_app(api_settings, load_roads=False))
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def admin_headers(world: World) -> dict[str, str]:
    return world["admin"].headers


@pytest.fixture(scope="module")
async def known_ids(api_settings: Settings, world: World) -> AsyncIterator[dict[str, str]]:
    """Ids that exist, for bodies whose generated ids would only ever be unknown (a 404). The
    subscriptions the run makes with them are switched off afterwards."""
    yield {"community_id": str(world.west), "person_id": str(world["rider_west"].id)}
    async with db.connection(api_settings) as conn:
        await conn.execute("UPDATE webhook SET active = false WHERE url = $1", LOCAL_URL)


@dataclass
class KnownWebhooks:
    """Subscriptions for GET and DELETE /v1/webhooks/{id}, whose generated ids would only ever
    be unknown (a 404): ``kept`` for every GET, a fresh one from ``removable`` for each DELETE."""

    kept: str
    removable: list[str]


@pytest.fixture(scope="module")
async def known_webhooks(api_settings: Settings, world: World) -> KnownWebhooks:
    async with db.connection(api_settings) as conn:
        rows = await conn.fetch(
            "INSERT INTO webhook (community_id, url, secret)"
            " SELECT $1, $2, 'schemathesis-secret' FROM generate_series(1, 100) RETURNING id",
            world.west,
            LOCAL_URL,
        )
    ids = [str(r["id"]) for r in rows]
    return KnownWebhooks(ids[0], ids[1:])


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(
    case: schemathesis.Case[Any],
    base_url: str,
    admin_headers: dict[str, str],
    known_ids: dict[str, str],
    known_webhooks: KnownWebhooks,
) -> None:
    if case.method.upper() == "DELETE" and case.path == "/v1/me":
        return  # deleting the admin would end the run's authentication
    body = case.body
    if case.path == "/v1/webhooks" and isinstance(body, dict):
        # A subscription the run creates must never make a later test's webhook sender post
        # to a generated host: every URL that could be accepted goes to the discard port. And
        # valid ids name a real community or person, so that subscriptions are created too.
        url = body.get("url")
        if isinstance(url, str) and url.startswith("http"):
            body = {**body, "url": LOCAL_URL}
        for name, known in known_ids.items():
            if _is_uuid(body.get(name)):
                body = {**body, name: known}
        case.body = body
    if case.path == "/v1/webhooks/{id}" and _is_uuid((case.path_parameters or {}).get("id")):
        if case.method.upper() == "GET":
            case.path_parameters = {"id": known_webhooks.kept}
        elif known_webhooks.removable:
            case.path_parameters = {"id": known_webhooks.removable.pop()}
    case.call_and_validate(
        base_url=base_url,
        headers=admin_headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
