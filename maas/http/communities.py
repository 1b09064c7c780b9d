"""Communities (tenants) and their meeting points.

Anyone signed in may read communities and meeting points (they are public places); a
community's settings are shown to its operators and admins only. Admins create communities;
operators edit their own communities and manage their meeting points.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import asyncpg
import shapely
from aiohttp import web
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from maas import appkeys
from maas.domain.models import Community, MeetingPoint, Point, Principal
from maas.errors import ForbiddenError, InputError, NotFoundError
from maas.http.common import (
    idempotent,
    list_filter,
    page_json,
    path_id,
    point_json,
    pool,
    principal,
    read_body,
    utc,
)
from maas.http.location import located
from maas.store import communities

KINDS = ("mitfahrbank", "bus_stop", "parking", "other")
COMMUNITY_LIST_PARAMETERS = ("limit", "cursor", "bbox", "region")
REGION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""What an imported region may be called (the ``region`` table's check)."""
MEETING_POINT_LIST_PARAMETERS = ("limit", "cursor", "community_id", "bbox", "kind")


def community_json(c: Community, who: Principal) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(c.id),
        "region": c.region,
        "name": c.name,
        "village_id": c.village_id,
        "area": shapely.geometry.mapping(c.area),
        "created_at": utc(c.created_at),
        "updated_at": utc(c.updated_at),
    }
    if who.operates(c.id):
        out["settings"] = c.settings
    return out


def meeting_point_json(m: MeetingPoint) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "community_id": str(m.community_id),
        "name": m.name,
        "kind": m.kind,
        "position": point_json(m.position),
        "step_free": m.step_free,
        "bench": m.bench,
        "shelter": m.shelter,
        "lit": m.lit,
        "source": m.source,
        "created_at": utc(m.created_at),
    }


def parse_area(raw: dict[str, Any]) -> BaseGeometry:
    """A valid, non-empty WGS84 polygon or multipolygon."""
    try:
        geom = shape(raw)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputError("area", f"is not a GeoJSON polygon: {exc}") from None
    if geom.is_empty or not geom.is_valid or geom.area <= 0:
        raise InputError("area", "must be a valid polygon that does not cross itself")
    minx, miny, maxx, maxy = geom.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise InputError("area", "coordinates are WGS84 longitude, latitude")
    return shapely.set_srid(geom, 4326)


async def _community_or_404(conn: asyncpg.Connection, request: web.Request) -> Community:
    found = await communities.get_community(conn, path_id(request))
    if found is None:
        raise NotFoundError("no such community")
    return found


async def list_communities(request: web.Request) -> web.Response:
    who = await principal(request)
    flt = list_filter(request.query, accepted=COMMUNITY_LIST_PARAMETERS)
    region = request.query.get("region")
    if region is not None and not REGION_NAME.fullmatch(region):
        raise InputError("region", "is not a region name (a-z, 0-9, _ and -)")
    async with pool(request).acquire() as conn:
        page = await communities.list_communities(conn, flt, region=region)
    return web.json_response(page_json(page, lambda c: community_json(c, who)))


async def get_community(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn:
        found = await _community_or_404(conn, request)
    return web.json_response(community_json(found, who))


async def create_community(request: web.Request) -> web.Response:
    who = await principal(request)
    if not who.is_admin:
        raise ForbiddenError("only admins create communities")
    body = await read_body(request, "community-create")
    area = parse_area(body["area"])
    region = request.app[appkeys.SETTINGS].region

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        created = await communities.create_community(
            conn, region=region, name=body["name"], area=area, settings=body.get("settings", {})
        )
        return 201, community_json(created, who)

    return located(await idempotent(request, who, body, action), "/v1/communities/{id}")


async def patch_community(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_body(request, "community-patch")
    area = parse_area(body["area"]) if "area" in body else None
    async with pool(request).acquire() as conn, conn.transaction():
        found = await _community_or_404(conn, request)
        if not who.operates(found.id):
            raise ForbiddenError("only this community's operators and admins may change it")
        updated = await communities.update_community(
            conn, found.id, name=body.get("name"), area=area, settings=body.get("settings")
        )
    assert updated is not None
    return web.json_response(community_json(updated, who))


async def list_meeting_points(request: web.Request) -> web.Response:
    await principal(request)
    flt = list_filter(request.query, accepted=MEETING_POINT_LIST_PARAMETERS)
    kind = request.query.get("kind")
    if kind is not None and kind not in KINDS:
        raise InputError("kind", f"must be one of {', '.join(KINDS)}")
    async with pool(request).acquire() as conn:
        page = await communities.list_meeting_points(conn, flt, kind=kind)
    return web.json_response(page_json(page, meeting_point_json))


async def get_meeting_point(request: web.Request) -> web.Response:
    await principal(request)
    async with pool(request).acquire() as conn:
        found = await communities.get_meeting_point(conn, path_id(request))
    if found is None:
        raise NotFoundError("no such meeting point")
    return web.json_response(meeting_point_json(found))


async def create_meeting_point(request: web.Request) -> web.Response:
    who = await principal(request)
    if not (who.is_admin or who.is_operator):
        raise ForbiddenError("only operators and admins add meeting points")
    body = await read_body(request, "meeting-point-create")
    position = Point(float(body["position"]["lon"]), float(body["position"]["lat"]))
    region = request.app[appkeys.SETTINGS].region

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        community_id = await communities.community_at(conn, position, region=region)
        if community_id is None:
            raise InputError("position", "lies in no community")
        if not who.operates(community_id):
            raise ForbiddenError("the position lies in a community you do not operate")
        created = await communities.create_meeting_point(
            conn,
            community_id=community_id,
            name=body["name"],
            kind=body["kind"],
            position=position,
            step_free=body.get("step_free", False),
            bench=body.get("bench", False),
            shelter=body.get("shelter", False),
            lit=body.get("lit", False),
        )
        return 201, meeting_point_json(created)

    return located(await idempotent(request, who, body, action), "/v1/meeting-points/{id}")


async def patch_meeting_point(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await read_body(request, "meeting-point-patch")
    region = request.app[appkeys.SETTINGS].region
    async with pool(request).acquire() as conn, conn.transaction():
        found = await communities.get_meeting_point(conn, path_id(request), for_update=True)
        if found is None:
            raise NotFoundError("no such meeting point")
        if not who.operates(found.community_id):
            raise ForbiddenError("only this community's operators and admins may change it")
        changes: dict[str, Any] = {
            k: body[k]
            for k in ("name", "kind", "step_free", "bench", "shelter", "lit")
            if k in body
        }
        if "position" in body:
            position = Point(float(body["position"]["lon"]), float(body["position"]["lat"]))
            community_id = await communities.community_at(conn, position, region=region)
            if community_id is None:
                raise InputError("position", "lies in no community")
            if not who.operates(community_id):
                raise ForbiddenError(
                    "the new position lies in a community you do not operate", field="position"
                )
            changes.update(position=position, community_id=community_id)
        updated = await communities.update_meeting_point(conn, replace(found, **changes))
    return web.json_response(meeting_point_json(updated))


async def delete_meeting_point(request: web.Request) -> web.Response:
    who = await principal(request)
    async with pool(request).acquire() as conn, conn.transaction():
        found = await communities.get_meeting_point(conn, path_id(request))
        if found is None:
            raise NotFoundError("no such meeting point")
        if not who.operates(found.community_id):
            raise ForbiddenError("only this community's operators and admins may remove it")
        await communities.delete_meeting_point(conn, found.id)
    return web.Response(status=204)
