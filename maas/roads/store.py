"""PostGIS storage of an imported region, and loading the network at service start-up.

Tables (migration ``0002_roads.sql``): ``region``, ``road_node``, ``road_edge``, ``village``.
:func:`save_region` writes a whole region in the caller's transaction with COPY;
:func:`load_network` opens the region's graph cache ``<cache_dir>/roads-<import_id>/`` (see
:mod:`maas.roads.arrays`), rebuilding it from ``road_node``/``road_edge`` when it is missing or
unreadable (a fresh machine, a wiped ``var/``), so the database is the one source of truth and
the cache only makes start-up fast.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg
import networkx as nx
import numpy as np
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from maas.errors import ConfigError, ConflictError, NotFoundError
from maas.roads import arrays as arr
from maas.roads.network import DEFAULT_SNAP_MAX_DISTANCE_M, RoadNetwork
from maas.roads.villages import Village

log = logging.getLogger("maas.roads")

SQL_REGION_BY_NAME: Final = """
SELECT id, import_id, node_count, edge_count FROM region WHERE name = $1
"""
SQL_REGION_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('maas.region:' || $1))"
SQL_UPSERT_REGION: Final = """
INSERT INTO region (name, imported_at, import_id, source_name, source_sha256, service_area,
                    node_count, edge_count, village_count)
VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (name) DO UPDATE SET
    imported_at = now(),
    import_id = EXCLUDED.import_id,
    source_name = EXCLUDED.source_name,
    source_sha256 = EXCLUDED.source_sha256,
    service_area = EXCLUDED.service_area,
    node_count = EXCLUDED.node_count,
    edge_count = EXCLUDED.edge_count,
    village_count = EXCLUDED.village_count
RETURNING id
"""
SQL_DELETE_EDGES: Final = "DELETE FROM road_edge WHERE region_id = $1"
SQL_DELETE_NODES: Final = "DELETE FROM road_node WHERE region_id = $1"
SQL_CREATE_VILLAGE_STAGING: Final = """
CREATE TEMPORARY TABLE village_import (
    name text NOT NULL,
    kind text NOT NULL,
    osm_type char(1) NOT NULL,
    osm_id bigint NOT NULL,
    population integer,
    polygon_source text NOT NULL,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    centroid geometry(Point, 4326) NOT NULL
) ON COMMIT DROP
"""
SQL_UPSERT_VILLAGES: Final = """
INSERT INTO village (region_id, name, kind, osm_type, osm_id, population, polygon_source,
                     geom, centroid)
SELECT $1, name, kind, osm_type, osm_id, population, polygon_source, geom, centroid
FROM village_import
ON CONFLICT (region_id, osm_type, osm_id) DO UPDATE SET
    name = EXCLUDED.name,
    kind = EXCLUDED.kind,
    population = EXCLUDED.population,
    polygon_source = EXCLUDED.polygon_source,
    geom = EXCLUDED.geom,
    centroid = EXCLUDED.centroid
"""
SQL_DELETE_VANISHED_VILLAGES: Final = """
DELETE FROM village v
WHERE v.region_id = $1
  AND NOT EXISTS (SELECT 1 FROM village_import i
                  WHERE i.osm_type = v.osm_type AND i.osm_id = v.osm_id)
"""
SQL_SELECT_NODES: Final = """
SELECT node_id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM road_node WHERE region_id = $1
"""
SQL_CURRENT_DATABASE: Final = "SELECT current_database()"
SQL_SELECT_SERVICE_AREA: Final = "SELECT service_area FROM region WHERE id = $1"
SQL_SELECT_EDGES: Final = """
SELECT u, v, key, length_m, travel_time_s, highway, geom FROM road_edge WHERE region_id = $1
"""

ROAD_NODE_COLUMNS: Final = ("region_id", "node_id", "geom")
ROAD_EDGE_COLUMNS: Final = (
    "region_id",
    "u",
    "v",
    "key",
    "osmid",
    "highway",
    "oneway",
    "length_m",
    "speed_kph",
    "travel_time_s",
    "geom",
)
VILLAGE_STAGING_COLUMNS: Final = (
    "name",
    "kind",
    "osm_type",
    "osm_id",
    "population",
    "polygon_source",
    "geom",
    "centroid",
)


def not_imported_message(region: str) -> str:
    return (
        f"region '{region}' has not been imported; run: python -m maas import-osm "
        f"data/demo/herrenberg.osm.pbf --region {region}"
    )


@dataclass(frozen=True, slots=True)
class RegionRecord:
    """The values of a region row that the importer writes."""

    name: str
    import_id: uuid.UUID
    source_name: str
    source_sha256: str
    service_area: BaseGeometry


async def region_row(conn: asyncpg.Connection, region: str) -> asyncpg.Record | None:
    """The region's row, or None; :class:`ConfigError` when the migrations have not run."""
    try:
        row: asyncpg.Record | None = await conn.fetchrow(SQL_REGION_BY_NAME, region)
    except asyncpg.UndefinedTableError as exc:
        raise ConfigError(
            "the database has no road tables yet; run: python -m maas db migrate"
        ) from exc
    return row


async def region_exists(conn: asyncpg.Connection, region: str) -> bool:
    """Whether ``region`` has been imported."""
    return await region_row(conn, region) is not None


