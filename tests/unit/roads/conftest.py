"""Fixtures for the road package: the demo extract parsed once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit.roads.roads_testdata import DEMO_PBF

from maas.roads import arrays as arr
from maas.roads.importer import BuiltRegion, build_region
from maas.roads.network import RoadNetwork


@pytest.fixture(scope="session")
def demo_built() -> BuiltRegion:
    """The demo region's graphs, service area and villages (about 4 s, once)."""
    return build_region(DEMO_PBF)


@pytest.fixture(scope="session")
def demo_cache(demo_built: BuiltRegion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo region's graph cache directory."""
    graph = demo_built.graph
    nodes = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    arrays, highways = arr.build_arrays(nodes, arr.edge_records_from_graph(graph))
    path = tmp_path_factory.mktemp("roads-cache") / "roads-test"
    meta = {"region": "herrenberg", "import_id": "test", "highways": highways}
    arr.write_cache(path, arrays, meta, demo_built.service_area)
    return path


@pytest.fixture(scope="session")
def demo_network(demo_cache: Path) -> RoadNetwork:
    return RoadNetwork.open(demo_cache)
