"""The operator dashboard: one HTML page with its scripts (``maas/web/``), Leaflet from the npm
package in ``node_modules/`` (installed by ``npm ci`` in ``deploy/setup-dev``), and the GeoJSON
the map draws — the region's roads and the communities' areas (no tile server is needed).

Sign-in: the page asks for an operator's API token, keeps it in ``sessionStorage`` (gone when
the tab closes) and sends it as ``Authorization: Bearer`` with every API call. No cookies, so
no CSRF surface; the page's Content-Security-Policy allows only this origin's scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from maas import appkeys
from maas.errors import InputError, NotFoundError
from maas.http.common import pool, principal
from maas.http.communities import REGION_NAME
from maas.settings import PROJECT_DIR
from maas.store import kpis as kpi_store

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
LEAFLET_DIR = PROJECT_DIR / "node_modules" / "leaflet" / "dist"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ROAD_DETAIL = {
    # detail: (major roads only, simplification tolerance in degrees ≈ 1e-4 per 10 m)
    "major": (True, 0.0003),
    "all": (False, 0.00005),
}
ROADS_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "an imported region (the service's is MAAS_REGION)",
        "schema": {"type": "string", "pattern": "^" + REGION_NAME.pattern + "$"},
    },
    {
        "name": "detail",
        "in": "query",
        "required": False,
        "description": "major: trunk to tertiary roads; all: every drivable road (larger)",
        "schema": {"enum": list(ROAD_DETAIL), "default": "major"},
    },
)


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    """The dashboard (its data comes from the JSON API)."""
    return web.FileResponse(
        WEB_DIR / "dashboard.html",
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


async def roads_geojson(request: web.Request) -> web.Response:
    """``GET /v1/regions/{name}/roads.geojson?detail=major|all``: the region's roads, one
    simplified MultiLineString per road class; cached per region import."""
    await principal(request)
    region = request.match_info["name"]
    for name in request.query:
        if name != "detail":
            raise InputError(name, "is not a parameter of this operation")
    detail = request.query.get("detail", "major")
    if detail not in ROAD_DETAIL:
        raise InputError("detail", "must be major or all")
    if not REGION_NAME.fullmatch(region):
        raise NotFoundError("no such region")  # and nothing that is no name reaches SQL
    async with pool(request).acquire() as conn:
        import_id = await kpi_store.region_import_id(conn, region)
        if import_id is None:
            raise NotFoundError("no such region")
        cache = request.app[appkeys.GEOJSON_CACHE]
        key = f"{region}/{import_id}/{detail}"
        text = cache.get(key)
        if text is None:
            major, tolerance = ROAD_DETAIL[detail]
            text = await kpi_store.roads_geojson(
                conn, region, major_only=major, tolerance_deg=tolerance
            )
            cache[key] = text
    return web.Response(
        text=text, content_type="application/geo+json", headers={"Cache-Control": "max-age=300"}
    )


async def communities_geojson(request: web.Request) -> web.Response:
    """``GET /v1/communities.geojson``: the service region's communities (village areas)."""
    await principal(request)
    for name in request.query:
        raise InputError(name, "is not a parameter of this operation")
    async with pool(request).acquire() as conn:
        text = await kpi_store.communities_geojson(conn, request.app[appkeys.SETTINGS].region)
    return web.Response(text=text, content_type="application/geo+json")


def setup_routes(app: web.Application) -> None:
    """The page's files and Leaflet (the page and the GeoJSON are in the app's route table)."""
    if LEAFLET_DIR.is_dir():
        app.router.add_static("/static/vendor/leaflet/", LEAFLET_DIR)
    app.router.add_static("/static/", WEB_DIR / "static")
