"""Reading OSM files: the demo extract, and every kind of unusable file."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from unit.roads.roads_testdata import DEMO_PBF, write_osm

from maas.errors import MaasError
from maas.roads.importer import BuiltRegion, build_region, extract_polygon_path
from maas.roads.osm import OsmFileError, parse_population, read_osm


def test_demo_graph_is_strongly_connected_with_osmnx_attributes(demo_built: BuiltRegion) -> None:
    graph = demo_built.graph
    assert nx.is_strongly_connected(graph)
    assert 3000 < graph.number_of_nodes() < 10000
    for node, data in list(graph.nodes(data=True))[:50]:
        assert isinstance(node, int)
        assert 8.5 < data["x"] < 9.1
        assert 48.4 < data["y"] < 48.8
    for _, _, data in list(graph.edges(data=True))[:200]:
        assert data["length"] >= 0
        assert data["travel_time"] == pytest.approx(data["length"] / (data["speed_kph"] / 3.6))
        assert data["geometry"].geom_type == "LineString"
        assert isinstance(data["osmid"], int | list)
        assert data["highway"] in {
            "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
            "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
            "residential", "living_street", "service", "road",
        }  # fmt: skip


def test_simplified_graph_keeps_total_travel_time(demo_built: BuiltRegion) -> None:
    full = sum(d["travel_time"] for _, _, d in demo_built.full_graph.edges(data=True))
    simple = sum(d["travel_time"] for _, _, d in demo_built.graph.edges(data=True))
    assert simple == pytest.approx(full, rel=1e-12)


def test_demo_service_area_lies_within_the_extract_polygon(demo_built: BuiltRegion) -> None:
    from maas.roads.importer import read_extract_polygon

    extract = read_extract_polygon(DEMO_PBF)
    assert extract is not None
    # The intersection is made in metres, where the polygon's edges bend by a few centimetres.
    assert extract.buffer(1e-5).contains(demo_built.service_area)
    assert demo_built.service_area.area > 0.5 * extract.area


def test_extract_polygon_is_found_beside_the_file() -> None:
    assert extract_polygon_path(DEMO_PBF).name == "herrenberg.extract-polygon.geojson"


def test_population_parsing() -> None:
    assert parse_population("1 234") == 1234
    assert parse_population("12.345") == 12345
    assert parse_population("about 300") is None
    assert parse_population(None) is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OsmFileError, match="no such file"):
        read_osm(tmp_path / "nothing.osm.pbf")


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(DEMO_PBF.read_bytes()[:200_000])
    with pytest.raises(OsmFileError, match=r"cut\.osm\.pbf.*not a readable OpenStreetMap file"):
        read_osm(path)


def test_not_an_osm_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.osm.pbf"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 1000)
    with pytest.raises(OsmFileError, match=r"photo\.osm\.pbf"):
        read_osm(path)


def test_empty_extract(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "empty.osm", [])
    with pytest.raises(OsmFileError, match="empty"):
        build_region(path)


def test_region_without_drivable_roads(tmp_path: Path) -> None:
    nodes = [(1, 8.80, 48.50), (2, 8.81, 48.50), (3, 8.82, 48.50)]
    ways = [(10, [1, 2, 3], {"highway": "footway"}), (11, [2, 3], {"highway": "track"})]
    path = write_osm(tmp_path / "paths.osm", nodes, ways)
    with pytest.raises(OsmFileError, match=r"paths\.osm: contains no drivable roads") as info:
        build_region(path)
    assert isinstance(info.value, MaasError)


def test_one_way_only_network_is_not_connected(tmp_path: Path) -> None:
    nodes = [(1, 8.80, 48.50), (2, 8.81, 48.50)]
    path = write_osm(
        tmp_path / "oneway.osm", nodes, [(10, [1, 2], {"highway": "primary", "oneway": "yes"})]
    )
    with pytest.raises(OsmFileError, match="connected"):
        build_region(path)


def test_small_file_builds_and_splits_ways_at_missing_nodes(tmp_path: Path) -> None:
    # Node 99 is referenced but missing (outside the extract): the way is cut there.
    nodes = [(1, 8.80, 48.50), (2, 8.81, 48.50), (3, 8.82, 48.50), (4, 8.83, 48.50)]
    ways = [(10, [1, 2, 99, 3, 4], {"highway": "residential"})]
    data = read_osm(write_osm(tmp_path / "cut.osm", nodes, ways))
    assert [w.nodes for w in data.ways] == [(1, 2), (3, 4)]


def test_backward_one_way_is_reversed(tmp_path: Path) -> None:
    nodes = [(1, 8.80, 48.50), (2, 8.81, 48.50), (3, 8.82, 48.50)]
    ways = [(10, [1, 2, 3], {"highway": "residential", "oneway": "-1"})]
    data = read_osm(write_osm(tmp_path / "back.osm", nodes, ways))
    assert data.ways[0].nodes == (3, 2, 1)
    assert data.ways[0].oneway
