"""Snapping, the travel-time matrix (exact against networkx) and routes on the demo region."""

from __future__ import annotations

import itertools
import math
import pickle
from collections import defaultdict
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from maas.errors import InputError
from maas.roads import UNREACHABLE_INT, RoadNetwork, Snap, to_int_seconds
from maas.roads import arrays as arr
from maas.roads.graph import haversine_m
from maas.roads.importer import BuiltRegion

HERRENBERG_MARKT = (8.8707, 48.5947)


def random_points(network: RoadNetwork, count: int, seed: int) -> list[tuple[float, float]]:
    """Seeded random points in the service area, each within 300 m of a road."""
    rng = np.random.default_rng(seed)
    lonlat = np.asarray(network.arrays.node_lonlat)
    lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    points: list[tuple[float, float]] = []
    while len(points) < count:
        lon, lat = rng.uniform(lo, hi)
        if network.service_area.contains(shapely.Point(lon, lat)):
            try:
                network.snap(lon, lat, max_distance_m=300)
            except InputError:
                continue
            points.append((float(lon), float(lat)))
    return points


def graph_with_points(
    network: RoadNetwork, graph: nx.MultiDiGraph, snaps: list[Snap]
) -> nx.MultiDiGraph:
    """networkx graph (weight ``t``) with each snapped point inserted as node ("p", i)."""
    a = network.arrays
    split = nx.MultiDiGraph()
    split.add_edges_from(
        (u, v, k, {"t": d["travel_time"]}) for u, v, k, d in graph.edges(keys=True, data=True)
    )
    on_edge: dict[int, list[tuple[float, tuple[str, int]]]] = defaultdict(list)
    for i, s in enumerate(snaps):
        on_edge[s.edge].append((s.fraction, ("p", i)))
        if s.reverse_edge >= 0:
            on_edge[s.reverse_edge].append((1.0 - s.fraction, ("p", i)))
    for edge, points in on_edge.items():
        u = int(a.node_id[a.edge_u[edge]])
        v = int(a.node_id[a.edge_v[edge]])
        key = int(a.edge_key[edge])
        t = split[u][v][key]["t"]
        split.remove_edge(u, v, key)
        prev: object = u
        prev_f = 0.0
        for f, node in sorted(points):
            split.add_edge(prev, node, t=(f - prev_f) * t)
            prev, prev_f = node, f
        split.add_edge(prev, v, t=(1.0 - prev_f) * t)
    return split


def test_snap_projects_onto_the_road(demo_network: RoadNetwork) -> None:
    snap = demo_network.snap(*HERRENBERG_MARKT, field="origin")
    assert snap.distance_m < 100
    assert haversine_m(snap.lon, snap.lat, *HERRENBERG_MARKT) == pytest.approx(
        snap.distance_m, rel=0.01, abs=0.5
    )
    assert 0.0 <= snap.fraction <= 1.0
    t = float(demo_network.arrays.edge_time[snap.edge])
    assert snap.time_from_u_s + snap.time_to_v_s == pytest.approx(t)
    assert snap.offset_m == pytest.approx(
        snap.fraction * demo_network.arrays.edge_length[snap.edge]
    )


def test_snap_far_from_roads_names_the_field(demo_network: RoadNetwork) -> None:
    with pytest.raises(InputError) as info:
        demo_network.snap(*HERRENBERG_MARKT, field="origin", max_distance_m=0.001)
    assert info.value.field == "origin"
    assert "from the nearest drivable road" in str(info.value)


def test_snap_outside_service_area(demo_network: RoadNetwork) -> None:
    with pytest.raises(InputError, match="outside the service area") as info:
        demo_network.snap(13.4, 52.5, field="destination")  # Berlin
    assert info.value.field == "destination"


def test_snap_rejects_impossible_coordinates(demo_network: RoadNetwork) -> None:
    with pytest.raises(InputError) as info:
        demo_network.snap_many([(8.87, 48.59), (math.nan, 48.0)], field="stops")
    assert info.value.field == "stops[1]"


