"""Contract chains of degree-2 nodes into single edges that keep the road's shape.

Like ``osmnx.simplify_graph``: a node stays in the graph (is an *endpoint*) when it is an
intersection, a dead end, the start of a self-loop, a place where the direction of traffic
changes (a one-way road meeting a two-way road, a node with only incoming or only outgoing
edges), or — unlike OSMnx — where the ``highway`` class, ``speed_kph`` or one-way-ness changes.
The last rule keeps the speed constant along every simplified edge, so a point at fraction
``f`` of an edge's length is exactly ``f * travel_time`` from its start: the partial-edge
offsets of snapped points then agree exactly with the unsimplified graph.

Every other node is interior: the chain of segments between two endpoints becomes one edge whose
``length`` and ``travel_time`` are the sums over the segments (summed in order, so the numbers
equal the unsimplified graph's path lengths), ``osmid`` the way id (a list when the chain
crosses several ways, as in OSMnx) and ``geometry`` the LineString through all its nodes.
Every edge of the result has a ``geometry``, also single-segment ones (OSMnx omits it there),
so consumers need no special case.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
from shapely.geometry import LineString


def _edge_signature(data: dict[str, Any]) -> tuple[Any, ...]:
    return (data["highway"], data["speed_kph"], data["oneway"])


def is_endpoint(graph: nx.MultiDiGraph, node: int) -> bool:
    """Whether ``node`` must stay a node of the simplified graph (see the module docstring)."""
    succ = graph._succ[node]
    pred = graph._pred[node]
    if node in succ:
        return True
    if not succ or not pred:
        return True
    neighbours = set(succ) | set(pred)
    out_degree = sum(len(keys) for keys in succ.values())
    in_degree = sum(len(keys) for keys in pred.values())
    degree = out_degree + in_degree
    if len(neighbours) != 2:
        return True
    if degree == 2:
        # one segment in, one out, from different neighbours: a one-way chain
        if set(succ) == set(pred):
            return True
    elif degree == 4:
        # a two-way chain: one edge to and from each neighbour, no parallel edges
        if set(succ) != neighbours or set(pred) != neighbours or out_degree != 2:
            return True
    else:
        return True
    signatures = {_edge_signature(d) for keys in succ.values() for d in keys.values()}
    signatures.update(_edge_signature(d) for keys in pred.values() for d in keys.values())
    return len(signatures) > 1


def simplify_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A new, simplified graph (the input is not changed)."""
    endpoints = {n for n in graph.nodes if is_endpoint(graph, n)}
    result = nx.MultiDiGraph(**graph.graph)
    result.graph["simplified"] = True
    for node in endpoints:
        result.add_node(node, **graph.nodes[node])
    node_attrs = graph.nodes
    for start in endpoints:
        for first, keys in graph._succ[start].items():
            for data in keys.values():
                path = [start, first]
                edges = [data]
                prev, cur = start, first
                while cur not in endpoints:
                    nxt = next(n for n in graph._succ[cur] if n != prev)
                    edges.append(next(iter(graph._succ[cur][nxt].values())))
                    path.append(nxt)
                    prev, cur = cur, nxt
                result.add_edge(start, cur, **_merge(path, edges, node_attrs))
    return result


def _merge(path: list[int], edges: list[dict[str, Any]], node_attrs: Any) -> dict[str, Any]:
    osmids: list[int] = []
    length = 0.0
    travel_time = 0.0
    for data in edges:
        if data["osmid"] not in osmids:
            osmids.append(data["osmid"])
        length += data["length"]
        travel_time += data["travel_time"]
    first = edges[0]
    return {
        "osmid": osmids[0] if len(osmids) == 1 else osmids,
        "highway": first["highway"],
        "oneway": first["oneway"],
        "reversed": first["reversed"],
        "speed_kph": first["speed_kph"],
        "length": length,
        "travel_time": travel_time,
        "geometry": LineString([(node_attrs[n]["x"], node_attrs[n]["y"]) for n in path]),
    }
