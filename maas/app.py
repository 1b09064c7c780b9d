"""The app factory: the one place where the service is assembled from its parts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from maas import appkeys, db
from maas.errors import MaasError
from maas.http import health
from maas.http.problems import request_context_middleware
from maas.settings import Settings

log = logging.getLogger("maas.app")


async def _db_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = await db.create_pool(app[appkeys.SETTINGS])
    app[appkeys.DB_POOL] = pool
    yield
    await pool.close()


async def _road_network_ctx(app: web.Application) -> AsyncIterator[None]:
    # Imported here so that the web layer can be tested without building a graph.
    from maas.roads import load_network

    settings = app[appkeys.SETTINGS]
    app[appkeys.ROAD_NETWORK] = None
    app[appkeys.ROAD_NETWORK_ERROR] = "not loaded yet"
    try:
        async with app[appkeys.DB_POOL].acquire() as conn:
            network = await load_network(conn, settings.region, settings.cache_dir)
    except MaasError as error:
        # The service still answers /healthz, and /readyz says why it is not ready.
        log.warning("road network not loaded: %s", error)
        app[appkeys.ROAD_NETWORK_ERROR] = str(error)
    else:
        app[appkeys.ROAD_NETWORK] = network
        app[appkeys.ROAD_NETWORK_ERROR] = ""
        log.info("road network '%s' loaded", settings.region)
    yield


def setup_routes(app: web.Application) -> None:
    """Every route of the service, in one place."""
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)


def create_app(settings: Settings, *, load_roads: bool = True) -> web.Application:
    """Build the service. Nothing is connected until the app starts."""
    app = web.Application(
        middlewares=[request_context_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[appkeys.SETTINGS] = settings
    app.cleanup_ctx.append(_db_pool_ctx)
    if load_roads:
        app.cleanup_ctx.append(_road_network_ctx)
    else:
        app[appkeys.ROAD_NETWORK] = None
        app[appkeys.ROAD_NETWORK_ERROR] = "road network loading is switched off"
    setup_routes(app)
    return app
