"""Where a rider or driver may be picked up: inside the region's service area and near a road.

With the road network loaded, :meth:`maas.roads.RoadNetwork.snap` answers (and gives the point
on the road). Without it (start-up, tests without a graph) the same rule is checked in PostGIS
against ``region.service_area`` and ``road_edge``; the point is then stored unsnapped.
"""

from __future__ import annotations

import asyncpg

from maas.domain.models import Point
from maas.errors import InputError, UnavailableError
from maas.store.common import to_geom

SQL_REGION_COVERS = """
SELECT id, ST_Covers(service_area, $2::geometry) AS inside FROM region WHERE name = $1
"""
# The bounding-box prefilter uses the GiST index (0.00002° is more than 1 m at any latitude
# of Germany in both axes); the exact test is on the spheroid.
SQL_NEAREST_ROAD = """
SELECT ST_ClosestPoint(geom, $2::geometry) AS snapped
FROM road_edge
WHERE region_id = $1
  AND geom && ST_Expand($2::geometry, $3 * 0.00002)
  AND ST_DWithin(geom::geography, ($2::geometry)::geography, $3)
ORDER BY geom <-> $2::geometry
LIMIT 1
"""


async def check_point(
    conn: asyncpg.Connection,
    network: object | None,
    *,
    region: str,
    point: Point,
    field: str,
    max_distance_m: float,
) -> Point | None:
    """The snapped road point (None when only checked in PostGIS); :class:`InputError` on
    ``field`` if the point is outside the service area or too far from a drivable road."""
    if not (-180 <= point.lon <= 180 and -90 <= point.lat <= 90):
        raise InputError(field, "is not a WGS84 longitude, latitude")
    if network is not None:
        snap = network.snap(point.lon, point.lat, field, max_distance_m)  # type: ignore[attr-defined]
        return Point(float(snap.lon), float(snap.lat))
    geom = to_geom(point)
    row = await conn.fetchrow(SQL_REGION_COVERS, region, geom)
    if row is None:
        raise UnavailableError(f"region '{region}' is not imported; run python -m maas import-osm")
    if not row["inside"]:
        raise InputError(field, f"lies outside the service area of region '{region}'")
    road = await conn.fetchval(SQL_NEAREST_ROAD, row["id"], geom, max_distance_m)
    if road is None:
        raise InputError(field, f"is more than {max_distance_m:g} m from the nearest drivable road")
    return None