def test_remembered_snaps_are_the_snaps(demo_network: RoadNetwork) -> None:
    points = random_points(demo_network, 4, seed=5)
    fresh = demo_network.snap_many(points)
    first = demo_network.snap_many(points, remember=True)
    again = demo_network.snap_many(points, remember=True)
    assert first == fresh == again
    assert all(a is b for a, b in zip(first, again, strict=True))
    # Errors are not remembered, and the distance limit is part of what is remembered.
    with pytest.raises(InputError) as info:
        demo_network.snap_many([points[0], (math.nan, 48.0)], field="stops", remember=True)
    assert info.value.field == "stops[1]"
    i = max(range(len(fresh)), key=lambda i: fresh[i].distance_m)
    assert fresh[i].distance_m > 1  # the random points lie off the roads
    with pytest.raises(InputError, match="from the nearest drivable road"):
        demo_network.snap_many([points[i]], max_distance_m=fresh[i].distance_m / 2, remember=True)


def test_matrix_equals_networkx_dijkstra_with_inserted_points(
    demo_network: RoadNetwork, demo_built: BuiltRegion
) -> None:
    points = random_points(demo_network, 26, seed=7)
    snaps = demo_network.snap_many(points)
    # Points sharing a road piece with another, both in and against driving order.
    base = snaps[0]
    shared = [base.fraction * 0.5, min(1.0, base.fraction + (1 - base.fraction) * 0.5)]
    for f in shared:
        snaps.append(_moved(demo_network, base, f))
    oneway = next(g for g in range(len(demo_network.arrays.geom_bwd)) if
                  demo_network.arrays.geom_bwd[g] < 0 and demo_network.arrays.edge_time[
                      demo_network.arrays.geom_fwd[g]] > 1)  # fmt: skip
    one = _snap_on_piece(demo_network, oneway, 0.3)
    snaps += [one, _moved(demo_network, one, 0.7), _moved(demo_network, one, 0.1)]
    matrix = demo_network.travel_time_matrix(snaps, snaps)
    split = graph_with_points(demo_network, demo_built.graph, snaps)
    for i in range(len(snaps)):
        lengths = nx.single_source_dijkstra_path_length(split, ("p", i), weight="t")
        expected = np.array([lengths.get(("p", j), np.inf) for j in range(len(snaps))])
        np.testing.assert_allclose(matrix[i], expected, rtol=0, atol=1e-6)
    assert np.all(np.isfinite(matrix))  # strongly connected
    assert np.all(np.diag(matrix) == 0)
    n = len(snaps)
    # On a one-way piece, going backwards means driving round.
    assert matrix[n - 3, n - 2] == pytest.approx(0.4 * demo_network.arrays.edge_time[one.edge])
    assert matrix[n - 2, n - 3] > matrix[n - 3, n - 2]


def _snap_on_piece(network: RoadNetwork, piece: int, fraction: float) -> Snap:
    a = network.arrays
    start, end = int(a.geom_offsets[piece]), int(a.geom_offsets[piece + 1])
    cum = np.asarray(a.geom_cum[start:end])
    target = fraction * cum[-1]
    seg = min(int(np.searchsorted(cum, target, side="right")) - 1, end - start - 2)
    ratio = (target - cum[seg]) / (cum[seg + 1] - cum[seg])
    p0, p1 = a.geom_lonlat[start + seg], a.geom_lonlat[start + seg + 1]
    lon, lat = p0 + ratio * (p1 - p0)
    snap = network.snap(float(lon), float(lat))
    assert snap.piece == piece
    return snap


def _moved(network: RoadNetwork, snap: Snap, fraction: float) -> Snap:
    moved = _snap_on_piece(network, snap.piece, fraction)
    assert moved.fraction == pytest.approx(fraction, abs=1e-6)
    return moved


