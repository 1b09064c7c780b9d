"""The loaded road network: snapping points to roads, travel-time matrices and routes.

A :class:`RoadNetwork` is immutable and backed by the memory-mapped arrays of a cache directory
(:mod:`maas.roads.arrays`). Pickling it sends only the directory path: a worker process that
unpickles it maps the same files, so the operating system shares the pages between processes and
nothing is copied per request. The snapping index (a shapely ``STRtree`` over the road pieces in
EPSG:25832) and the scipy CSR matrix are built lazily, once per process, in milliseconds.

**Snapping.** A WGS84 point is projected onto the nearest road piece (not the nearest node). Its
position is the *fraction* ``f`` of the edge's great-circle length from the edge's start ``u``;
since speed is constant along a simplified edge, the point is ``f * t`` seconds from ``u`` and
``(1 - f) * t`` from ``v``. Points farther than the snap limit from any road, or outside the
region's service area, are rejected with :class:`maas.errors.InputError` naming the caller's
field.

**Travel-time matrix.** Exact shortest travel times between snapped points, equal to networkx's
Dijkstra on the same graph with the snapped points inserted as nodes that split their edges. It
is computed by ``scipy.sparse.csgraph.dijkstra`` on the routing CSR extended by one virtual node
per origin (edges to ``v`` with ``(1 - f) * t``, and to ``u`` with ``f * t`` on a two-way road),
so each origin is one Dijkstra run; a destination at fraction ``g`` is reached from ``u`` plus
``g * t`` or, on a two-way road, from ``v`` plus ``(1 - g) * t`` (the minimum is taken in
numpy). An origin and destination on the same road piece in driving order are also connected
directly. ``limit_s`` stops each search at that many seconds;
entries beyond it, and unreachable pairs, are ``inf`` (:data:`UNREACHABLE_INT` in the int32
form).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry

from maas.errors import InputError
from maas.roads.arrays import ARRAY_NAMES, NetworkArrays, read_cache, to_metric

DEFAULT_SNAP_MAX_DISTANCE_M: Final = 1000.0
UNREACHABLE_INT: Final = 2**30
"""Travel time (s) standing for "unreachable or beyond the limit" in :func:`to_int_seconds`.

