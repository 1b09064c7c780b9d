"""GTFS and OSM meeting points, and communities from villages (rolled back after each test)."""

from __future__ import annotations

import asyncpg
import pytest
from support.api_world import REGION, World

from maas.community_sync import sync_communities
from maas.errors import NotFoundError
from maas.meeting_point_import import ImportFileError, import_gtfs, read_osm_meeting_points
from maas.settings import PROJECT_DIR

GTFS = PROJECT_DIR / "data" / "gtfs"
SQL_COUNT = "SELECT count(*) FROM meeting_point WHERE source = 'gtfs'"


async def test_gtfs_stops_inside_the_region_become_meeting_points(
    api_conn: asyncpg.Connection, world: World
) -> None:
    report = await import_gtfs(api_conn, GTFS / "only-bronntor-bus-stop.gtfs.zip", REGION)
    assert report.stored == 9
    assert report.skipped == []
    again = await import_gtfs(api_conn, GTFS / "only-bronntor-bus-stop.gtfs.zip", REGION)
    assert again.stored == 9
    assert await api_conn.fetchval(SQL_COUNT) == 9  # updated, not duplicated


async def test_gtfs_stops_outside_are_listed_and_skipped(
    api_conn: asyncpg.Connection, world: World
) -> None:
    report = await import_gtfs(api_conn, GTFS / "vvs-bus-751-only.gtfs.zip", REGION)
    assert report.stored == 0
    assert len(report.skipped) == 47
    assert all(why == "outside the service area" for _, _, why in report.skipped)
    assert "Mercedes-Benz Hst. A" in str(report)
    assert await api_conn.fetchval(SQL_COUNT) == 0


async def test_bad_gtfs_and_unknown_region(
    api_conn: asyncpg.Connection, world: World, tmp_path: object
) -> None:
    with pytest.raises(ImportFileError):
        await import_gtfs(api_conn, PROJECT_DIR / "README.md", REGION)
    with pytest.raises(NotFoundError):
        await import_gtfs(api_conn, GTFS / "only-bronntor-bus-stop.gtfs.zip", "atlantis")


async def test_communities_from_villages(api_conn: asyncpg.Connection, world: World) -> None:
    first = await sync_communities(api_conn, REGION)
    assert first.created + first.updated == 2
    again = await sync_communities(api_conn, REGION)
    assert (again.created, again.updated) == (0, 2)
    with pytest.raises(NotFoundError):
        await sync_communities(api_conn, "atlantis")


def test_osm_bus_stops_are_read() -> None:
    points = read_osm_meeting_points(PROJECT_DIR / "data" / "demo" / "herrenberg.osm.pbf")
    assert len(points) > 100
    assert {p.kind for p in points} <= {"bus_stop", "mitfahrbank"}
    assert all(p.source_ref.startswith("n") for p in points)
