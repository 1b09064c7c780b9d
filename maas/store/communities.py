"""Communities (tenants) and their meeting points."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
from shapely.geometry.base import BaseGeometry

from maas.domain.models import Community, MeetingPoint, Point
from maas.store.common import ListFilter, Page, bbox_geom, from_geom, page_of, to_geom

SQL_INSERT_COMMUNITY = """
INSERT INTO community (region, name, village_id, area, settings)
VALUES ($1, $2, $3, ST_Multi($4::geometry), $5::jsonb)
RETURNING *
"""
SQL_GET_COMMUNITY = "SELECT * FROM community WHERE id = $1"
SQL_UPDATE_COMMUNITY = """
UPDATE community SET
    name = COALESCE($2, name),
    area = COALESCE(ST_Multi($3::geometry), area),
    settings = CASE WHEN $4::jsonb IS NULL THEN settings
                    ELSE jsonb_strip_nulls(settings || $4::jsonb) END,
    updated_at = now()
WHERE id = $1
RETURNING *
"""
SQL_LIST_COMMUNITIES = """
SELECT * FROM community
WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
  AND ($3::geometry IS NULL OR ST_Intersects(area, $3))
  AND ($4::text IS NULL OR region = $4)
ORDER BY created_at, id
LIMIT $5
"""
SQL_COMMUNITY_AT = """
SELECT id FROM community
WHERE ST_Covers(area, $1::geometry) AND ($2::text IS NULL OR region = $2)
ORDER BY ST_Area(area), id
LIMIT 1
"""
SQL_NEAREST_COMMUNITY = """
SELECT id FROM community
WHERE ($2::text IS NULL OR region = $2)
  AND ST_DWithin(area::geography, ($1::geometry)::geography, $3)
ORDER BY ST_Distance(area::geography, ($1::geometry)::geography), id
LIMIT 1
"""
SQL_COMMUNITY_EXISTS = "SELECT EXISTS (SELECT 1 FROM community WHERE id = $1)"

SQL_INSERT_MEETING_POINT = """
INSERT INTO meeting_point
    (community_id, name, kind, position, step_free, bench, shelter, lit, source, source_ref)
VALUES ($1, $2, $3::meeting_point_kind, $4::geometry, $5, $6, $7, $8, $9, $10)
RETURNING *
"""
SQL_UPSERT_MEETING_POINT = """
INSERT INTO meeting_point
    (community_id, name, kind, position, step_free, bench, shelter, lit, source, source_ref)
VALUES ($1, $2, $3::meeting_point_kind, $4::geometry, $5, $6, $7, $8, $9, $10)
ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO UPDATE SET
    community_id = EXCLUDED.community_id, name = EXCLUDED.name, position = EXCLUDED.position
RETURNING *
"""
SQL_UPDATE_MEETING_POINT = """
UPDATE meeting_point SET
    community_id = $2, name = $3, kind = $4::meeting_point_kind, position = $5::geometry,
    step_free = $6, bench = $7, shelter = $8, lit = $9
WHERE id = $1
RETURNING *
"""
SQL_GET_MEETING_POINT = "SELECT * FROM meeting_point WHERE id = $1"
SQL_GET_MEETING_POINT_FOR_UPDATE = "SELECT * FROM meeting_point WHERE id = $1 FOR UPDATE"
SQL_DELETE_MEETING_POINT = "DELETE FROM meeting_point WHERE id = $1"
SQL_LIST_MEETING_POINTS = """
SELECT * FROM meeting_point
WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
  AND ($3::geometry IS NULL OR ST_Intersects(position, $3))
  AND ($4::uuid IS NULL OR community_id = $4)
  AND ($5::text IS NULL OR kind::text = $5)