About 34 years: larger than any real time, and two of them still add up inside int32, so an
optimiser summing transit times cannot overflow."""

_SOURCE_CHUNK: Final = 256
"""Dijkstra sources per scipy call: bounds the dense (chunk × nodes) distance block."""


@dataclass(frozen=True, slots=True)
class Snap:
    """A point on a drivable edge, the result of :meth:`RoadNetwork.snap`.

    ``u``, ``v``, ``key`` are the OSM node ids and key of the edge the point lies on (for a
    two-way road, the edge whose direction follows the road piece's drawing order);
    ``fraction`` is the share of the edge's length from ``u``. ``time_from_u_s`` and
    ``time_to_v_s`` are the partial travel times along that edge. The underscore fields are
    indices into the network's arrays.
    """

    lon: float
    lat: float
    distance_m: float
    u: int
    v: int
    key: int
    fraction: float
    offset_m: float
    time_from_u_s: float
    time_to_v_s: float
    two_way: bool
    edge: int
    reverse_edge: int
    piece: int
    segment: int


@dataclass(frozen=True, slots=True)
class Route:
    """A fastest route between two snapped points."""

    travel_time_s: float
    length_m: float
    coordinates: list[tuple[float, float]]

    def geojson(self) -> dict[str, Any]:
        """The route as a GeoJSON LineString geometry."""
        return {"type": "LineString", "coordinates": [list(c) for c in self.coordinates]}


def to_int_seconds(matrix: np.ndarray) -> np.ndarray:
    """Round a float matrix to whole seconds (int32); inf → :data:`UNREACHABLE_INT`."""
    finite = np.isfinite(matrix)
    out = np.full(matrix.shape, UNREACHABLE_INT, dtype=np.int32)
    out[finite] = np.minimum(np.rint(matrix[finite]), UNREACHABLE_INT).astype(np.int32)
    return out


class RoadNetwork:
    """An immutable road network opened from a cache directory (see the module docstring)."""

    def __init__(
        self,
        arrays: NetworkArrays,
        meta: dict[str, Any],
        service_area: BaseGeometry,
        *,
        path: Path | None = None,
        snap_max_distance_m: float = DEFAULT_SNAP_MAX_DISTANCE_M,
    ) -> None:
        self.arrays = arrays
        self.meta = meta
        self.service_area = service_area
        self.path = path
        self.snap_max_distance_m = snap_max_distance_m
        self._remembered: dict[tuple[float, float, float], Snap] = {}

    REMEMBERED_SNAPS: Final = 100_000
    """Snaps kept by :meth:`snap_many` with ``remember`` (about 20 MB); beyond, it starts over."""

    @classmethod
    def open(
        cls, path: Path, snap_max_distance_m: float = DEFAULT_SNAP_MAX_DISTANCE_M
    ) -> RoadNetwork:
        """Map a cache directory written by :func:`maas.roads.arrays.write_cache`."""
        arrays, meta, service_area = read_cache(path)
        return cls(arrays, meta, service_area, path=path, snap_max_distance_m=snap_max_distance_m)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.path is None:
            raise TypeError("only a RoadNetwork opened from a cache directory can be pickled")
        return (RoadNetwork.open, (self.path, self.snap_max_distance_m))

    def __repr__(self) -> str:
        return (
            f"RoadNetwork(region={self.region!r}, nodes={self.node_count}, "
            f"edges={self.edge_count}, path={self.path})"
        )

    @property
    def region(self) -> str:
        return str(self.meta.get("region", ""))

    @property
    def import_id(self) -> str:
        return str(self.meta.get("import_id", ""))

    @property
    def node_count(self) -> int:
        return len(self.arrays.node_id)

    @property
    def edge_count(self) -> int:
        return len(self.arrays.edge_u)

    def prepare(self) -> RoadNetwork:
        """Build the snapping index and routing matrix now rather than on the first request."""
        _ = self._tree, self._csr, self._coo, self._service_area_xy, self._to_metric
        _ = self._flat, self._cum_xy
        return self

    # ---- lazily built, per process -------------------------------------------------------

    @cached_property
    def _pieces(self) -> np.ndarray:
        a = self._flat
        counts = np.diff(a.geom_offsets)
        owner = np.repeat(np.arange(len(counts)), counts)
        pieces: np.ndarray = shapely.linestrings(a.geom_xy, indices=owner)
        return pieces

    @cached_property
    def _to_metric(self) -> Transformer:
        # Creating a pyproj Transformer costs milliseconds: once per process, not per snap.
        return to_metric()

    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self._pieces)

    @cached_property
    def _service_area_xy(self) -> BaseGeometry:
        transformer = self._to_metric
        area = shapely.transform(
            self.service_area, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
        shapely.prepare(area)
        return area

    @cached_property
    def _csr(self) -> sp.csr_array:
        a = self._flat
        n = self.node_count
        return sp.csr_array(
            (a.csr_time, a.csr_indices, a.csr_indptr),
            shape=(n, n),
        )

    @cached_property
    def _coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The routing CSR as (row, col, time) arrays, the base of every augmented graph."""
        coo = self._csr.tocoo()
        return coo.row.astype(np.int64), coo.col.astype(np.int64), np.asarray(coo.data)

    # ---- snapping ------------------------------------------------------------------------

    def snap(
        self, lon: float, lat: float, field: str = "point", max_distance_m: float | None = None
    ) -> Snap:
        """Snap one WGS84 point; :class:`InputError` on ``field`` if it is off the network."""
        return self.snap_many([(lon, lat)], field, max_distance_m, _single=True)[0]

    def snap_many(
        self,
        points: Sequence[tuple[float, float]],
        field: str = "points",
        max_distance_m: float | None = None,
        *,
        remember: bool = False,
        _single: bool = False,
    ) -> list[Snap]:
        """Snap many (lon, lat) points at once; the error names ``field[i]``.

        With ``remember``, points snapped before with ``remember`` are not snapped again:
        riders and drivers post the same few places again and again (home, the doctor's, a
        bench), and a snap is a large part of taking a ride request. The network never
        changes, so neither does a point's snap."""
        limit = self.snap_max_distance_m if max_distance_m is None else max_distance_m
        if len(points) == 0:
            return []
        if remember:
            keys = [(float(lon), float(lat), float(limit)) for lon, lat in points]
            known = [snap for k in keys if (snap := self._remembered.get(k)) is not None]
            if len(known) == len(keys):
                return known
            snaps = self.snap_many(points, field, limit, _single=_single)
            if len(self._remembered) + len(keys) > self.REMEMBERED_SNAPS:
                self._remembered.clear()
            self._remembered.update(zip(keys, snaps, strict=True))
            return snaps
        lonlat = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        names = [field] if _single else [f"{field}[{i}]" for i in range(len(lonlat))]
        for i, (lon, lat) in enumerate(lonlat):
            if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
                raise InputError(names[i], f"({lon}, {lat}) is not a WGS84 longitude, latitude")
        x, y = self._to_metric.transform(lonlat[:, 0], lonlat[:, 1])
        query = shapely.points(np.stack([x, y], axis=1))
        inside = shapely.contains_xy(self._service_area_xy, x, y)
        for bad in () if inside.all() else np.flatnonzero(~inside):
            i = int(bad)
            raise InputError(
                names[i],
                f"({lonlat[i, 0]:.6f}, {lonlat[i, 1]:.6f}) is outside the service area of "
                f"region '{self.region}'",
            )
        (qi, ti), dist = self._tree.query_nearest(
            query, max_distance=limit, return_distance=True, all_matches=False
        )
        piece_of = np.full(len(query), -1, dtype=np.int64)
        dist_of = np.full(len(query), np.inf)
        piece_of[qi] = ti
        dist_of[qi] = dist
        for bad in () if len(qi) == len(query) else np.flatnonzero(piece_of < 0):
            i = int(bad)
            raise InputError(
                names[i],
                f"({lonlat[i, 0]:.6f}, {lonlat[i, 1]:.6f}) is more than {limit:g} m from the "
                "nearest drivable road",
            )
        along = shapely.line_locate_point(self._pieces[piece_of], query)
        return [
            self._make_snap(int(piece_of[i]), float(along[i]), float(dist_of[i]))
            for i in range(len(query))
        ]

    @cached_property
    def _flat(self) -> NetworkArrays:
        """The arrays as plain ndarrays over the same memory: indexing a ``np.memmap`` runs
        Python code for every element read, which was most of a snap's time."""
        a = self.arrays
        return dataclasses.replace(
            a, **{name: np.asarray(getattr(a, name)) for name in ARRAY_NAMES}
        )

    @cached_property
    def _cum_xy(self) -> np.ndarray:
        """Metric length (EPSG:25832) from each piece's start to each of its vertices, to find
        the segment of a snapped point without measuring its piece each time."""
        a = self._flat
        xy = a.geom_xy
        steps = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
        cum = np.concatenate([[0.0], np.cumsum(steps)])
        starts = a.geom_offsets[:-1]
        result: np.ndarray = cum - np.repeat(cum[starts], np.diff(a.geom_offsets))
        return result

    def _make_snap(self, piece: int, along_xy: float, distance: float) -> Snap:
        a = self._flat
        start, end = int(a.geom_offsets[piece]), int(a.geom_offsets[piece + 1])
        cum_xy = self._cum_xy[start:end]
        seg = int(np.searchsorted(cum_xy, along_xy, side="right")) - 1
        seg = min(max(seg, 0), end - start - 2)
        c0, c1 = float(cum_xy[seg]), float(cum_xy[seg + 1])
        ratio = (along_xy - c0) / (c1 - c0) if c1 > c0 else 0.0
        ratio = min(max(ratio, 0.0), 1.0)
        m0, m1 = float(a.geom_cum[start + seg]), float(a.geom_cum[start + seg + 1])
        total = float(a.geom_cum[end - 1])
        along_m = m0 + ratio * (m1 - m0)
        fraction = min(max(along_m / total, 0.0), 1.0) if total > 0 else 0.0
        lon0, lat0 = a.geom_lonlat[start + seg].tolist()
        lon1, lat1 = a.geom_lonlat[start + seg + 1].tolist()
        lon = lon0 + ratio * (lon1 - lon0)
        lat = lat0 + ratio * (lat1 - lat0)
        edge = int(a.geom_fwd[piece])
        back = int(a.geom_bwd[piece])
        t = float(a.edge_time[edge])
        return Snap(
            lon=lon,
            lat=lat,
            distance_m=distance,
            u=int(a.node_id[a.edge_u[edge]]),
            v=int(a.node_id[a.edge_v[edge]]),
            key=int(a.edge_key[edge]),
            fraction=fraction,
            offset_m=fraction * float(a.edge_length[edge]),
            time_from_u_s=fraction * t,
            time_to_v_s=(1.0 - fraction) * t,
            two_way=back >= 0,
            edge=edge,
            reverse_edge=back,
            piece=piece,
            segment=seg,
        )

    # ---- matrix --------------------------------------------------------------------------

    def _exits(self, s: Snap) -> list[tuple[int, float, int]]:
        """(node, seconds from the point to it, edge used) for leaving a snapped point."""
        a = self._flat
        out = [(int(a.edge_v[s.edge]), (1.0 - s.fraction) * float(a.edge_time[s.edge]), s.edge)]
        if s.reverse_edge >= 0:
            r = s.reverse_edge
            out.append((int(a.edge_v[r]), s.fraction * float(a.edge_time[r]), r))
        return out

    def _entries(self, s: Snap) -> list[tuple[int, float, int]]:
        """(node, seconds from it to the point, edge used) for arriving at a snapped point."""
        a = self._flat
        out = [(int(a.edge_u[s.edge]), s.fraction * float(a.edge_time[s.edge]), s.edge)]
        if s.reverse_edge >= 0:
            r = s.reverse_edge
            out.append((int(a.edge_u[r]), (1.0 - s.fraction) * float(a.edge_time[r]), r))
        return out

    def _direct(self, o: Snap, d: Snap) -> float:
        """Travel time staying on the shared road piece, or inf."""
        if o.piece != d.piece:
            return math.inf
        a = self._flat
        best = math.inf
        if d.fraction >= o.fraction:
            best = (d.fraction - o.fraction) * float(a.edge_time[o.edge])
        if o.reverse_edge >= 0 and d.fraction <= o.fraction:
            best = min(best, (o.fraction - d.fraction) * float(a.edge_time[o.reverse_edge]))
        return best

    def _augmented(
        self, origins: Sequence[Snap], destinations: Sequence[Snap]
    ) -> tuple[sp.csr_array, int]:
        """The routing CSR plus one virtual node per origin, then one per destination."""
        a = self._flat
        n = self.node_count
        m_o, m_d = len(origins), len(destinations)
        base_rows, base_cols, base_vals = self._coo
        rows = [base_rows]
        cols = [base_cols]
        vals = [base_vals]
        extra: dict[tuple[int, int], float] = {}
        for i, s in enumerate(origins):
            for node, t, _ in self._exits(s):
                k = (n + i, node)
                extra[k] = min(extra.get(k, math.inf), t)
        for j, s in enumerate(destinations):
            for node, t, _ in self._entries(s):
                k = (node, n + m_o + j)
                extra[k] = min(extra.get(k, math.inf), t)
        if extra:
            keys = np.array(list(extra), dtype=np.int64)
            rows.append(keys[:, 0])
            cols.append(keys[:, 1])
            vals.append(np.fromiter(extra.values(), dtype=np.float64, count=len(extra)))
        size = n + m_o + m_d
        del a
        # coo → csr: the (u, v) pairs are unique by construction, so nothing is summed.
        graph = sp.coo_array(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(size, size),
        ).tocsr()
        return graph, n

    def travel_time_matrix(
        self,
        origins: Sequence[Snap],
        destinations: Sequence[Snap],
        *,
        limit_s: float | None = None,
    ) -> np.ndarray:
        """Fastest travel times in seconds, float64[len(origins), len(destinations)].

        ``limit_s`` bounds the search: times above it are reported as ``inf``, like unreachable
        pairs.
        """
        m_o, m_d = len(origins), len(destinations)
        result = np.full((m_o, m_d), np.inf)
        if m_o == 0 or m_d == 0:
            return result
        # Origins are virtual nodes (one Dijkstra run each); destinations are reached through
        # their (at most two) entry nodes, combined below with numpy instead of adding more
        # nodes to every search.
        graph, n = self._augmented(origins, [])
        limit = np.inf if limit_s is None else float(limit_s)
        entry_node = np.zeros((m_d, 2), dtype=np.int64)
        entry_time = np.full((m_d, 2), np.inf)
        for j, d in enumerate(destinations):
            for b, (node, t, _) in enumerate(self._entries(d)):
                entry_node[j, b] = node
                entry_time[j, b] = t
        for start in range(0, m_o, _SOURCE_CHUNK):
            sources = np.arange(n + start, n + min(start + _SOURCE_CHUNK, m_o))
            dist = dijkstra(graph, directed=True, indices=sources, limit=limit)
            block = dist[:, entry_node[:, 0]] + entry_time[:, 0]
            np.minimum(block, dist[:, entry_node[:, 1]] + entry_time[:, 1], out=block)
            result[start : start + len(sources)] = block
        by_piece: dict[int, list[int]] = {}
        for j, d in enumerate(destinations):
            by_piece.setdefault(d.piece, []).append(j)
        for i, o in enumerate(origins):
            for j in by_piece.get(o.piece, ()):
                direct = self._direct(o, destinations[j])
                if direct < result[i, j]:
                    result[i, j] = direct
        if limit_s is not None:
            result[result > limit] = np.inf
        return result

    def travel_times_to(
        self,
        origins: Sequence[Snap],
        destinations: Sequence[Snap],
        *,
        limit_s: float | None = None,
    ) -> np.ndarray:
        """:meth:`travel_time_matrix` searched backwards from each destination: one Dijkstra
        run per destination on the reversed graph, for many origins and few destinations (a
        matrix extended by a new place's column)."""
        m_o, m_d = len(origins), len(destinations)
        result = np.full((m_o, m_d), np.inf)
        if m_o == 0 or m_d == 0:
            return result
        graph, n = self._augmented(origins, destinations)
        reverse = graph.transpose().tocsr()
        limit = np.inf if limit_s is None else float(limit_s)
        sources = np.arange(n + m_o, n + m_o + m_d)
        dist = dijkstra(reverse, directed=True, indices=sources, limit=limit)
        result[:, :] = dist[:, n : n + m_o].T
        by_piece: dict[int, list[int]] = {}
        for j, d in enumerate(destinations):
            by_piece.setdefault(d.piece, []).append(j)
        for i, o in enumerate(origins):
            for j in by_piece.get(o.piece, ()):
                direct = self._direct(o, destinations[j])
                if direct < result[i, j]:
                    result[i, j] = direct
        if limit_s is not None:
            result[result > limit] = np.inf
        return result

    # ---- routes --------------------------------------------------------------------------

    def route(self, origin: Snap, destination: Snap) -> Route | None:
        """The fastest route between two snapped points, or None if there is none."""
        direct = self._direct(origin, destination)
        graph, n = self._augmented([origin], [destination])
        target = n + 1
        dist, pred = dijkstra(graph, directed=True, indices=[n], return_predecessors=True)
        via_graph = float(dist[0, target])
        if not math.isfinite(via_graph) and not math.isfinite(direct):
            return None
        if direct <= via_graph:
            coords = self._piece_between(origin, destination)
            length = abs(destination.offset_m - origin.offset_m)
            return Route(direct, length, coords)
        nodes = [target]
        while nodes[-1] != n:
            nodes.append(int(pred[0, nodes[-1]]))
        nodes.reverse()  # [virtual origin, exit node, ..., entry node, virtual destination]
        a = self._flat
        exit_node, entry_node = nodes[1], nodes[-2]
        exit_edge = min((t, e) for node, t, e in self._exits(origin) if node == exit_node)[1]
        entry_edge = min((t, e) for node, t, e in self._entries(destination) if node == entry_node)[
            1
        ]
        coords = self._edge_part(origin, exit_edge, from_point=True)
        length = self._part_length(origin, exit_edge, from_point=True)
        for u, v in itertools.pairwise(nodes[1:-1]):
            lo, hi = int(a.csr_indptr[u]), int(a.csr_indptr[u + 1])
            pos = lo + int(np.flatnonzero(np.asarray(a.csr_indices[lo:hi]) == v)[0])
            edge = int(a.csr_edge[pos])
            _extend(coords, self._edge_coords(edge))
            length += float(a.edge_length[edge])
        _extend(coords, self._edge_part(destination, entry_edge, from_point=False))
        length += self._part_length(destination, entry_edge, from_point=False)
        return Route(via_graph, length, coords)

    def _edge_coords(self, edge: int) -> list[tuple[float, float]]:
        a = self._flat
        piece = int(a.edge_geom[edge])
        start, end = int(a.geom_offsets[piece]), int(a.geom_offsets[piece + 1])
        pts = [(float(x), float(y)) for x, y in a.geom_lonlat[start:end]]
        return pts[::-1] if a.edge_rev[edge] else pts

    def _edge_part(self, s: Snap, edge: int, *, from_point: bool) -> list[tuple[float, float]]:
        """Coordinates along ``edge`` from the point to the edge's end, or from its start."""
        a = self._flat
        start = int(a.geom_offsets[s.piece])
        end = int(a.geom_offsets[s.piece + 1])
        pts = [(float(x), float(y)) for x, y in a.geom_lonlat[start:end]]
        point = (s.lon, s.lat)
        before = [*pts[: s.segment + 1], point]  # piece start → point
        after = [point, *pts[s.segment + 1 :]]  # point → piece end
        forward = not bool(a.edge_rev[edge])
        if from_point:
            return after if forward else before[::-1]
        return before if forward else after[::-1]

    def _part_length(self, s: Snap, edge: int, *, from_point: bool) -> float:
        length = float(self._flat.edge_length[edge])
        forward = not bool(self._flat.edge_rev[edge])
        to_start = s.fraction * length
        return (
            (length - to_start if forward else to_start)
            if from_point
            else (to_start if forward else length - to_start)
        )

    def _piece_between(self, o: Snap, d: Snap) -> list[tuple[float, float]]:
        a = self._flat
        start = int(a.geom_offsets[o.piece])
        end = int(a.geom_offsets[o.piece + 1])
        pts = [(float(x), float(y)) for x, y in a.geom_lonlat[start:end]]
        if d.fraction >= o.fraction:
            return [(o.lon, o.lat), *pts[o.segment + 1 : d.segment + 1], (d.lon, d.lat)]
        return [(o.lon, o.lat), *pts[d.segment + 1 : o.segment + 1][::-1], (d.lon, d.lat)]


def _extend(coords: list[tuple[float, float]], more: list[tuple[float, float]]) -> None:
    """Append a polyline, dropping its first point when it repeats the last one."""
    if coords and more and coords[-1] == more[0]:
        coords.extend(more[1:])
    else:
        coords.extend(more)
