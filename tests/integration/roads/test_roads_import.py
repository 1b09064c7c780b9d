"""Importing the demo extract into PostGIS, re-importing, failing safely, loading at start-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import shapely
from unit.roads.roads_testdata import DEMO_PBF

from maas import db, migrate
from maas.errors import ConfigError, NotFoundError
from maas.roads import arrays as arr
from maas.roads import importer, load_network, region_exists
from maas.roads.osm import OsmFileError
from maas.settings import Settings

pytestmark = pytest.mark.db

FreshDatabase = Callable[..., Awaitable[Settings]]
REGION = "roadtest"
_built: dict[Path, importer.BuiltRegion] = {}


@pytest.fixture(autouse=True)
def reuse_parsed_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse the demo file once per session: every import here writes the same region."""
    real = importer.build_region

    def build(path: Path, progress: Any = None) -> importer.BuiltRegion:
        if path != DEMO_PBF:
            return real(path, progress)
        if path not in _built:
            _built[path] = real(path, progress)
        return _built[path]

    monkeypatch.setattr(importer, "build_region", build)


async def _migrated(fresh_database: FreshDatabase, data_dir: Path) -> Settings:
    settings = dataclasses.replace(await fresh_database(), data_dir=data_dir)
    async with db.connection(settings) as conn:
        await migrate.migrate(conn)
    return settings


async def _snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    region = await conn.fetchrow("SELECT * FROM region WHERE name = $1", REGION)
    assert region is not None
    return {
        "region": dict(region),
        "nodes": await conn.fetchval(
            "SELECT count(*) FROM road_node WHERE region_id = $1", region["id"]
        ),
        "edges": await conn.fetchval(
            "SELECT count(*) FROM road_edge WHERE region_id = $1", region["id"]
        ),
        "villages": {
            r["name"]: r["id"]
            for r in await conn.fetch(
                "SELECT id, name FROM village WHERE region_id = $1", region["id"]
            )
        },
    }


async def test_import_load_and_reimport(fresh_database: FreshDatabase, tmp_path: Path) -> None:
    settings = await _migrated(fresh_database, tmp_path)
    summary = await importer.import_osm(settings, DEMO_PBF, REGION, progress=False)
    assert summary.nodes > 3000
    assert summary.villages >= 20
    assert "imported region 'roadtest'" in str(summary)
    async with db.connection(settings) as conn:
        assert await region_exists(conn, REGION)
        first = await _snapshot(conn)
        assert first["nodes"] == summary.nodes
        assert first["edges"] == summary.edges
        assert {"Herrenberg", "Nagold", "Gärtringen", "Kuppingen", "Sindlingen"} <= set(
            first["villages"]
        )
        area = first["region"]["service_area"]
        assert shapely.get_srid(area) == 4326
        assert area.contains(shapely.Point(8.8707, 48.5947))
        edge = await conn.fetchrow("SELECT geom, osmid, length_m FROM road_edge LIMIT 1")
        assert edge["geom"].geom_type == "LineString"
        assert isinstance(edge["osmid"], list)
        village = await conn.fetchrow(
            "SELECT geom, centroid, polygon_source FROM village WHERE name = 'Kuppingen'"
        )
        assert village["polygon_source"] == "boundary"
        assert village["geom"].contains(village["centroid"])

        network = await load_network(conn, REGION, settings.cache_dir)
        assert network.node_count == summary.nodes
        assert network.import_id == str(summary.import_id)
        assert network.path == summary.cache_dir

        again = await importer.import_osm(settings, DEMO_PBF, REGION, progress=False)
        second = await _snapshot(conn)
        assert second["region"]["id"] == first["region"]["id"]
        assert second["region"]["import_id"] == again.import_id != summary.import_id
        assert second["villages"] == first["villages"]  # village ids survive a re-import
        assert not summary.cache_dir.exists()  # the old import's cache is pruned
        assert again.cache_dir.exists()

        arr.discard(again.cache_dir)  # a fresh machine: the cache is rebuilt from the tables
        rebuilt = await load_network(conn, REGION, settings.cache_dir)
        assert rebuilt.path == again.cache_dir
        assert rebuilt.snap(8.8707, 48.5947) == network.snap(8.8707, 48.5947)

        (again.cache_dir / "csr_time.npy").unlink()  # a damaged cache is rebuilt too
        repaired = await load_network(conn, REGION, settings.cache_dir)
        assert repaired.snap(8.8707, 48.5947) == network.snap(8.8707, 48.5947)


async def test_failed_import_keeps_the_previous_one(
    fresh_database: FreshDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = await _migrated(fresh_database, tmp_path)
    summary = await importer.import_osm(settings, DEMO_PBF, REGION, progress=False)
    async with db.connection(settings) as conn:
        before = await _snapshot(conn)

    truncated = tmp_path / "cut.osm.pbf"
    truncated.write_bytes(DEMO_PBF.read_bytes()[:100_000])
    with pytest.raises(OsmFileError, match=r"cut\.osm\.pbf"):
        await importer.import_osm(settings, truncated, REGION, progress=False)

    real_save = importer.save_region

    async def save_then_fail(conn: asyncpg.Connection, *args: Any) -> int:
        await real_save(conn, *args)  # everything is written ...
        raise RuntimeError("disk full")  # ... and then the transaction fails

    monkeypatch.setattr(importer, "save_region", save_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        await importer.import_osm(settings, DEMO_PBF, REGION, progress=False)

    async with db.connection(settings) as conn:
        assert await _snapshot(conn) == before
        network = await load_network(conn, REGION, settings.cache_dir)
    assert network.path == summary.cache_dir
    assert sorted(p.name for p in settings.cache_dir.iterdir()) == [summary.cache_dir.name]


async def test_bad_region_name(fresh_database: FreshDatabase, tmp_path: Path) -> None:
    from maas.errors import InputError

    settings = await _migrated(fresh_database, tmp_path)
    with pytest.raises(InputError) as info:
        await importer.import_osm(settings, DEMO_PBF, "Bad Name", progress=False)
    assert info.value.field == "region"


async def test_unknown_region(fresh_database: FreshDatabase, tmp_path: Path) -> None:
    settings = await _migrated(fresh_database, tmp_path)
    async with db.connection(settings) as conn:
        with pytest.raises(NotFoundError, match="region 'nowhere' has not been imported; run:"):
            await load_network(conn, "nowhere", settings.cache_dir)


async def test_unmigrated_database(fresh_database: FreshDatabase, tmp_path: Path) -> None:
    settings = await fresh_database()
    async with db.connection(settings) as conn:
        with pytest.raises(ConfigError, match="db migrate"):
            await region_exists(conn, REGION)