ORDER BY created_at, id
LIMIT $6
"""


def _community(row: asyncpg.Record) -> Community:
    settings = row["settings"]
    return Community(
        id=row["id"],
        region=row["region"],
        name=row["name"],
        village_id=row["village_id"],
        area=row["area"],
        settings=json.loads(settings) if isinstance(settings, str) else dict(settings),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _meeting_point(row: asyncpg.Record) -> MeetingPoint:
    return MeetingPoint(
        id=row["id"],
        community_id=row["community_id"],
        name=row["name"],
        kind=row["kind"],
        position=from_geom(row["position"]),
        step_free=row["step_free"],
        bench=row["bench"],
        shelter=row["shelter"],
        lit=row["lit"],
        source=row["source"],
        source_ref=row["source_ref"],
        created_at=row["created_at"],
    )


async def create_community(
    conn: asyncpg.Connection,
    *,
    region: str,
    name: str,
    area: BaseGeometry,
    settings: dict[str, Any],
    village_id: int | None = None,
) -> Community:
    row = await conn.fetchrow(
        SQL_INSERT_COMMUNITY, region, name, village_id, area, json.dumps(settings)
    )
    return _community(row)


async def get_community(conn: asyncpg.Connection, community_id: uuid.UUID) -> Community | None:
    row = await conn.fetchrow(SQL_GET_COMMUNITY, community_id)
    return None if row is None else _community(row)


async def update_community(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    *,
    name: str | None,
    area: BaseGeometry | None,
    settings: dict[str, Any] | None,
) -> Community | None:
    """Change what is given; ``settings`` are merged into the stored ones (None removes)."""
    row = await conn.fetchrow(
        SQL_UPDATE_COMMUNITY,
        community_id,
        name,
        area,
        None if settings is None else json.dumps(settings),
    )
    return None if row is None else _community(row)


async def list_communities(
    conn: asyncpg.Connection, flt: ListFilter, *, region: str | None = None
) -> Page[Community]:
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_COMMUNITIES, after_at, after_id, bbox_geom(flt.bbox), region, flt.limit + 1
    )
    return page_of([_community(r) for r in rows], flt.limit)


async def community_at(
    conn: asyncpg.Connection,
    point: Point,
    *,
    region: str | None = None,
    nearest_within_m: float = 0.0,
) -> uuid.UUID | None:
    """The (smallest) community whose area covers the point; else, if ``nearest_within_m`` is
    given, the nearest community within that distance (village polygons from OSM leave gaps)."""
    value: uuid.UUID | None = await conn.fetchval(SQL_COMMUNITY_AT, to_geom(point), region)
    if value is None and nearest_within_m > 0:
        value = await conn.fetchval(SQL_NEAREST_COMMUNITY, to_geom(point), region, nearest_within_m)
    return value


async def create_meeting_point(
    conn: asyncpg.Connection,
    *,
    community_id: uuid.UUID,
    name: str,
    kind: str,
    position: Point,
    step_free: bool = False,
    bench: bool = False,
    shelter: bool = False,
    lit: bool = False,
    source: str = "api",
    source_ref: str | None = None,
    upsert: bool = False,
) -> MeetingPoint:
    row = await conn.fetchrow(
        SQL_UPSERT_MEETING_POINT if upsert else SQL_INSERT_MEETING_POINT,
        community_id,
        name,
        kind,
        to_geom(position),
        step_free,
        bench,
        shelter,
        lit,
        source,
        source_ref,
    )
    return _meeting_point(row)


async def get_meeting_point(
    conn: asyncpg.Connection, mp_id: uuid.UUID, *, for_update: bool = False
) -> MeetingPoint | None:
    """The meeting point; ``for_update`` locks it until the caller's transaction ends."""
    sql = SQL_GET_MEETING_POINT_FOR_UPDATE if for_update else SQL_GET_MEETING_POINT
    row = await conn.fetchrow(sql, mp_id)
    return None if row is None else _meeting_point(row)


async def delete_meeting_point(conn: asyncpg.Connection, mp_id: uuid.UUID) -> None:
    await conn.execute(SQL_DELETE_MEETING_POINT, mp_id)


async def list_meeting_points(
    conn: asyncpg.Connection, flt: ListFilter, *, kind: str | None = None
) -> Page[MeetingPoint]:
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_MEETING_POINTS,
        after_at,
        after_id,
        bbox_geom(flt.bbox),
        flt.community_id,
        kind,
        flt.limit + 1,
    )
    return page_of([_meeting_point(r) for r in rows], flt.limit)


async def update_meeting_point(conn: asyncpg.Connection, changed: MeetingPoint) -> MeetingPoint:
    """Store every field of ``changed`` (the caller merged the patch into the current one)."""
    row = await conn.fetchrow(
        SQL_UPDATE_MEETING_POINT,
        changed.id,
        changed.community_id,
        changed.name,
        changed.kind,
        to_geom(changed.position),
        changed.step_free,
        changed.bench,
        changed.shelter,
        changed.lit,
    )
    return _meeting_point(row)