def test_limit_cuts_the_search(demo_network: RoadNetwork) -> None:
    snaps = demo_network.snap_many(random_points(demo_network, 12, seed=3))
    full = demo_network.travel_time_matrix(snaps, snaps)
    limit = float(np.median(full))
    cut = demo_network.travel_time_matrix(snaps, snaps, limit_s=limit)
    within = full <= limit
    np.testing.assert_array_equal(cut[within], full[within])
    assert np.all(np.isinf(cut[~within]))


def test_int_seconds_helper() -> None:
    matrix = np.array([[0.0, 12.4], [np.inf, 12.6]])
    out = to_int_seconds(matrix)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 12], [UNREACHABLE_INT, 13]]


def test_empty_matrix(demo_network: RoadNetwork) -> None:
    snap = demo_network.snap(*HERRENBERG_MARKT)
    assert demo_network.travel_time_matrix([snap], []).shape == (1, 0)


def test_route_matches_the_matrix(demo_network: RoadNetwork) -> None:
    snaps = demo_network.snap_many(random_points(demo_network, 6, seed=11))
    matrix = demo_network.travel_time_matrix(snaps, snaps)
    for i, j in [(0, 1), (2, 3), (4, 5), (5, 0), (1, 1)]:
        route = demo_network.route(snaps[i], snaps[j])
        assert route is not None
        assert route.travel_time_s == pytest.approx(matrix[i, j], abs=1e-6)
        coords = route.coordinates
        assert coords[0] == pytest.approx((snaps[i].lon, snaps[i].lat))
        assert coords[-1] == pytest.approx((snaps[j].lon, snaps[j].lat))
        # The geometry's own length agrees with the reported length (great-circle, ±0.1 %).
        geo = sum(haversine_m(*a, *b) for a, b in itertools.pairwise(coords))
        assert geo == pytest.approx(route.length_m, rel=1e-3, abs=0.5)
        gj = route.geojson()
        assert gj["type"] == "LineString"
        assert len(gj["coordinates"]) >= 2


def test_route_on_one_piece(demo_network: RoadNetwork) -> None:
    base = demo_network.snap(*HERRENBERG_MARKT)
    a = _moved(demo_network, base, 0.2)
    b = _moved(demo_network, base, 0.8)
    route = demo_network.route(a, b)
    assert route is not None
    expected = demo_network.travel_time_matrix([a], [b])[0, 0]
    assert route.travel_time_s == pytest.approx(expected)


def test_network_pickles_as_its_path(demo_network: RoadNetwork) -> None:
    data = pickle.dumps(demo_network)
    assert len(data) < 1000
    clone = pickle.loads(data)
    snap = clone.snap(*HERRENBERG_MARKT)
    assert snap == demo_network.snap(*HERRENBERG_MARKT)


def test_cache_is_memory_mapped(demo_network: RoadNetwork) -> None:
    assert isinstance(demo_network.arrays.csr_time, np.memmap)


def test_arrays_rebuild_identically(demo_built: BuiltRegion, demo_cache: Path) -> None:
    graph = demo_built.graph
    nodes = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    rebuilt, _ = arr.build_arrays(nodes, reversed(arr.edge_records_from_graph(graph)))
    cached, _, _ = arr.read_cache(demo_cache)
    for name in arr.ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(cached, name), err_msg=name)


def test_staged_cache_is_published_once(demo_cache: Path, tmp_path: Path) -> None:
    arrays, meta, area = arr.read_cache(demo_cache)
    root = tmp_path / "cache"
    first = arr.stage_cache(root, "abc", arrays, meta, area)
    assert first.name.startswith(".roads-abc.tmp-")
    final = arr.publish_cache(first, root, "abc")
    assert final == root / "roads-abc"
    # A second process rebuilding the same import concurrently loses the race harmlessly.
    second = arr.stage_cache(root, "abc", arrays, meta, area)
    assert arr.publish_cache(second, root, "abc") == final
    assert sorted(p.name for p in root.iterdir()) == ["roads-abc"]
    assert RoadNetwork.open(final).node_count == len(arrays.node_id)
