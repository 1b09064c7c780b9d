"""Benchmark the road network: import, start-up, and travel-time matrices against networkx.

Run: ``.venv/bin/python bench/matrix.py [--pbf FILE.osm.pbf] [--sizes 100 400 1000]``

What is measured, all in one run on the same machine:

* **import** — building the region from the .osm.pbf without the database (parse, graph,
  strongly connected component, simplify, service area, villages, array cache written), in a
  child process so its peak memory (``ru_maxrss``) is the import's alone. The database COPY
  adds about a second (see ``python -m maas import-osm``).
* **start-up** — a fresh child process that imports ``maas.roads``, opens the cache
  (memory-mapped) and builds the snapping index and CSR: what the service does at start.
* **matrices** — N×N travel times between seeded random points in the service area, snapped
  to the roads. "engine" is :meth:`RoadNetwork.travel_time_matrix` (scipy csgraph Dijkstra on
  the simplified graph, median of ``--repeat`` runs). "networkx" is plain
  ``networkx.single_source_dijkstra_path_length`` on the UNsimplified graph with the snapped
  points inserted as nodes, one call per origin; for sizes above ``--nx-full-max`` only
  ``--nx-sample`` origins are timed and the time is extrapolated linearly per origin (marked
  ``*``). Every networkx row computed is compared with the engine's: "max |diff|" is the
  largest absolute difference in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

from maas.errors import InputError  # noqa: E402
from maas.roads import RoadNetwork, Snap  # noqa: E402
from maas.roads import arrays as arr  # noqa: E402

DEFAULT_PBF = ROOT / "data" / "demo" / "herrenberg.osm.pbf"


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- child process stages ---------------------------------------------------------------------


def stage_build(pbf: Path, out: Path) -> dict[str, Any]:
    import pickle

    from maas.roads.importer import build_region

    started = time.perf_counter()
    built = build_region(pbf)
    graph = built.graph
    nodes = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    arrays, highways = arr.build_arrays(nodes, arr.edge_records_from_graph(graph))
    arr.write_cache(
        out / "cache", arrays, {"region": "bench", "import_id": "bench", "highways": highways},
        built.service_area,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    with (out / "full_graph.pickle").open("wb") as fh:
        pickle.dump(built.full_graph, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "seconds": seconds,
        "peak_mb": peak_rss_mb(),
        "timings": built.timings,
        "full_nodes": built.full_graph.number_of_nodes(),
        "full_edges": built.full_graph.number_of_edges(),
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
    }


def stage_load(cache: Path) -> dict[str, Any]:
    # The clock starts at interpreter start-up, as the service's would.
    net = RoadNetwork.open(cache).prepare()
    snap = net.snap(*net.arrays.node_lonlat[0])
    net.travel_time_matrix([snap], [snap])
    return {"peak_mb": peak_rss_mb()}


def run_child(*args: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


# ---- networkx baseline ----------------------------------------------------------------------


def split_full_graph(full: nx.MultiDiGraph, net: RoadNetwork, snaps: list[Snap]) -> nx.MultiDiGraph:
    """The unsimplified graph with each snap inserted as node ("p", i) on its OSM segment."""
    a = net.arrays
    by_coord: dict[tuple[float, float], list[int]] = defaultdict(list)
    for node, data in full.nodes(data=True):
        by_coord[(data["x"], data["y"])].append(node)
    graph = nx.MultiDiGraph()
    graph.add_edges_from(
        (u, v, k, {"t": d["travel_time"]}) for u, v, k, d in full.edges(keys=True, data=True)
    )
    on_segment: dict[tuple[int, int], list[tuple[float, tuple[str, int]]]] = defaultdict(list)
    for i, s in enumerate(snaps):
        start = int(a.geom_offsets[s.piece])
        cum = a.geom_cum[start : int(a.geom_offsets[s.piece + 1])]
        along = s.fraction * float(cum[-1])
        seg_len = float(cum[s.segment + 1] - cum[s.segment])
        ratio = (along - float(cum[s.segment])) / seg_len if seg_len > 0 else 0.0
        ratio = min(max(ratio, 0.0), 1.0)
        x0, y0 = a.geom_lonlat[start + s.segment]
        x1, y1 = a.geom_lonlat[start + s.segment + 1]
        p0, p1 = (float(x0), float(y0)), (float(x1), float(y1))
        pairs = [(x, y) for x in by_coord[p0] for y in by_coord[p1] if full.has_edge(x, y)]
        pairs += [(x, y) for x in by_coord[p0] for y in by_coord[p1] if full.has_edge(y, x)]
        x, y = pairs[0]
        if full.has_edge(x, y):
            on_segment[(x, y)].append((ratio, ("p", i)))
        if full.has_edge(y, x):
            on_segment[(y, x)].append((1.0 - ratio, ("p", i)))
    for (u, v), points in on_segment.items():
        t = graph[u][v][0]["t"]
        graph.remove_edge(u, v, 0)
        prev: object = u
        prev_r = 0.0
        for r, node in sorted(points):
            graph.add_edge(prev, node, t=(r - prev_r) * t)
            prev, prev_r = node, r
        graph.add_edge(prev, v, t=(1.0 - prev_r) * t)
    return graph


def random_snaps(net: RoadNetwork, count: int, seed: int) -> list[Snap]:
    rng = np.random.default_rng(seed)
    lonlat = np.asarray(net.arrays.node_lonlat)
    lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    snaps: list[Snap] = []
    while len(snaps) < count:
        lon, lat = rng.uniform(lo, hi)
        if not net.service_area.contains(shapely.Point(lon, lat)):
            continue
        try:
            snaps.append(net.snap(float(lon), float(lat)))
        except InputError:
            continue
    return snaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nx-full-max", type=int, default=400)
    parser.add_argument("--nx-sample", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--stage", choices=["build", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage == "build":
        print(json.dumps(stage_build(args.pbf, args.dir)))
        return 0
    if args.stage == "load":
        print(json.dumps(stage_load(args.dir)))
        return 0

    import pickle

    with tempfile.TemporaryDirectory(prefix="maas-bench-") as tmp:
        work = Path(tmp)
        print(f"building {args.pbf.name} (child process) ...", file=sys.stderr)
        build, build_wall = run_child("--stage", "build", "--pbf", str(args.pbf), "--dir", tmp)
        loads = [run_child("--stage", "load", "--dir", str(work / "cache")) for _ in range(3)]
        load_wall = statistics.median(w for _, w in loads)
        load_peak = max(r["peak_mb"] for r, _ in loads)

        started = time.perf_counter()
        net = RoadNetwork.open(work / "cache").prepare()
        open_s = time.perf_counter() - started
        with (work / "full_graph.pickle").open("rb") as fh:
            full = pickle.load(fh)

        biggest = max(args.sizes)
        print(f"snapping {2 * biggest} random points ...", file=sys.stderr)
        snaps = random_snaps(net, 2 * biggest, args.seed)
        split = split_full_graph(full, net, snaps)

        rows = []
        for size in args.sizes:
            origins, dests = snaps[:size], snaps[biggest : biggest + size]
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                matrix = net.travel_time_matrix(origins, dests)
                times.append(time.perf_counter() - t0)
            engine = statistics.median(times)

            sample = size if size <= args.nx_full_max else min(args.nx_sample, size)
            print(f"{size}x{size}: networkx on {sample} origins ...", file=sys.stderr)
            dest_nodes = [("p", biggest + j) for j in range(size)]
            diff = 0.0
            t0 = time.perf_counter()
            results = [
                nx.single_source_dijkstra_path_length(split, ("p", i), weight="t")
                for i in range(sample)
            ]
            nx_time = (time.perf_counter() - t0) * size / sample
            for i, lengths in enumerate(results):
                row = np.array([lengths.get(node, np.inf) for node in dest_nodes])
                diff = max(diff, float(np.max(np.abs(row - matrix[i]))))
            rows.append((size, engine, min(times), nx_time, sample < size, sample, diff))

        print()
        print(
            f"Region {args.pbf.name}: unsimplified {build['full_nodes']} nodes / "
            f"{build['full_edges']} edges (networkx), simplified {build['nodes']} nodes / "
            f"{build['edges']} edges (engine). Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs."
        )
        print()
        print(
            "| matrix | engine median (s) | engine min (s) | networkx (s) | speed-up "
            "| max abs diff (s) |"
        )
        print("|---|---|---|---|---|---|")
        for size, engine, best, nx_time, extrapolated, sample, diff in rows:
            mark = f" * ({sample} origins timed)" if extrapolated else ""
            print(
                f"| {size}×{size} | {engine:.3f} | {best:.3f} | {nx_time:.1f}{mark} | "
                f"{nx_time / engine:.0f}× | {diff:.1e} |"
            )
        print()
        print("| step | value |")
        print("|---|---|")
        print(f"| import without DB (parse → cache written) | {build['seconds']:.1f} s "
              f"(child wall {build_wall:.1f} s) |")  # fmt: skip
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in build["timings"].items())
        print(f"| import steps | {steps} |")
        print(f"| import peak memory (ru_maxrss) | {build['peak_mb']:.0f} MiB |")
        print(f"| start-up: new process, open cache + index (median of 3) | {load_wall:.2f} s |")
        print(f"| start-up peak memory | {load_peak:.0f} MiB |")
        print(f"| open cache in a warm process | {open_s * 1000:.0f} ms |")
        print(f"| this process's peak memory (incl. networkx graphs) | {peak_rss_mb():.0f} MiB |")
        print("* networkx time extrapolated linearly from the timed origins.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
