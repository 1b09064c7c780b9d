"""Build the road graph as a ``networkx.MultiDiGraph`` with OSMnx's attribute conventions.

Nodes are OSM node ids with ``x`` (longitude) and ``y`` (latitude). Each directed edge carries
``osmid`` (the way id; a list of ids after simplification merged several ways), ``highway``,
``oneway`` (bool), ``reversed`` (bool: the edge runs against the way's drawing direction),
``length`` (metres, great-circle along the polyline), ``speed_kph`` and ``travel_time``
(seconds, ``length / speed``). A two-way road gives one edge in each direction.

The network kept is the **largest strongly connected component** of the unsimplified graph (so
every kept point can reach every other: no rider is snapped to a road that leads nowhere); it is
then simplified (:mod:`maas.roads.simplify`).
"""

from __future__ import annotations

import itertools
import math
from typing import Final

import networkx as nx
import numpy as np

from maas.roads.osm import OsmData

EARTH_RADIUS_M: Final = 6_371_009.0
"""Mean earth radius, as OSMnx uses for great-circle distances."""


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def haversine_array_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Great-circle lengths in metres of the segments of one polyline (len(lon) - 1 values)."""
    p = np.radians(lat)
    dp = np.diff(p)
    dl = np.radians(np.diff(lon))
    h = np.sin(dp / 2) ** 2 + np.cos(p[:-1]) * np.cos(p[1:]) * np.sin(dl / 2) ** 2
    result: np.ndarray = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return result


def segment_travel_time_s(length_m: float, speed_kph: float) -> float:
    """Seconds to drive ``length_m`` at ``speed_kph``."""
    return length_m / (speed_kph / 3.6)


def build_full_graph(data: OsmData) -> nx.MultiDiGraph:
    """One edge per consecutive node pair of every drivable way (both ways if two-way)."""
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    coords = data.coords
    for way in data.ways:
        nodes = way.nodes
        for a, b in itertools.pairwise(nodes):
            if a == b:
                continue  # a repeated node in the way: no segment
            ax, ay = coords[a]
            bx, by = coords[b]
            length = haversine_m(ax, ay, bx, by)
            attrs = {
                "osmid": way.osmid,
                "highway": way.highway,
                "oneway": way.oneway,
                "length": length,
                "speed_kph": way.speed_kph,
                "travel_time": segment_travel_time_s(length, way.speed_kph),
            }
            graph.add_edge(a, b, reversed=False, **attrs)
            if not way.oneway:
                graph.add_edge(b, a, reversed=True, **attrs)
    for node, data_ in graph.nodes(data=True):
        data_["x"], data_["y"] = coords[node]
    return graph


def largest_strongly_connected(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """The subgraph of the largest strongly connected component (a copy)."""
    if graph.number_of_nodes() == 0:
        return graph.copy()
    biggest = max(nx.strongly_connected_components(graph), key=len)
    return graph.subgraph(biggest).copy()
