"""What the KPIs and the dashboard map read from PostGIS: the facts of a period (requests and
what became of them, drivers' trips), the map layers, the region's roads and the communities
as GeoJSON. Computation happens in :mod:`maas.domain.kpi`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from maas.domain.kpi import RequestFact, TripFact, direct_km
from maas.store.common import from_json

# A request is served when its rider holds a place in a live or completed match.
SQL_REQUEST_FACTS = """
SELECT q.id, q.depart_earliest,
       ST_X(approx_point(q.origin)) AS lon, ST_Y(approx_point(q.origin)) AS lat,
       ST_X(ST_Transform(q.origin, 25832)) AS x_m, ST_Y(ST_Transform(q.origin, 25832)) AS y_m,
       ST_Distance(q.origin::geography, q.destination::geography) AS straight_m,
       vil.name AS village, s.pickup_at, s.driver_id, s.match_id IS NOT NULL AS served
FROM ride_request q
JOIN community c ON c.id = q.community_id
LEFT JOIN LATERAL (
    SELECT vi.name FROM village vi JOIN region rg ON rg.id = vi.region_id AND rg.name = c.region
    WHERE ST_Covers(vi.geom, q.origin)
    ORDER BY ST_Area(vi.geom), vi.id
    LIMIT 1
) vil ON true
LEFT JOIN LATERAL (
    SELECT m.id AS match_id, st.planned_at AS pickup_at, o.person_id AS driver_id
    FROM match_rider r
    JOIN match m ON m.id = r.match_id
    JOIN ride_offer o ON o.id = m.offer_id
    LEFT JOIN match_stop st
        ON st.match_id = m.id AND st.request_id = r.request_id AND st.kind = 'pickup'
    WHERE r.request_id = q.id AND r.status IN ('pending', 'accepted')
      AND m.status IN ('proposed', 'accepted', 'confirmed', 'completed')
    ORDER BY (m.status = 'proposed'), m.created_at DESC
    LIMIT 1
) s ON true
WHERE q.community_id = $1 AND q.status = 'open'
  AND q.depart_earliest >= $2 AND q.depart_earliest < $3
ORDER BY q.depart_earliest, q.id
"""
SQL_TRIP_FACTS = """
SELECT m.id, o.person_id AS driver_id,
       ST_Length(m.route::geography) AS route_m,
       ST_Distance(o.origin::geography, o.destination::geography) AS straight_m
FROM match m
JOIN ride_offer o ON o.id = m.offer_id
WHERE m.community_id = $1 AND m.status IN ('proposed', 'accepted', 'confirmed', 'completed')
  AND m.departure_at >= $2 AND m.departure_at < $3
  AND EXISTS (SELECT 1 FROM match_rider r
              WHERE r.match_id = m.id AND r.status IN ('pending', 'accepted'))
ORDER BY m.departure_at, m.id
"""
# Drivers who offered a trip in the period (the active drivers of the load KPIs): a one-off
# offer departing in it, or a weekly offer with a departure day in it (its weekdays, within
# its validity, not an exception date, as local dates of its time zone).
SQL_OFFERING_DRIVERS = """
SELECT DISTINCT o.person_id
FROM ride_offer o
WHERE o.community_id = $1 AND o.status = 'open'
  AND ((o.weekdays IS NULL AND o.depart_earliest >= $2 AND o.depart_earliest < $3)
       OR (o.weekdays IS NOT NULL AND EXISTS (
           SELECT 1
           FROM generate_series(($2 AT TIME ZONE o.time_zone)::date,
                                (($3 - interval '1 microsecond') AT TIME ZONE o.time_zone)::date,
                                interval '1 day') AS d(day)
           WHERE d.day::date >= o.valid_from
             AND (o.valid_until IS NULL OR d.day::date <= o.valid_until)
             AND extract(isodow FROM d.day)::int = ANY(o.weekdays)
             AND NOT d.day::date = ANY(o.exception_dates))))
ORDER BY o.person_id
"""
SQL_HAS_DAY = """
SELECT EXISTS (SELECT 1 FROM ride_request
               WHERE community_id = $1 AND status = 'open'
                 AND depart_earliest >= $2 AND depart_earliest < $3)
"""

# Map layers of a period (positions of requests are approximate: 300 m cells).
SQL_OFFER_LINES = """
SELECT o.id, ST_AsGeoJSON(ST_MakeLine(o.origin, o.destination), 6)::json AS geometry,
       o.seats, o.depart_earliest, o.weekdays IS NOT NULL AS weekly
FROM ride_offer o
WHERE o.community_id = $1 AND o.status = 'open'
  AND ((o.weekdays IS NULL AND o.depart_earliest < $3 AND o.depart_latest >= $2)
       OR (o.weekdays IS NOT NULL AND o.valid_from <= ($3 AT TIME ZONE o.time_zone)::date
           AND (o.valid_until IS NULL OR o.valid_until >= ($2 AT TIME ZONE o.time_zone)::date)))
ORDER BY o.created_at, o.id
LIMIT 2000
"""
SQL_REQUEST_POINTS = """
SELECT q.id, ST_AsGeoJSON(approx_point(q.origin), 6)::json AS geometry, q.depart_earliest,
       q.passengers
