"""Meeting points a request may walk to: the index-assisted query finds exactly what
measuring every meeting point would."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from support.matching_world import HERRENBERG, NUFRINGEN, World, tomorrow_at

from maas.domain.models import Point
from maas.planning.params import WALK_DETOUR_FACTOR
from maas.planning.plan import Place
from maas.planning.service import PlacesCache, candidate_places
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


async def test_a_places_cache_asks_only_for_new_requests_and_notices_moves(
    world: World, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    near_by = await conn.fetchrow(SQL_PROJECT, HERRENBERG.lon, HERRENBERG.lat, 100.0, 45.0)
    bench = await world.meeting_point("Bench", Point(*near_by))
    rider = await world.person("Rider")
    first = await world.request(rider, HERRENBERG, NUFRINGEN, tomorrow_at(9))
    second = await world.request(rider, HERRENBERG, NUFRINGEN, tomorrow_at(10))
    asked: list[list[uuid.UUID]] = []
    real = planning.meeting_points_near

    async def spy(conn: asyncpg.Connection, ids: list[uuid.UUID], **kw: Any) -> Any:
        asked.append(list(ids))
        return await real(conn, ids, **kw)

    monkeypatch.setattr(planning, "meeting_points_near", spy)
    cache = PlacesCache()

    def benches(found: dict[tuple[uuid.UUID, str], list[Place]], request: uuid.UUID) -> set[Any]:
        return {p.meeting_point_id for p in found.get((request, "origin"), [])}

    found = await candidate_places(conn, [first], max_walk_m=500, cache=cache)
    assert bench in benches(found, first)
    assert asked == [[first], [first]]  # origin and destination
    asked.clear()
    found = await candidate_places(conn, [first, second], max_walk_m=500, cache=cache)
    assert asked == [[second], [second]]
    assert bench in benches(found, first)
    assert bench in benches(found, second)
    assert found == await candidate_places(conn, [first, second], max_walk_m=500)

    # Another community's walk limit is kept beside, not instead.
    asked.clear()
    short = await candidate_places(conn, [first], max_walk_m=50, cache=cache)
    assert asked == [[first], [first]]
    assert bench not in benches(short, first)
    asked.clear()
    assert found == await candidate_places(conn, [first, second], max_walk_m=500, cache=cache)
    assert asked == []

    # Moved out of reach: the fingerprint changes, everything is asked again.
    await conn.execute(
        "UPDATE meeting_point SET position = ST_SetSRID(ST_MakePoint($2, $3), 4326) WHERE id = $1",
        bench,
        NUFRINGEN.lon + 0.05,
        NUFRINGEN.lat + 0.05,
    )
    asked.clear()
    found = await candidate_places(conn, [first, second], max_walk_m=500, cache=cache)
    assert asked == [[first, second], [first, second]]
    assert bench not in benches(found, first) | benches(found, second)
