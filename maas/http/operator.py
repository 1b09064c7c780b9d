"""Operator tools over HTTP: versioned parameters, KPIs with CSV export, the map layers, and
what-if replays. Operators of the community and admins only; a community that does not exist
is a 404, one the caller does not operate a 403 — and nothing changes.

* ``GET /v1/communities/{id}/params`` — the current version, with each field's range, unit
  and default (the dashboard builds its form from them);
* ``PUT`` (the complete set; missing fields take their defaults) and ``PATCH`` (only the given
  fields change) store a new version with an optional ``reason``; ``base_version`` guards
  against overwriting a change made meanwhile (409);
* ``GET …/params/history`` — every version, newest first, with what changed (old → new);
* ``POST …/params/rollback`` — a new version equal to an earlier one;
* ``GET …/kpis?from=YYYY-MM-DD&to=YYYY-MM-DD`` (local days, both included; default the last 7
  days) — JSON, or CSV with ``Accept: text/csv`` or ``?format=csv`` (``&table=summary``,
  ``villages`` or ``unmet``);
* ``GET …/map?from=&to=`` — offers, requests, matched routes, unmet requests and the heat grid
  of unmet demand as GeoJSON;
* ``POST …/whatif-runs`` (202), ``GET …/whatif-runs``, ``GET /v1/whatif-runs/{id}``,
  ``POST /v1/whatif-runs/{id}/cancel`` (see :mod:`maas.whatif`).
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from aiohttp import web

from maas import appkeys
from maas.domain import kpi
from maas.domain import params as community_params
from maas.domain.models import Principal
from maas.errors import ForbiddenError, InputError, NotFoundError
from maas.http.common import parse_date, path_id, pool, principal, read_body, utc
from maas.http.openapi import ApiRoute
from maas.roads.arrays import to_wgs84
from maas.store import kpis as kpi_store
from maas.store import params as params_store
from maas.store import whatif as whatif_store
from maas.store.params import ParamsVersion
from maas.store.whatif import WhatIfRun
from maas.whatif import WhatIfRequest, WhatIfRunner, day_bounds, kpis_json

log = logging.getLogger("maas.http.operator")

MAX_KPI_DAYS = 366
KPI_DEFAULT_DAYS = 7


async def staff_community(request: web.Request, who: Principal) -> uuid.UUID:
    """The path's community, if the caller operates it (404 if it does not exist, 403 if the
    caller is not one of its operators or an admin)."""
    community_id = path_id(request)
    async with pool(request).acquire() as conn:
        found = await params_store.current(conn, community_id)
    if found is None:
        raise NotFoundError("no such community")
    if not who.operates(community_id):
        raise ForbiddenError("only the community's operators and admins use the operator tools")
    return community_id


# ---- parameters ---------------------------------------------------------------------------


def version_json(v: ParamsVersion, previous: ParamsVersion | None = None) -> dict[str, Any]:
    params = community_params.effective(v.params)
    out: dict[str, Any] = {
        "community_id": str(v.community_id),
        "version": v.version,
        "params": params,
        "changed_by": None
        if v.changed_by is None
        else {"id": str(v.changed_by), "name": v.changed_by_name},
        "changed_at": utc(v.changed_at),
        "reason": v.reason,
        "restored_version": v.restored_version,
    }
    if previous is not None:
        out["changes"] = community_params.changes(
            community_params.effective(previous.params), params
        )
    return out


def fields_json() -> list[dict[str, Any]]:
    out = []
    for f in community_params.FIELDS:
        item: dict[str, Any] = {
            "name": f.name,
            "kind": f.kind,
            "default": f.default,
            "unit": f.unit,
            "label": f.label,
        }
        if f.kind in ("int", "float"):
            item["min"], item["max"] = f.low, f.high
        elif f.kind in ("text", "phone"):
            item["max_length"] = int(f.high)
        out.append(item)
    return out


async def get_params(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    async with pool(request).acquire() as conn:
        current = await params_store.current(conn, community_id)
    if current is None:
        raise NotFoundError("no such community")
    return web.json_response({**version_json(current), "fields": fields_json()})


def _validated(candidate: dict[str, Any]) -> dict[str, Any]:
    try:
        return community_params.validate(candidate)
    except InputError as error:
        field = f"params.{error.field}"
        raise InputError(
            field, error.detail, errors=[{"field": field, "detail": error.detail}]
        ) from None


async def _save(request: web.Request, *, merge: bool) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    body = await read_body(request, "community-params")
    async with pool(request).acquire() as conn, conn.transaction():
        current = await params_store.current(conn, community_id)
        if current is None:
            raise NotFoundError("no such community")
        base = community_params.effective(current.params) if merge else {}
        params = _validated({**base, **body["params"]})
        saved = await params_store.save(
            conn,
            community_id,
            params,
            changed_by=who.person_id,
            reason=body.get("reason") or None,
            base_version=body.get("base_version"),
        )
    return web.json_response(version_json(saved, current))


async def put_params(request: web.Request) -> web.Response:
    return await _save(request, merge=False)


async def patch_params(request: web.Request) -> web.Response:
    return await _save(request, merge=True)


async def params_history(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    async with pool(request).acquire() as conn:
        versions = await params_store.history(conn, community_id, limit=101)
    items = [
        version_json(v, versions[k + 1] if k + 1 < len(versions) else None)
        for k, v in enumerate(versions[:100])
    ]
    return web.json_response({"items": items, "next_cursor": None})


async def rollback_params(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    body = await read_body(request, "params-rollback")
    async with pool(request).acquire() as conn, conn.transaction():
        current = await params_store.current(conn, community_id)
        old = await params_store.get_version(conn, community_id, body["version"])
        if current is None:
            raise NotFoundError("no such community")
        if old is None:
            raise InputError("version", f"the community has no version {body['version']}")
        reason = body.get("reason") or f"rollback to version {old.version}"
        saved = await params_store.save(
            conn,
            community_id,
            community_params.effective(old.params),
            changed_by=who.person_id,
            reason=reason,
            restored_version=old.version,
        )
    return web.json_response(version_json(saved, current), status=201)


# ---- KPIs and the map ---------------------------------------------------------------------


def period(query: Any) -> tuple[date, date, datetime, datetime]:
    """``from``/``to`` local days (both included) and their UTC bounds."""
    today = datetime.now(UTC).date()
    last = parse_date(query["to"], "to") if "to" in query else today
    first = (
        parse_date(query["from"], "from")
        if "from" in query
        else last - timedelta(days=KPI_DEFAULT_DAYS - 1)
    )
    if last < first:
        raise InputError("to", "must not be before 'from'")
    if (last - first).days >= MAX_KPI_DAYS:
        raise InputError("to", f"a period is at most {MAX_KPI_DAYS} days")
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    return first, last, start, end


def _check_query(query: Any, allowed: tuple[str, ...]) -> None:
    for name in query:
        if name not in allowed:
            raise InputError(name, "is not a parameter of this operation")


async def _kpis(request: web.Request, community_id: uuid.UUID) -> tuple[Any, kpi.Kpis]:
    first, last, start, end = period(request.query)
    async with pool(request).acquire() as conn:
        facts = await kpi_store.request_facts(conn, community_id, start, end)
        trips = await kpi_store.trip_facts(conn, community_id, start, end)
        offering = await kpi_store.offering_drivers(conn, community_id, start, end)
    return (first, last), kpi.compute(facts, trips, offering)


def _wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format")
    if fmt is not None and fmt not in ("json", "csv"):
        raise InputError("format", "must be json or csv")
    return fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("Accept", ""))


def _csv_response(rows: list[list[Any]], filename: str) -> web.Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return web.Response(
        text=buffer.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def get_kpis(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    _check_query(request.query, ("from", "to", "format", "table"))
    (first, last), k = await _kpis(request, community_id)
    table = request.query.get("table", "summary")
    if table not in ("summary", "villages", "unmet"):
        raise InputError("table", "must be summary, villages or unmet")
    if _wants_csv(request):
        name = f"kpis-{table}-{first.isoformat()}-{last.isoformat()}.csv"
        if table == "summary":
            return _csv_response(
                [["kpi", "value"], *[[a, b] for a, b in k.summary().items()]], name
            )
        if table == "villages":
            rows = [[v.village, v.requests, v.served, v.served_share] for v in k.villages]
            return _csv_response([["village", "requests", "served", "served_share"], *rows], name)
        unmet = [[r.requested_at.isoformat(), r.village, r.lon, r.lat] for r in k.unmet]
        return _csv_response([["requested_at", "village", "lon", "lat"], *unmet], name)
    return web.json_response(
        {
            "community_id": str(community_id),
            "from": first.isoformat(),
            "to": last.isoformat(),
            **kpis_json(k),
            "co2_kg_per_vehicle_km": kpi.CO2_KG_PER_VEHICLE_KM,
            "road_circuity": kpi.ROAD_CIRCUITY,
        }
    )


def _grid_geojson(cells: tuple[kpi.GridCell, ...]) -> dict[str, Any]:
    back = to_wgs84()
    features = []
    for c in cells:
        size = kpi.GRID_CELL_M
        corners = [(c.x_m, c.y_m), (c.x_m + size, c.y_m), (c.x_m + size, c.y_m + size)]
        corners += [(c.x_m, c.y_m + size), (c.x_m, c.y_m)]
        ring = [[round(v, 6) for v in back.transform(x, y)] for x, y in corners]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"unmet": c.unmet, "x_m": c.x_m, "y_m": c.y_m},
            }
        )
    return {"type": "FeatureCollection", "features": features}


async def get_map(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    _check_query(request.query, ("from", "to"))
    first, last, start, end = period(request.query)
    async with pool(request).acquire() as conn:
        layers = await kpi_store.map_layers(conn, community_id, start, end)
        facts = await kpi_store.request_facts(conn, community_id, start, end)
    unmet = [f for f in facts if not f.served]
    layers["unmet"] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(f.lon, 6), round(f.lat, 6)]},
                "properties": {"requested_at": utc(f.requested_at), "village": f.village},
            }
            for f in unmet
        ],
    }
    layers["unmet_grid"] = _grid_geojson(kpi.heat_grid(unmet))
    return web.json_response({"from": first.isoformat(), "to": last.isoformat(), **layers})


# ---- what-if ------------------------------------------------------------------------------


def _whatif(request: web.Request) -> WhatIfRunner:
    return cast(WhatIfRunner, request.app[appkeys.WHATIF])


def whatif_json(run: WhatIfRun) -> dict[str, Any]:
    middle = ["solving_current"] if run.source == "generated" else []
    stages = ["reading", "solving", *middle, "comparing", "done"]
    return {
        "id": str(run.id),
        "community_id": str(run.community_id),
        "day": run.day.isoformat(),
        "source": run.source,
        "num_requests": run.num_requests,
        "seed": run.seed,
        "params": run.params,
        "base_params_version": run.base_params_version,
        "status": run.status,
        "stage": run.stage,
        "stages": stages,
        "started_at": utc(run.started_at),
        "finished_at": utc(run.finished_at),
        "result": run.result,
        "error": run.error,
    }


async def create_whatif(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    body = await read_body(request, "whatif-create")
    day = parse_date(body["day"], "day")
    async with pool(request).acquire() as conn:
        current = await params_store.current(conn, community_id)
    if current is None:
        raise NotFoundError("no such community")
    candidate = _validated({**community_params.effective(current.params), **body.get("params", {})})
    run = await _whatif(request).start(
        WhatIfRequest(
            community_id=community_id,
            day=day,
            source=body.get("source", "past"),
            params=candidate,
            requested_by=who.person_id,
            num_requests=body.get("num_requests", 60),
            seed=body.get("seed", 0),
            time_limit_s=body.get("time_limit_s"),
        )
    )
    return web.json_response(
        whatif_json(run), status=202, headers={"Location": f"/v1/whatif-runs/{run.id}"}
    )


async def list_whatif(request: web.Request) -> web.Response:
    who = await principal(request)
    community_id = await staff_community(request, who)
    async with pool(request).acquire() as conn:
        runs = await whatif_store.list_runs(conn, community_id, limit=20)
    return web.json_response({"items": [whatif_json(r) for r in runs], "next_cursor": None})


async def _visible_run(request: web.Request, who: Principal) -> WhatIfRun:
    async with pool(request).acquire() as conn:
        run = await whatif_store.get_run(conn, path_id(request))
    if run is None or not who.operates(run.community_id):
        raise NotFoundError("no such what-if run")
    return run


async def get_whatif(request: web.Request) -> web.Response:
    who = await principal(request)
    return web.json_response(whatif_json(await _visible_run(request, who)))


async def cancel_whatif(request: web.Request) -> web.Response:
    who = await principal(request)
    run = await _visible_run(request, who)
    if run.status == "running":
        await _whatif(request).cancel(run.id)
    async with pool(request).acquire() as conn:
        after = await whatif_store.get_run(conn, run.id)
    assert after is not None
    return web.json_response(whatif_json(after))


def api_routes() -> list[ApiRoute]:
    """This module's operations, for :func:`maas.app.api_routes`."""
    staff = "operators (of the community) and admins"
    return [
        ApiRoute(
            "GET",
            "/v1/communities/{id}/params",
            get_params,
            "The community's current parameters, with each field's range, unit and default",
            "operator tools",
            roles=staff,
            response="params-version",
        ),
        ApiRoute(
            "PUT",
            "/v1/communities/{id}/params",
            put_params,
            "Store a new parameter version (the complete set; missing fields take defaults)",
            "operator tools",
            roles=staff,
            response="params-version",
            body="community-params",
        ),
        ApiRoute(
            "PATCH",
            "/v1/communities/{id}/params",
            patch_params,
            "Store a new parameter version changing only the given fields",
            "operator tools",
            roles=staff,
            response="params-version",
            body="community-params",
        ),
        ApiRoute(
            "GET",
            "/v1/communities/{id}/params/history",
            params_history,
            "Every parameter version, newest first, with who, when, why and what changed",
            "operator tools",
            roles=staff,
            response="params-version",
            page=True,
        ),
        ApiRoute(
            "POST",
            "/v1/communities/{id}/params/rollback",
            rollback_params,
            "Roll back: a new version equal to an earlier one",
            "operator tools",
            roles=staff,
            response="params-version",
            body="params-rollback",
            ok="201",
        ),
        ApiRoute(
            "GET",
            "/v1/communities/{id}/kpis",
            get_kpis,
            "Key figures of a period (?from=&to= local days; CSV with ?format=csv or "
            "Accept: text/csv, &table=summary|villages|unmet)",
            "operator tools",
            roles=staff,
            response="kpis",
        ),
        ApiRoute(
            "GET",
            "/v1/communities/{id}/map",
            get_map,
            "Map layers of a period as GeoJSON: offers, requests, routes, unmet demand",
            "operator tools",
            roles=staff,
            response="map-layers",
        ),
        ApiRoute(
            "POST",
            "/v1/communities/{id}/whatif-runs",
            create_whatif,
            "Replay a past or generated day under candidate parameters (202; poll the run)",
            "operator tools",
            roles=staff,
            response="whatif-run",
            body="whatif-create",
            ok="202",
            location="/v1/whatif-runs/{id}",
            needs_roads=True,
        ),
        ApiRoute(
            "GET",
            "/v1/communities/{id}/whatif-runs",
            list_whatif,
            "The community's latest what-if runs",
            "operator tools",
            roles=staff,
            response="whatif-run",
            page=True,
        ),
        ApiRoute(
            "GET",
            "/v1/whatif-runs/{id}",
            get_whatif,
            "A what-if run: its stage, and when done the KPIs side by side",
            "operator tools",
            roles=staff,
            response="whatif-run",
        ),
        ApiRoute(
            "POST",
            "/v1/whatif-runs/{id}/cancel",
            cancel_whatif,
            "Cancel a running what-if run",
            "operator tools",
            roles=staff,
            response="whatif-run",
        ),
    ]


async def whatif_ctx(app: web.Application) -> AsyncIterator[None]:
    """The what-if runner, on the matching service's process pool (taken at each solve, so a
    pool the matching runner replaced after a worker died is used)."""
    runner = WhatIfRunner(
        app[appkeys.SETTINGS],
        app[appkeys.DB_POOL],
        lambda: getattr(app[appkeys.MATCHING], "executor", None),
        lambda: app[appkeys.ROAD_NETWORK],
    )
    app[appkeys.WHATIF] = runner
    try:
        await runner.fail_stale()
    except Exception:  # a database that is not ready yet must not stop the service
        log.warning("could not check for interrupted what-if runs", exc_info=True)
    try:
        yield
    finally:
        await runner.close()
