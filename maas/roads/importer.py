"""``python -m maas import-osm FILE --region NAME``: OSM file → PostGIS + graph cache.

Steps: read the file (:mod:`maas.roads.osm`), build the drivable graph and keep its largest
strongly connected component (:mod:`maas.roads.graph`), simplify it
(:mod:`maas.roads.simplify`), derive the service area and villages
(:mod:`maas.roads.villages`), write the graph cache under a temporary name
(:mod:`maas.roads.arrays`), then replace the region's rows in **one transaction**
(:mod:`maas.roads.store`). Only after the commit is the cache renamed to
``<data_dir>/cache/roads-<import_id>/``. A failure at any step leaves the previous import of the
region (rows and cache) untouched and no half-written cache behind.

The extract's polygon, when a file ``<name>.extract-polygon.geojson`` lies beside
``<name>.osm.pbf``, bounds the service area (the demo region ships one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from maas import db
from maas.errors import ConfigError, InputError
from maas.roads import arrays as arr
from maas.roads.graph import build_full_graph, largest_strongly_connected
from maas.roads.osm import OsmFileError, read_osm
from maas.roads.simplify import simplify_graph
from maas.roads.store import (
    SQL_CURRENT_DATABASE,
    RegionRecord,
    region_exists,
    save_region,
    stage_network_cache,
)
from maas.roads.villages import Village, build_villages, service_area
from maas.settings import Settings

__all__ = [
    "BuiltRegion",
    "ImportSummary",
    "build_region",
    "import_osm",
    "region_exists",
    "save_region",
]

REGION_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MIN_NODES: Final = 2


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did; ``str()`` is the one line the CLI prints."""

    region: str
    import_id: uuid.UUID
    source: Path
    nodes: int
    edges: int
    villages: int
    seconds: float
    cache_dir: Path

    def __str__(self) -> str:
        return (
            f"imported region '{self.region}' from {self.source.name}: {self.nodes} nodes, "
            f"{self.edges} edges, {self.villages} villages in {self.seconds:.1f} s "
            f"(import {self.import_id})"
        )


@dataclass(slots=True)
class BuiltRegion:
    """Everything derived from the OSM file, before anything is written."""

    full_graph: nx.MultiDiGraph
    graph: nx.MultiDiGraph
    service_area: BaseGeometry
    villages: list[Village]
    source_sha256: str
    timings: dict[str, float] = field(default_factory=dict)


