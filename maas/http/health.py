"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

from aiohttp import web

from maas import appkeys, migrate
from maas.errors import MaasError


async def database_problem(app: web.Application) -> str:
    """An empty string when the database is reachable and fully migrated, else the reason."""
    try:
        async with app[appkeys.DB_POOL].acquire(timeout=2) as conn:
            todo = await migrate.pending(conn, migrate.load_migrations())
    except MaasError as error:
        return str(error)
    except Exception as exc:  # the database can be down in many ways; all mean "not ready"
        return f"database unreachable: {exc or type(exc).__name__}"
    if todo:
        return f"{len(todo)} migration(s) pending; run: python -m maas db migrate"
    return ""


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: database reachable, migrations current, road graph loaded."""
    app = request.app
    db_problem = await database_problem(app)
    network_problem = (
        "" if app[appkeys.ROAD_NETWORK] is not None else app[appkeys.ROAD_NETWORK_ERROR]
    )
    ready = not db_problem and not network_problem
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {"database": db_problem or "ok", "road_network": network_problem or "ok"},
    }
    return web.json_response(body, status=200 if ready else 503)