FROM ride_request q
WHERE q.community_id = $1 AND q.status = 'open'
  AND q.depart_earliest >= $2 AND q.depart_earliest < $3
ORDER BY q.depart_earliest, q.id
LIMIT 2000
"""
SQL_MATCH_ROUTES = """
SELECT m.id, ST_AsGeoJSON(m.route, 6)::json AS geometry, m.status, m.departure_at
FROM match m
WHERE m.community_id = $1 AND m.route IS NOT NULL
  AND m.status IN ('proposed', 'accepted', 'confirmed', 'completed')
  AND m.departure_at >= $2 AND m.departure_at < $3
ORDER BY m.departure_at, m.id
LIMIT 2000
"""

MAJOR_ROADS = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
)
# One MultiLineString per road class, each two-way road once, simplified by $3 degrees.
SQL_ROADS_GEOJSON = """
SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(
    json_build_object('type', 'Feature', 'properties', json_build_object('highway', highway),
                      'geometry', ST_AsGeoJSON(geom, 5)::json)), '[]'::json))
FROM (
    SELECT e.highway, ST_Simplify(ST_Collect(e.geom), $3) AS geom
    FROM road_edge e JOIN region r ON r.id = e.region_id
    WHERE r.name = $1 AND (e.oneway OR e.u < e.v OR (e.u = e.v))
      AND ($2::text[] IS NULL OR e.highway = ANY($2::text[]))
    GROUP BY e.highway
) roads
"""
SQL_REGION_IMPORT = "SELECT import_id FROM region WHERE name = $1"
SQL_COMMUNITIES_GEOJSON = """
SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(
    json_build_object('type', 'Feature', 'id', c.id,
                      'properties', json_build_object('id', c.id, 'name', c.name),
                      'geometry',
                      ST_AsGeoJSON(ST_SimplifyPreserveTopology(c.area, 0.0002), 5)::json)
    ORDER BY c.name, c.id), '[]'::json))
FROM community c
WHERE c.region = $1
"""


async def request_facts(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> list[RequestFact]:
    rows = await conn.fetch(SQL_REQUEST_FACTS, community_id, start, end)
    return [
        RequestFact(
            id=str(r["id"]),
            requested_at=r["depart_earliest"],
            direct_km=direct_km(r["straight_m"] / 1000.0),
            served=r["served"],
            pickup_at=r["pickup_at"],
            driver_id=None if r["driver_id"] is None else str(r["driver_id"]),
            village=r["village"],
            lon=r["lon"],
            lat=r["lat"],
            x_m=r["x_m"],
            y_m=r["y_m"],
        )
        for r in rows
    ]


async def trip_facts(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> list[TripFact]:
    rows = await conn.fetch(SQL_TRIP_FACTS, community_id, start, end)
    return [
        TripFact(
            driver_id=str(r["driver_id"]),
            route_km=None if r["route_m"] is None else r["route_m"] / 1000.0,
            direct_km=direct_km(r["straight_m"] / 1000.0),
        )
        for r in rows
    ]


async def offering_drivers(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> list[str]:
    """The drivers (person ids) who offered at least one trip in the period."""
    rows = await conn.fetch(SQL_OFFERING_DRIVERS, community_id, start, end)
    return [str(r["person_id"]) for r in rows]


async def has_requests(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> bool:
    return bool(await conn.fetchval(SQL_HAS_DAY, community_id, start, end))


def _features(rows: list[asyncpg.Record], props: tuple[str, ...]) -> dict[str, Any]:
    features = []
    for r in rows:
        properties: dict[str, Any] = {"id": str(r["id"])}
        for name in props:
            value = r[name]
            properties[name] = value.isoformat() if isinstance(value, datetime) else value
        features.append(
            {"type": "Feature", "geometry": from_json(r["geometry"]), "properties": properties}
        )
    return {"type": "FeatureCollection", "features": features}


async def map_layers(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> dict[str, Any]:
    """Offers (origin → destination as a straight line), requests (approximate origins) and
    matched routes of a period, each a GeoJSON FeatureCollection."""
    return {
        "offers": _features(
            await conn.fetch(SQL_OFFER_LINES, community_id, start, end),
            ("seats", "depart_earliest", "weekly"),
        ),
        "requests": _features(
            await conn.fetch(SQL_REQUEST_POINTS, community_id, start, end),
            ("depart_earliest", "passengers"),
        ),
        "routes": _features(
            await conn.fetch(SQL_MATCH_ROUTES, community_id, start, end),
            ("status", "departure_at"),
        ),
    }


async def region_import_id(conn: asyncpg.Connection, region: str) -> str | None:
    value = await conn.fetchval(SQL_REGION_IMPORT, region)
    return None if value is None else str(value)


async def roads_geojson(
    conn: asyncpg.Connection, region: str, *, major_only: bool, tolerance_deg: float
) -> str:
    """The region's roads as a GeoJSON text (one feature per road class)."""
    classes = list(MAJOR_ROADS) if major_only else None
    value = await conn.fetchval(SQL_ROADS_GEOJSON, region, classes, tolerance_deg)
    return value if isinstance(value, str) else json.dumps(value)


async def communities_geojson(conn: asyncpg.Connection, region: str) -> str:
    value = await conn.fetchval(SQL_COMMUNITIES_GEOJSON, region)
    return value if isinstance(value, str) else json.dumps(value)