class Progress:
    """Step lines on stderr: ``import-osm: [2/6] building the road graph ... 1.2 s``."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self.step = 0
        self.started = time.monotonic()
        self.step_started = self.started

    def begin(self, what: str) -> None:
        self.step += 1
        self.step_started = time.monotonic()
        if self.enabled:
            print(f"import-osm: [{self.step}/{self.total}] {what} ...", file=sys.stderr, flush=True)

    def done(self, detail: str = "") -> float:
        elapsed = time.monotonic() - self.step_started
        if self.enabled:
            extra = f" ({detail})" if detail else ""
            print(
                f"import-osm: [{self.step}/{self.total}] done in {elapsed:.1f} s{extra}",
                file=sys.stderr,
                flush=True,
            )
        return elapsed


def extract_polygon_path(path: Path) -> Path:
    """``x.osm.pbf`` → ``x.extract-polygon.geojson`` beside it."""
    name = path.name
    for suffix in (".osm.pbf", ".osm.bz2", ".osm", ".pbf"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(f"{name}.extract-polygon.geojson")


def read_extract_polygon(path: Path) -> BaseGeometry | None:
    """The union of the polygons in the GeoJSON beside the OSM file, or None if there is none."""
    poly_path = extract_polygon_path(path)
    if not poly_path.exists():
        return None
    try:
        geom = shapely.from_geojson(poly_path.read_text())
    except (shapely.errors.GEOSException, ValueError, OSError) as exc:
        raise OsmFileError(f"{poly_path}: not a readable GeoJSON polygon: {exc}") from exc
    polygonal = shapely.union_all(
        [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    )
    if polygonal.is_empty:
        raise OsmFileError(f"{poly_path}: contains no polygon")
    return polygonal


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_region(path: Path, progress: Progress | None = None) -> BuiltRegion:
    """Read ``path`` and derive the graph, service area and villages (no database)."""
    progress = progress or Progress(False, 5)
    timings: dict[str, float] = {}
    progress.begin(f"reading {path.name}")
    data = read_osm(path)
    sha = file_sha256(path)
    timings["read"] = progress.done(f"{len(data.ways)} drivable ways, {len(data.places)} places")
    if not data.ways:
        raise OsmFileError(f"{path}: contains no drivable roads (no highway=* a car may use)")

    progress.begin("building the road graph")
    full = build_full_graph(data)
    strong = largest_strongly_connected(full)
    if strong.number_of_nodes() < MIN_NODES:
        raise OsmFileError(f"{path}: its drivable roads do not form a connected network")
    timings["graph"] = progress.done(
        f"{strong.number_of_nodes()} of {full.number_of_nodes()} nodes strongly connected"
    )

    progress.begin("simplifying the graph")
    graph = simplify_graph(strong)
    timings["simplify"] = progress.done(
        f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges"
    )

    progress.begin("service area and villages")
    node_lonlat = np.array([(d["x"], d["y"]) for _, d in strong.nodes(data=True)])
    area = service_area(node_lonlat, read_extract_polygon(path))
    villages = build_villages(data.places, data.boundaries, area)
    timings["villages"] = progress.done(f"{len(villages)} villages")
    return BuiltRegion(
        full_graph=strong,
        graph=graph,
        service_area=area,
        villages=villages,
        source_sha256=sha,
        timings=timings,
    )


async def import_osm(
    settings: Settings, path: Path, region: str, *, progress: bool = True
) -> ImportSummary:
    """Import ``path`` as ``region`` (replacing a previous import atomically)."""
    started = time.monotonic()
    if not REGION_NAME_RE.match(region):
        raise InputError(
            "region",
            f"'{region}' is not a valid region name (lower-case letters, digits, '-' and '_')",
        )
    steps = Progress(progress, 6)
    built = await asyncio.to_thread(build_region, path, steps)
    graph = built.graph
    import_id = uuid.uuid4()
    cache_root = settings.cache_dir

    conn = await db.connect(settings)
    try:
        database = await conn.fetchval(SQL_CURRENT_DATABASE)
        steps.begin("writing the graph cache")
        nodes = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
        meta: dict[str, Any] = {"region": region, "import_id": str(import_id), "database": database}
        staging = await asyncio.to_thread(
            stage_network_cache,
            cache_root,
            import_id,
            nodes,
            arr.edge_records_from_graph(graph),
            meta,
            built.service_area,
        )
        steps.done()
        try:
            steps.begin("writing the region to the database")
            async with conn.transaction():
                await save_region(
                    conn,
                    RegionRecord(
                        name=region,
                        import_id=import_id,
                        source_name=path.name,
                        source_sha256=built.source_sha256,
                        service_area=built.service_area,
                    ),
                    graph,
                    built.villages,
                )
            steps.done()
        except asyncpg.UndefinedTableError as exc:
            arr.discard(staging)
            raise ConfigError(
                "the database has no road tables yet; run: python -m maas db migrate"
            ) from exc
        except BaseException:
            arr.discard(staging)
            raise
    finally:
        await conn.close()
    final = arr.publish_cache(staging, cache_root, import_id)
    _prune_stale_caches(cache_root, region, database, keep=final)
    return ImportSummary(
        region=region,
        import_id=import_id,
        source=path,
        nodes=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        villages=len(built.villages),
        seconds=time.monotonic() - started,
        cache_dir=final,
    )


def _prune_stale_caches(cache_root: Path, region: str, database: str, keep: Path) -> None:
    """Remove older caches of the same region and database: nothing points at them any more.

    Caches of the same region imported into another database (the test database beside the
    development one, sharing a data directory) are left alone.

    A running service that still maps the old files keeps working (unlinked files stay readable
    while mapped); it picks up the new import on its next start.
    """
    for candidate in cache_root.glob(f"{arr.CACHE_PREFIX}*"):
        if candidate == keep or not candidate.is_dir():
            continue
        try:
            meta = json.loads((candidate / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("region") == region and meta.get("database") == database:
            arr.discard(candidate)
