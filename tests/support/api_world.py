"""A small synthetic region for API tests: a service area, a grid of roads, two communities
(west and east), and people in every role with tokens.

West community: lon 8.80–8.875; east: 8.875–8.95; lat 48.55–48.65. Roads run along
lat 48.58/48.60/48.62 and lon 8.83/8.87/8.91, so points on those lines are on a road and
(8.85, 48.645) is about 2.8 km from any road.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import shapely
from aiohttp import web
from aiohttp.test_utils import TestClient
from shapely.geometry import LineString, Point, box

from maas.store import communities, people

REGION = "testland"
SERVICE_AREA = (8.80, 48.55, 8.95, 48.65)
ROAD_LATS = (48.58, 48.60, 48.62)
ROAD_LONS = (8.83, 8.87, 8.91)

# Inside the west community, on a road; inside the east community, on a road.
WEST_POINT = {"lon": 8.83, "lat": 48.59}
WEST_POINT_2 = {"lon": 8.85, "lat": 48.60}
EAST_POINT = {"lon": 8.91, "lat": 48.61}
EAST_POINT_2 = {"lon": 8.93, "lat": 48.62}
FAR_FROM_ROAD = {"lon": 8.85, "lat": 48.645}
OUTSIDE = {"lon": 9.30, "lat": 48.60}

SQL_INSERT_REGION = """
INSERT INTO region (name, import_id, source_name, source_sha256, service_area, node_count,
                    edge_count, village_count)
VALUES ($1, $2, 'synthetic', 'none', ST_Multi($3::geometry), $4, $5, 2)
ON CONFLICT (name) DO UPDATE SET service_area = EXCLUDED.service_area
RETURNING id
"""
SQL_INSERT_NODE = """
INSERT INTO road_node (region_id, node_id, geom) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
"""
SQL_INSERT_EDGE = """
INSERT INTO road_edge (region_id, u, v, key, osmid, highway, oneway, length_m, speed_kph,
                       travel_time_s, geom)
VALUES ($1, $2, $3, 0, '{1}', 'residential', false, $4, 50, $5, $6)
ON CONFLICT DO NOTHING
"""
SQL_INSERT_VILLAGE = """
INSERT INTO village (region_id, name, kind, osm_type, osm_id, polygon_source, geom, centroid)
VALUES ($1, $2, 'village', 'n', $3, 'voronoi', ST_Multi($4::geometry), ST_Centroid($4::geometry))
ON CONFLICT DO NOTHING
"""


@dataclass
class Actor:
    """A person with a token."""

    id: uuid.UUID
    token: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    region: str
    west: uuid.UUID
    east: uuid.UUID
    actors: dict[str, Actor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


def _srid(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.set_srid(geom, 4326)


def _length_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * 111_320 * math.cos(math.radians(48.6))
    dy = (b[1] - a[1]) * 110_540
    return math.hypot(dx, dy)


async def seed_roads(conn: asyncpg.Connection) -> int:
    """The region, its service area, a road grid and two villages; returns the region id."""
    region_id: int = await conn.fetchval(
        SQL_INSERT_REGION,
        REGION,
        uuid.uuid4(),
        _srid(box(*SERVICE_AREA)),
        len(ROAD_LATS) * len(ROAD_LONS) + 12,
        100,
    )
    # Nodes at every crossing and at the area's edges; two-way edges between neighbours.
    lons = (SERVICE_AREA[0], *ROAD_LONS, SERVICE_AREA[2])
    lats = (SERVICE_AREA[1], *ROAD_LATS, SERVICE_AREA[3])
    ids: dict[tuple[float, float], int] = {}
    for i, lon in enumerate(lons):
        for j, lat in enumerate(lats):
            if lon in ROAD_LONS or lat in ROAD_LATS:
                ids[(lon, lat)] = 1000 + i * 10 + j
                await conn.execute(
                    SQL_INSERT_NODE, region_id, ids[(lon, lat)], _srid(Point(lon, lat))
                )
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for lat in ROAD_LATS:
        segments += [((a, lat), (b, lat)) for a, b in itertools.pairwise(lons)]
    for lon in ROAD_LONS:
        segments += [((lon, a), (lon, b)) for a, b in itertools.pairwise(lats)]
    for a, b in segments:
        length = _length_m(a, b)
        for u, v in ((a, b), (b, a)):
            await conn.execute(
                SQL_INSERT_EDGE,
                region_id,
                ids[u],
                ids[v],
                length,
                length / (50 / 3.6),
                _srid(LineString([u, v])),
            )
    mid = (SERVICE_AREA[0] + SERVICE_AREA[2]) / 2
    await conn.execute(
        SQL_INSERT_VILLAGE, region_id, "Westdorf", 1, _srid(box(SERVICE_AREA[0], 48.55, mid, 48.65))
    )
    await conn.execute(
        SQL_INSERT_VILLAGE, region_id, "Ostdorf", 2, _srid(box(mid, 48.55, SERVICE_AREA[2], 48.65))
    )
    return region_id


async def seed_world(conn: asyncpg.Connection) -> World:
    """Roads, the two communities and one person per role and community, with tokens."""
    await seed_roads(conn)
    mid = (SERVICE_AREA[0] + SERVICE_AREA[2]) / 2
    west = await communities.create_community(
        conn,
        region=REGION,
        name="Westdorf",
        area=_srid(box(SERVICE_AREA[0], 48.55, mid, 48.65)),
        settings={"max_walk_m": 400},
        village_id=1,
    )
    east = await communities.create_community(
        conn,
        region=REGION,
        name="Ostdorf",
        area=_srid(box(mid, 48.55, SERVICE_AREA[2], 48.65)),
        settings={},
        village_id=2,
    )
    world = World(REGION, west.id, east.id)
    expires = datetime.now(UTC) + timedelta(days=30)
    specs = {
        "admin": {"home": west.id, "is_admin": True},
        "op_west": {"home": west.id, "operator_of": [west.id]},
        "op_east": {"home": east.id, "operator_of": [east.id]},
        "rider_west": {"home": west.id, "is_rider": True},
        "driver_west": {"home": west.id, "is_driver": True},
        "both_west": {"home": west.id, "is_rider": True, "is_driver": True},
        "rider_east": {"home": east.id, "is_rider": True},
        "driver_east": {"home": east.id, "is_driver": True},
    }
    for name, spec in specs.items():
        person = await people.create_person(
            conn,
            name=f"Test {name}",
            home_community_id=spec["home"],  # type: ignore[arg-type]
            is_rider=bool(spec.get("is_rider")),
            is_driver=bool(spec.get("is_driver")),
            is_admin=bool(spec.get("is_admin")),
            operator_of=spec.get("operator_of", ()),  # type: ignore[arg-type]
        )
        _, secret = await people.create_token(conn, person.id, label="test", expires_at=expires)
        world.actors[name] = Actor(person.id, secret, name)
    return world


ApiClient = TestClient[web.Request, web.Application]
"""The aiohttp test client of the service app."""