async def save_region(
    conn: asyncpg.Connection,
    record: RegionRecord,
    graph: nx.MultiDiGraph,
    villages: Sequence[Village],
) -> int:
    """Replace the region's rows; the caller owns the transaction. Returns ``region.id``."""
    await conn.execute(SQL_REGION_LOCK, record.name)
    region_id: int = await conn.fetchval(
        SQL_UPSERT_REGION,
        record.name,
        record.import_id,
        record.source_name,
        record.source_sha256,
        record.service_area,
        graph.number_of_nodes(),
        graph.number_of_edges(),
        len(villages),
    )
    await conn.execute(SQL_DELETE_EDGES, region_id)
    await conn.execute(SQL_DELETE_NODES, region_id)
    await conn.copy_records_to_table(
        "road_node",
        records=[(region_id, int(n), Point(d["x"], d["y"])) for n, d in graph.nodes(data=True)],
        columns=ROAD_NODE_COLUMNS,
    )
    await conn.copy_records_to_table(
        "road_edge",
        records=[
            (
                region_id,
                int(u),
                int(v),
                int(k),
                [int(x) for x in (d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]])],
                str(d["highway"]),
                bool(d["oneway"]),
                float(d["length"]),
                float(d["speed_kph"]),
                float(d["travel_time"]),
                d["geometry"],
            )
            for u, v, k, d in graph.edges(keys=True, data=True)
        ],
        columns=ROAD_EDGE_COLUMNS,
    )
    await conn.execute(SQL_CREATE_VILLAGE_STAGING)
    await conn.copy_records_to_table(
        "village_import",
        records=[
            (
                v.name,
                v.kind,
                v.osm_type,
                v.osm_id,
                v.population,
                v.polygon_source,
                v.geometry,
                v.point,
            )
            for v in villages
        ],
        columns=VILLAGE_STAGING_COLUMNS,
    )
    await conn.execute(SQL_UPSERT_VILLAGES, region_id)
    try:
        await conn.execute(SQL_DELETE_VANISHED_VILLAGES, region_id)
    except asyncpg.ForeignKeyViolationError as exc:
        raise ConflictError(
            f"region '{record.name}': a village that is no longer in the OSM file is still "
            f"referenced ({exc.detail or exc}); the previous import is kept"
        ) from exc
    return region_id


async def load_network(
    conn: asyncpg.Connection,
    region: str,
    cache_dir: Path,
    *,
    snap_max_distance_m: float = DEFAULT_SNAP_MAX_DISTANCE_M,
) -> RoadNetwork:
    """The region's road network, from its cache under ``cache_dir`` (rebuilt if missing).

    ``cache_dir`` is the directory holding the ``roads-<import_id>`` directories (the service
    passes ``settings.cache_dir``). Raises :class:`NotFoundError` if the region is not imported.
    """
    row = await region_row(conn, region)
    if row is None:
        raise NotFoundError(not_imported_message(region))
    import_id = row["import_id"]
    path = cache_dir / arr.cache_name(import_id)
    if (path / "meta.json").exists():
        try:
            return RoadNetwork.open(path, snap_max_distance_m).prepare()
        except (OSError, ValueError, KeyError) as exc:
            log.warning("graph cache %s is unreadable (%s); rebuilding it", path, exc)
            arr.discard(path)
    log.info("building the graph cache for region '%s' from the database", region)
    nodes = {
        int(r["node_id"]): (float(r["lon"]), float(r["lat"]))
        for r in await conn.fetch(SQL_SELECT_NODES, row["id"])
    }
    edges = [
        arr.EdgeRecord(
            u=int(r["u"]),
            v=int(r["v"]),
            key=int(r["key"]),
            length=float(r["length_m"]),
            travel_time=float(r["travel_time_s"]),
            highway=str(r["highway"]),
            coords=_coords(r["geom"]),
        )
        for r in await conn.fetch(SQL_SELECT_EDGES, row["id"])
    ]
    service_area = await conn.fetchval(SQL_SELECT_SERVICE_AREA, row["id"])
    database = await conn.fetchval(SQL_CURRENT_DATABASE)
    meta = {"region": region, "import_id": str(import_id), "database": database}
    staging = await asyncio.to_thread(
        stage_network_cache, cache_dir, import_id, nodes, edges, meta, service_area
    )
    final = arr.publish_cache(staging, cache_dir, import_id)
    return RoadNetwork.open(final, snap_max_distance_m).prepare()


def _coords(geom: Any) -> np.ndarray:
    if isinstance(geom, LineString):
        return np.asarray(geom.coords, dtype=np.float64)
    raise ConfigError(f"road_edge.geom is {type(geom).__name__}, expected a LineString")


def stage_network_cache(
    cache_dir: Path,
    import_id: uuid.UUID,
    nodes: dict[int, tuple[float, float]],
    edges: list[arr.EdgeRecord],
    meta: dict[str, Any],
    service_area: BaseGeometry,
) -> Path:
    """Build the arrays and write them under a temporary name (see :func:`arr.stage_cache`)."""
    arrays, highways = arr.build_arrays(nodes, edges)
    full_meta = {
        **meta,
        "highways": highways,
        "node_count": len(arrays.node_id),
        "edge_count": len(arrays.edge_u),
    }
    try:
        return arr.stage_cache(cache_dir, import_id, arrays, full_meta, service_area)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the road graph cache under {cache_dir}: {exc.strerror or exc}; "
            "check that MAAS_DATA_DIR is writable"
        ) from exc
