"""Simplification on small hand-made graphs."""

from __future__ import annotations

import networkx as nx
import pytest

from maas.roads.graph import build_full_graph
from maas.roads.osm import OsmData, Way
from maas.roads.simplify import is_endpoint, simplify_graph


def _graph(ways: list[Way], n: int = 8) -> nx.MultiDiGraph:
    coords = {i: (8.8 + 0.001 * i, 48.5 + 0.0005 * (i % 2)) for i in range(1, n + 1)}
    return build_full_graph(OsmData(ways=ways, coords=coords))


def _way(osmid: int, nodes: tuple[int, ...], *, oneway: bool = False, speed: float = 50.0) -> Way:
    return Way(osmid=osmid, highway="residential", nodes=nodes, oneway=oneway, speed_kph=speed)


def test_two_way_chain_becomes_one_edge_each_way() -> None:
    graph = _graph([_way(1, (1, 2, 3, 4, 5))])
    simple = simplify_graph(graph)
    assert set(simple.nodes) == {1, 5}
    assert simple.number_of_edges() == 2
    forward = simple[1][5][0]
    assert forward["length"] == pytest.approx(
        sum(graph[a][a + 1][0]["length"] for a in range(1, 5))
    )
    assert forward["travel_time"] == pytest.approx(
        sum(graph[a][a + 1][0]["travel_time"] for a in range(1, 5))
    )
    assert len(forward["geometry"].coords) == 5
    assert list(simple[5][1][0]["geometry"].coords) == list(forward["geometry"].coords)[::-1]


def test_one_way_meeting_two_way_keeps_the_node() -> None:
    graph = _graph([_way(1, (1, 2, 3)), _way(2, (3, 4, 5), oneway=True)])
    assert is_endpoint(graph, 3)
    simple = simplify_graph(graph)
    assert set(simple.nodes) == {1, 3, 5}
    assert simple.has_edge(3, 5)
    assert not simple.has_edge(5, 3)


def test_speed_change_keeps_the_node_and_merges_way_ids() -> None:
    graph = _graph([_way(1, (1, 2, 3)), _way(2, (3, 4, 5)), _way(3, (5, 6, 7), speed=30.0)])
    simple = simplify_graph(graph)
    assert set(simple.nodes) == {1, 5, 7}
    assert simple[1][5][0]["osmid"] == [1, 2]
    assert simple[5][7][0]["osmid"] == 3


def test_intersections_and_dead_ends_stay() -> None:
    graph = _graph([_way(1, (1, 2, 3, 4)), _way(2, (2, 5, 6))])
    simple = simplify_graph(graph)
    assert set(simple.nodes) == {1, 2, 4, 6}


def test_loop_keeps_its_start() -> None:
    # 1-2-3-4-2: a lollipop; node 2 is an intersection, the loop 2-3-4-2 is one self-loop edge.
    graph = _graph([_way(1, (1, 2, 3, 4, 2))])
    simple = simplify_graph(graph)
    assert set(simple.nodes) == {1, 2}
    assert simple.number_of_edges(2, 2) == 2  # both directions around the loop
