"""The compact, array-only form of a simplified road graph, and its on-disk cache.

A :class:`NetworkArrays` holds nothing but numpy arrays, so it is written as ``.npy`` files and
opened again with ``np.load(mmap_mode="r")``: several matching worker processes that open the
same cache directory share the page cache instead of each holding a copy, and opening takes
milliseconds. Layout (``n`` nodes, ``m`` directed edges, ``g`` physical road pieces, ``k``
coordinates):

===================  ===========  ==========================================================
``node_id``          int64[n]     OSM node id, ascending
``node_lonlat``      float64[n,2] WGS84 longitude, latitude
``edge_u/edge_v``    int32[m]     node indices of each directed edge, sorted by (u, v, key)
``edge_key``         int32[m]     the MultiDiGraph key
``edge_time``        float64[m]   travel time in seconds
``edge_length``      float64[m]   length in metres
``edge_highway``     int16[m]     index into ``meta["highways"]``
``edge_geom``        int32[m]     the physical piece this edge runs along
``edge_rev``         bool[m]      the edge runs against the piece's coordinate order
``geom_offsets``     int64[g+1]   the piece's coordinates are ``[offsets[i], offsets[i+1])``
``geom_lonlat``      float64[k,2] WGS84 coordinates of all pieces, concatenated
``geom_xy``          float64[k,2] the same in EPSG:25832 metres (for snapping)
``geom_cum``         float64[k]   great-circle metres from the piece's start to each vertex
``geom_fwd/geom_bwd`` int32[g]    the edge running along / against the piece (``-1``: none)
``csr_indptr``       int32[n+1]   routing graph: the fastest edge between two nodes
``csr_indices``      int32[e]     ... its head node
``csr_time``         float64[e]   ... its travel time
``csr_edge``         int32[e]     ... its edge index (for route geometry)
===================  ===========  ==========================================================

A two-way road is one physical piece with a forward and a backward edge, so it is indexed once
for snapping. Self-loops stay edges (a point can be snapped onto one) but are left out of the
routing CSR, where they can never shorten a path. The cache directory also holds
``meta.json`` (region, import id, highway names, counts, format version) and
``service_area.wkb`` (WGS84).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import networkx as nx
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from maas.roads.graph import haversine_array_m

FORMAT_VERSION: Final = 1
METRIC_CRS: Final = "EPSG:25832"
"""ETRS89 / UTM zone 32N: metres, accurate across Baden-Württemberg."""

CACHE_PREFIX: Final = "roads-"


def to_metric() -> Transformer:
    """WGS84 lon/lat → EPSG:25832 x/y."""
    return Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


def to_wgs84() -> Transformer:
    """EPSG:25832 x/y → WGS84 lon/lat."""
    return Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


@dataclass(frozen=True, slots=True)
class EdgeRecord:
    """One directed edge in a neutral form (from the networkx graph or from the database)."""

    u: int
    v: int
    key: int
    length: float
    travel_time: float
    highway: str
    coords: np.ndarray  # float64[k, 2] lon/lat, from u to v


@dataclass(frozen=True, slots=True)
class NetworkArrays:
    """See the module docstring for the meaning of each array."""

    node_id: np.ndarray
    node_lonlat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_key: np.ndarray
    edge_time: np.ndarray
    edge_length: np.ndarray
    edge_highway: np.ndarray
    edge_geom: np.ndarray
    edge_rev: np.ndarray
    geom_offsets: np.ndarray
    geom_lonlat: np.ndarray
    geom_xy: np.ndarray
    geom_cum: np.ndarray
    geom_fwd: np.ndarray
    geom_bwd: np.ndarray
    csr_indptr: np.ndarray
    csr_indices: np.ndarray
    csr_time: np.ndarray
    csr_edge: np.ndarray


ARRAY_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in fields(NetworkArrays))


def edge_records_from_graph(graph: nx.MultiDiGraph) -> list[EdgeRecord]:
    """The edges of a simplified graph (every edge has a ``geometry``)."""
    records = []
    for u, v, key, data in graph.edges(keys=True, data=True):
        records.append(
            EdgeRecord(
                u=u,
                v=v,
                key=key,
                length=float(data["length"]),
                travel_time=float(data["travel_time"]),
                highway=str(data["highway"]),
                coords=np.asarray(data["geometry"].coords, dtype=np.float64),
            )
        )
    return records


def build_arrays(
    nodes: Mapping[int, tuple[float, float]], edges: Iterable[EdgeRecord]
) -> tuple[NetworkArrays, list[str]]:
    """Arrays for the nodes (id → lon/lat) and directed edges; also the highway names."""
    node_id = np.array(sorted(nodes), dtype=np.int64)
    node_lonlat = np.array([nodes[int(n)] for n in node_id], dtype=np.float64).reshape(-1, 2)
    index = {int(n): i for i, n in enumerate(node_id)}
    records = sorted(edges, key=lambda e: (index[e.u], index[e.v], e.key))
    m = len(records)
    highways = sorted({e.highway for e in records})
    hw_index = {h: i for i, h in enumerate(highways)}

    edge_u = np.fromiter((index[e.u] for e in records), dtype=np.int32, count=m)
    edge_v = np.fromiter((index[e.v] for e in records), dtype=np.int32, count=m)
    edge_key = np.fromiter((e.key for e in records), dtype=np.int32, count=m)
    edge_time = np.fromiter((e.travel_time for e in records), dtype=np.float64, count=m)
    edge_length = np.fromiter((e.length for e in records), dtype=np.float64, count=m)
    edge_highway = np.fromiter((hw_index[e.highway] for e in records), dtype=np.int16, count=m)
    edge_geom = np.empty(m, dtype=np.int32)
    edge_rev = np.zeros(m, dtype=bool)

    # Pair each edge with an unpaired opposite edge along the same coordinates (a two-way road).
    open_pieces: dict[tuple[int, int, bytes], list[int]] = {}
    piece_coords: list[np.ndarray] = []
    geom_fwd: list[int] = []
    geom_bwd: list[int] = []
    for i, e in enumerate(records):
        coords = np.ascontiguousarray(e.coords, dtype=np.float64)
        back_key = (index[e.v], index[e.u], coords[::-1].tobytes())
        waiting = open_pieces.get(back_key)
        if waiting:
            piece = waiting.pop()
            geom_bwd[piece] = i
            edge_geom[i] = piece
            edge_rev[i] = True
            continue
        piece = len(piece_coords)
        piece_coords.append(coords)
        geom_fwd.append(i)
        geom_bwd.append(-1)
        edge_geom[i] = piece
        open_pieces.setdefault((index[e.u], index[e.v], coords.tobytes()), []).append(piece)

    lengths = np.array([len(c) for c in piece_coords], dtype=np.int64)
    geom_offsets = np.zeros(len(piece_coords) + 1, dtype=np.int64)
    np.cumsum(lengths, out=geom_offsets[1:])
    geom_lonlat = (
        np.concatenate(piece_coords) if piece_coords else np.zeros((0, 2), dtype=np.float64)
    )
    x, y = to_metric().transform(geom_lonlat[:, 0], geom_lonlat[:, 1])
    geom_xy = np.column_stack([x, y]).astype(np.float64)
    geom_cum = np.zeros(len(geom_lonlat), dtype=np.float64)
    for start, end in itertools.pairwise(geom_offsets):
        seg = haversine_array_m(geom_lonlat[start:end, 0], geom_lonlat[start:end, 1])
        np.cumsum(seg, out=geom_cum[start + 1 : end])

    csr_indptr, csr_indices, csr_time, csr_edge = _routing_csr(
        len(node_id), edge_u, edge_v, edge_time
    )
    arrays = NetworkArrays(
        node_id=node_id,
        node_lonlat=node_lonlat,
        edge_u=edge_u,
        edge_v=edge_v,
        edge_key=edge_key,
        edge_time=edge_time,
        edge_length=edge_length,
        edge_highway=edge_highway,
        edge_geom=edge_geom,
        edge_rev=edge_rev,
        geom_offsets=geom_offsets,
        geom_lonlat=geom_lonlat,
        geom_xy=geom_xy,
        geom_cum=geom_cum,
        geom_fwd=np.array(geom_fwd, dtype=np.int32),
        geom_bwd=np.array(geom_bwd, dtype=np.int32),
        csr_indptr=csr_indptr,
        csr_indices=csr_indices,
        csr_time=csr_time,
        csr_edge=csr_edge,
    )
    return arrays, highways


def _routing_csr(
    n: int, edge_u: np.ndarray, edge_v: np.ndarray, edge_time: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the fastest non-loop edge per (u, v); edges are already sorted by (u, v)."""
    ids = np.flatnonzero(edge_u != edge_v)
    # Sort by (u, v, time) so the first of each (u, v) run is the fastest parallel edge.
    order = np.lexsort((edge_time[ids], edge_v[ids], edge_u[ids]))
    ids = ids[order]
    u = edge_u[ids]
    v = edge_v[ids]
    first = np.ones(len(ids), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    ids = ids[first]
    u = edge_u[ids]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return (
        indptr,
        edge_v[ids].astype(np.int32),
        edge_time[ids].astype(np.float64),
        ids.astype(np.int32),
    )


def cache_name(import_id: uuid.UUID | str) -> str:
    """The cache directory name for an import."""
    return f"{CACHE_PREFIX}{import_id}"


def write_cache(
    directory: Path,
    arrays: NetworkArrays,
    meta: Mapping[str, Any],
    service_area: BaseGeometry,
) -> None:
    """Write the arrays, ``meta.json`` and ``service_area.wkb`` into a new ``directory``."""
    directory.mkdir(parents=True)
    for name in ARRAY_NAMES:
        np.save(directory / f"{name}.npy", getattr(arrays, name), allow_pickle=False)
    (directory / "service_area.wkb").write_bytes(shapely.to_wkb(service_area))
    full_meta = {"format_version": FORMAT_VERSION, **meta}
    # meta.json last: a directory with it is complete (see read_cache).
    (directory / "meta.json").write_text(json.dumps(full_meta, indent=1, sort_keys=True))


def stage_cache(
    cache_root: Path,
    import_id: uuid.UUID | str,
    arrays: NetworkArrays,
    meta: Mapping[str, Any],
    service_area: BaseGeometry,
) -> Path:
    """Write the cache under a temporary name beside its final place; return that path.

    :func:`publish_cache` renames it once the database transaction has committed, so a failed
    import never leaves a cache that looks valid.
    """
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = cache_root / f".{cache_name(import_id)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write_cache(staging, arrays, meta, service_area)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def publish_cache(staging: Path, cache_root: Path, import_id: uuid.UUID | str) -> Path:
    """Atomically rename a staged cache to its final name (another process may have won)."""
    final = cache_root / cache_name(import_id)
    try:
        staging.rename(final)
    except OSError:
        # Already there (a concurrent rebuild of the same import): identical content.
        shutil.rmtree(staging, ignore_errors=True)
        if not (final / "meta.json").exists():
            raise
    return final


def discard(path: Path) -> None:
    """Remove a staged or stale cache directory; never fails."""
    shutil.rmtree(path, ignore_errors=True)


def read_cache(directory: Path) -> tuple[NetworkArrays, dict[str, Any], BaseGeometry]:
    """Open a cache directory memory-mapped; raise ``FileNotFoundError``/``ValueError`` if bad."""
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{directory}: cache format {meta.get('format_version')} is not mine")
    loaded = {
        name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        for name in ARRAY_NAMES
    }
    service_area = shapely.from_wkb((directory / "service_area.wkb").read_bytes())
    return NetworkArrays(**loaded), meta, service_area
