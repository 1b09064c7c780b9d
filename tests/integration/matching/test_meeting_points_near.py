"""Meeting points a request may walk to: the index-assisted query finds exactly what
measuring every meeting point would."""

from __future__ import annotations

import asyncpg
import pytest
from support.matching_world import HERRENBERG, NUFRINGEN, World, tomorrow_at

from maas.domain.models import Point
from maas.planning.params import WALK_DETOUR_FACTOR
from maas.store import planning

pytestmark = pytest.mark.db

# Every meeting point measured on the sphere, no index: what the query must agree with.
SQL_EVERY_POINT = """
SELECT ST_X(p.position) AS lon, ST_Y(p.position) AS lat,
       ST_Distance(p.position::geography, q.origin::geography) AS distance_m
FROM ride_request q, meeting_point p
WHERE q.id = $1
  AND ST_DWithin(p.position::geography, q.origin::geography, LEAST(q.max_walk_m, $2) / $3::float8)
"""
SQL_PROJECT = """
SELECT ST_X(g), ST_Y(g) FROM (
    SELECT ST_Project(ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3, radians($4))::geometry
) AS t(g)
"""


async def test_the_walk_limit_is_kept_in_every_direction(
    world: World, conn: asyncpg.Connection
) -> None:
    max_walk_m = 500
    limit_m = max_walk_m / WALK_DETOUR_FACTOR
    for bearing in range(0, 360, 30):
        for distance in (limit_m - 2, limit_m + 2):
            lon, lat = await conn.fetchrow(
                SQL_PROJECT, HERRENBERG.lon, HERRENBERG.lat, distance, bearing
            )
            await world.meeting_point(f"{bearing}° {distance:.0f} m", Point(lon, lat))
    rider = await world.person("Rider")
    request = await world.request(
        rider, HERRENBERG, NUFRINGEN, tomorrow_at(9), max_walk_m=max_walk_m
    )
    found = await planning.meeting_points_near(
        conn,
        [request],
        side="origin",
        max_walk_m=max_walk_m,
        walk_factor=WALK_DETOUR_FACTOR,
        per_request=1000,
    )
    every = await conn.fetch(SQL_EVERY_POINT, request, max_walk_m, WALK_DETOUR_FACTOR)
    assert len(every) >= 12  # the ring just inside the limit, and the town's own points
    # Points at one spot count once (the query keeps one of them), so compare the spots.
    assert {(p.position.lon, p.position.lat) for p in found} == {
        (r["lon"], r["lat"]) for r in every
    }
    assert all(p.distance_m <= limit_m for p in found)
