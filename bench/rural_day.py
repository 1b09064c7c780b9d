"""Rural day benchmark: ``matching.solve`` vs VROOM vs PyVRP on a generated Herrenberg day.

Usage::

    .venv/bin/python bench/rural_day.py --sizes 100,500
    .venv/bin/python bench/rural_day.py --sizes 2000 --time-limit 30 --repeat 3
    .venv/bin/python bench/rural_day.py --sizes 100 --solvers ours --ours-workers 1

What happens per size ``n``:

1. :func:`maas.demand.generate_day` draws ``n`` requests and ``0.4 n`` offers on the demo road
   graph (``data/demo/herrenberg.osm.pbf``, built without a database), seeded by ``--seed``.
2. The instance: one location per distinct snapped address, the travel-time matrix between all of
   them (``RoadNetwork.travel_time_matrix``, rounded to int seconds), drivers and riders with the
   generated windows, seats, detour limits, ride-time limits (1.5 × direct + 10 min),
   needs/features and ``--dwell-s`` for boarding and alighting.
3. Every solver runs in a fresh process (peak memory is that process's ``VmHWM``, which
   includes the interpreter, the libraries and the instance; "base" is the same figure just
   before the solver starts) with the same wall-clock budget ``--time-limit``:

   * **ours** — ``matching.solve`` with the full model (detour and ride-time limits, needs,
     pruning), ``--ours-workers`` processes in parallel (different first-solution strategies and
     seeds), the best is kept (most riders, then least added driving); checked with
     ``matching.check``. ``time_limit_s`` bounds the search only: pruning and building the
     OR-Tools model come on top and are part of the wall time shown.
   * **greedy** — the library's own ``insert_cheapest`` applied rider by rider (most
     constrained first: fewest drivers left after pruning, then earliest pickup) with
     ``apply_insertion``; no OR-Tools, full rules, checked with ``matching.check``. A baseline
     for what the search adds, and a candidate first solution.
   * **rr** — the greedy plan improved by ruin and recreate (``remove_riders`` +
     ``insert_cheapest``) for the rest of the budget; library API only, no OR-Tools.
   * **vroom** — pyvroom, shipments with time windows, capacities and skills (needs), each driver
     a vehicle from its start to its end with the window [earliest departure, latest arrival]
     and ``max_travel_time`` = direct + detour budget (driving only); ``exploration_level``
     ``--vroom-exploration`` (default 5), 2 threads. It cannot express ride-time limits, a
     departure window inside the vehicle's window, or a bound on the trip duration including
     waiting.
   * **pyvrp** — shipments (optional, with a prize), each driver a vehicle type with its own
     start and end depot, ``tw_early`` / ``start_late`` / ``tw_late`` for the departure window and
     latest arrival and ``shift_duration`` = direct + detour budget (PyVRP's duration includes
     service and waiting, like ours); one thread. It cannot express ride-time limits nor
     needs/features (no skills), so they are left out.

4. Every plan is judged by the same code, from its stop order only: **served %** (riders
   served / requests), **valid %** (riders on routes that can still be scheduled under *all*
   rules - exact re-timing with the library's scheduler - with their needs met), **ride>lim**
   (served riders whose ride is longer than their limit even with no waiting: driving + dwell
   between their pickup and drop-off along the route), **det>lim** (drivers whose driving +
   dwell alone exceed direct + budget), **needs** (riders in a car without the feature),
   **detour** (added driving minutes per driver who takes riders: mean and p95), **veh-km
   saved** (riders' direct km that need no car minus the drivers' added km; km of the fastest
   path of every leg), wall time and peak memory.

A solver that has not answered ``max(60 s, --cap-factor × budget)`` after its start is killed
and reported as "no answer": at 2,000 requests neither OR-Tools' first-solution heuristics nor
VROOM's construction phase stop at their time limits.

With ``--repeat k`` the same instance is solved k times (solver seeds 0..k-1) and the table
shows medians. "vs best peer" divides ours by the better of VROOM and PyVRP (served % and
valid %). The load average during each run is printed: other jobs on the machine slow
everyone down.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from maas.demand import DemandDay, DemandParams, generate_day  # noqa: E402
from maas.roads import RoadNetwork, Snap, to_int_seconds  # noqa: E402
from maas.roads import arrays as arr  # noqa: E402
from maas.roads.arrays import to_metric  # noqa: E402
from maas.roads.villages import Village  # noqa: E402
from matching import (  # noqa: E402
    Candidate,
    Driver,
    Problem,
    Pruning,
    Result,
    Rider,
    SolveParams,
    SolveStatus,
    StopKind,
    UnservedReason,
    apply_insertion,
    check,
    insert_cheapest,
    prune,
    remove_riders,
    solve,
)
from matching._schedule import route_times  # noqa: E402
from matching.solver import build_result  # noqa: E402

DEFAULT_PBF = ROOT / "data" / "demo" / "herrenberg.osm.pbf"
#: Prize of serving a rider in PyVRP (must dominate any driving cost in seconds).
PYVRP_PRIZE = 1_000_000
#: VROOM skill numbers of the vehicle features.
SKILLS = {"wheelchair": 1, "child_seat": 2, "luggage": 3}
OURS_STRATEGIES = ("PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_INSERTION")

#: One driver's plan: (rider index, is pickup) in visiting order.
Plan = list[tuple[int, bool]]


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    ``VmHWM`` from ``/proc/self/status`` where available: unlike ``ru_maxrss`` it starts afresh
    at ``exec``, whereas ``ru_maxrss`` of a spawned child keeps the parent's high-water mark
    from the moment of the fork (so every child would report at least the parent's size).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------- instance


@dataclass
class Instance:
    """A generated day as a matching problem, plus what the metrics need."""

    size: int
    day: DemandDay
    problem: Problem
    snaps: list[Snap]
    xy: np.ndarray  # (locations, 2) metres, EPSG:25832
    generate_s: float
    matrix_s: float
    km_cache: dict[tuple[int, int], float] = field(default_factory=dict)


def load_region(pbf: Path, workdir: Path) -> tuple[RoadNetwork, list[Village]]:
    """Build the region from the pbf (no database) and open its graph cache."""
    from maas.roads.importer import build_region

    built = build_region(pbf)
    graph = built.graph
    nodes = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    arrays, highways = arr.build_arrays(nodes, arr.edge_records_from_graph(graph))
    path = workdir / "roads-bench"
    arr.write_cache(
        path, arrays, {"region": "bench", "import_id": "bench", "highways": highways},
        built.service_area,
    )  # fmt: skip
    return RoadNetwork.open(path).prepare(), built.villages


def build_instance(
    net: RoadNetwork, villages: Sequence[Village], size: int, seed: int, dwell_s: int
) -> Instance:
    """Generate a day of ``size`` requests and turn it into a :class:`matching.Problem`."""
    t0 = time.perf_counter()
    day = generate_day(net, villages, DemandParams(num_requests=size), seed=seed)
    generate_s = time.perf_counter() - t0
    index: dict[Snap, int] = {}
    snaps: list[Snap] = []

    def loc(s: Snap) -> int:
        if s not in index:
            index[s] = len(snaps)
            snaps.append(s)
        return index[s]

    for o in day.offers:
        loc(o.origin.snap)
        loc(o.destination.snap)
    for r in day.requests:
        loc(r.origin.snap)
        loc(r.destination.snap)
    t0 = time.perf_counter()
    matrix = to_int_seconds(net.travel_time_matrix(snaps, snaps)).astype(np.int64)
    matrix_s = time.perf_counter() - t0
    np.fill_diagonal(matrix, 0)

    drivers = [
        Driver(
            id=o.id,
            person_id=o.person_id,
            start=index[o.origin.snap],
            end=index[o.destination.snap],
            earliest_departure_s=day.seconds(o.earliest_departure),
            latest_departure_s=day.seconds(o.latest_departure),
            latest_arrival_s=day.seconds(o.latest_arrival),
            seats=o.seats,
            max_detour_s=o.max_detour_s,
            max_detour_pct=o.max_detour_pct,
            features=o.features,
        )
        for o in day.offers
    ]
    riders = [
        Rider(
            id=r.id,
            person_id=r.person_id,
            pickups=(Candidate(index[r.origin.snap]),),
            dropoffs=(Candidate(index[r.destination.snap]),),
            earliest_pickup_s=day.seconds(r.earliest_departure),
            latest_dropoff_s=day.seconds(r.latest_arrival),
            latest_pickup_s=None if r.latest_departure is None else day.seconds(r.latest_departure),
            earliest_dropoff_s=(
                None if r.earliest_arrival is None else day.seconds(r.earliest_arrival)
            ),
            passengers=r.passengers,
            needs=r.needs,
            max_ride_s=r.max_ride_s,
            board_s=dwell_s,
            alight_s=dwell_s,
        )
        for r in day.requests
    ]
    fwd = to_metric()
    x, y = fwd.transform([s.lon for s in snaps], [s.lat for s in snaps])
    return Instance(
        size=size,
        day=day,
        problem=Problem(matrix, tuple(drivers), tuple(riders)),
        snaps=snaps,
        xy=np.column_stack([x, y]),
        generate_s=generate_s,
        matrix_s=matrix_s,
    )


# ---------------------------------------------------------------------------- solvers
# Each runs in a fresh process and returns a dict: plans, wall_s, peak_mb, base_mb, note.


def _shipment_windows(problem: Problem, r: Rider) -> tuple[int, int, int, int]:
    """Pickup and drop-off windows of a rider for solvers without ride-time limits."""
    direct = r.direct_s(problem.travel_time_s)
    p_lo = r.earliest_pickup_s
    p_hi = r.latest_pickup_s
    if p_hi is None:
        p_hi = r.latest_dropoff_s - direct - r.board_s
    d_lo = r.earliest_dropoff_s
    if d_lo is None:
        d_lo = r.earliest_pickup_s + r.board_s + direct
    d_hi = r.latest_dropoff_s
    return p_lo, max(p_lo, p_hi), min(d_lo, d_hi), d_hi


def ours_task(problem: Problem, budget_s: float, seed: int, strategy: str) -> dict[str, Any]:
    """One ``matching.solve`` run (full model)."""
    base = peak_rss_mb()
    t0 = time.perf_counter()
    params = SolveParams(time_limit_s=budget_s, first_solution_strategy=strategy)
    res = solve(problem, params, seed=seed)
    wall = time.perf_counter() - t0
    violations = check(problem, res)
    plans = [
        [(problem.rider_index(s.rider_id), s.kind is StopKind.PICKUP) for s in route.stops]
        for route in res.routes
    ]
    note = f"{len(violations)} check violations" if violations else ""
    reasons: dict[str, int] = {}
    for reason in res.unserved.values():
        reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    return {
        "plans": plans,
        "wall_s": wall,
        "peak_mb": peak_rss_mb(),
        "base_mb": base,
        "note": note,
        "status": str(res.status),
        "unserved": reasons,
    }


def _greedy(problem: Problem) -> tuple[Result, Pruning]:
    """Insert riders one by one with ``insert_cheapest``, most constrained first."""
    pr = prune(problem)
    active = [i for i, allowed in enumerate(pr.allowed) if allowed]
    unserved = dict(pr.reasons)
    unserved.update((problem.riders[i].id, UnservedReason.NOT_CHOSEN) for i in active)
    cur = build_result(
        problem,
        [[] for _ in problem.drivers],
        unserved,
        objective=0,
        wall_time_s=0.0,
        status=SolveStatus.FEASIBLE,
    )
    active.sort(key=lambda i: (len(pr.allowed[i]), problem.riders[i].earliest_pickup_s))
    for i in active:
        ins = insert_cheapest(problem, cur, problem.riders[i])
        if ins is not None:
            cur = apply_insertion(cur, ins)
    return cur, pr


def _output(problem: Problem, res: Result, wall_s: float, base_mb: float) -> dict[str, Any]:
    violations = check(problem, res)
    plans = [
        [(problem.rider_index(s.rider_id), s.kind is StopKind.PICKUP) for s in route.stops]
        for route in res.routes
    ]
    note = f"{len(violations)} check violations" if violations else ""
    return {
        "plans": plans,
        "wall_s": wall_s,
        "peak_mb": peak_rss_mb(),
        "base_mb": base_mb,
        "note": note,
    }


def greedy_task(problem: Problem, budget_s: float, seed: int) -> dict[str, Any]:
    """Sequential cheapest insertion with the library's ``insert_cheapest`` (no OR-Tools).

    Riders enter most constrained first (fewest drivers left by pruning, then earliest pickup);
    each goes where it adds the least driving, or stays unserved. ``budget_s`` is not needed.
    """
    del budget_s, seed
    base = peak_rss_mb()
    t0 = time.perf_counter()
    cur, _ = _greedy(problem)
    return _output(problem, cur, time.perf_counter() - t0, base)


def rr_task(problem: Problem, budget_s: float, seed: int) -> dict[str, Any]:
    """The greedy plan improved by ruin and recreate with the library's public API.

    Until the budget is spent: take one used driver and up to two drivers that share candidate
    riders with it, remove their riders (``remove_riders``), re-insert those and every unserved
    rider who may ride with these drivers (``insert_cheapest``, random order among equally
    constrained riders), keep the new plan if it serves more riders, or as many with no more
    added driving.
    """
    base = peak_rss_mb()
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    rng = np.random.default_rng(seed)
    cur, pr = _greedy(problem)
    riders_of: list[list[int]] = [[] for _ in problem.drivers]
    for i, allowed in enumerate(pr.allowed):
        for v in allowed:
            riders_of[v].append(i)
    while time.perf_counter() < deadline:
        used = [v for v, r in enumerate(cur.routes) if r.stops]
        if not used:
            break
        v = used[int(rng.integers(len(used)))]
        near = {w for i in riders_of[v] for w in pr.allowed[i] if w != v}
        drivers = [v, *rng.permutation(sorted(near))[:2].tolist()]
        removed = {s.rider_id for w in drivers for s in cur.routes[w].stops}
        trial = remove_riders(problem, cur, removed)
        cand = {i for w in drivers for i in riders_of[w]}
        cand = {i for i in cand if problem.riders[i].id not in trial.assignments}
        order = sorted(cand, key=lambda i: (len(pr.allowed[i]), float(rng.random())))
        for i in order:
            if time.perf_counter() >= deadline:
                break
            ins = insert_cheapest(problem, trial, problem.riders[i])
            if ins is not None:
                trial = apply_insertion(trial, ins)
        if (trial.num_served, -trial.total_added_driving_s) >= (
            cur.num_served,
            -cur.total_added_driving_s,
        ) and len(trial.assignments) >= len(cur.assignments):
            cur = trial
    return _output(problem, cur, time.perf_counter() - t0, base)


def vroom_task(
    problem: Problem, budget_s: float, seed: int, threads: int, exploration: int = 5
) -> dict[str, Any]:
    """VROOM on the relaxation (no ride-time limit, driving-only detour limit)."""
    import vroom

    del seed  # VROOM has no seed
    base = peak_rss_mb()
    t0 = time.perf_counter()
    m = problem.travel_time_s
    inp = vroom.Input()
    inp.set_durations_matrix("car", np.asarray(m, dtype=np.uint32))
    for v, d in enumerate(problem.drivers):
        max_dur = problem.max_duration_s(d)
        inp.add_vehicle(
            vroom.Vehicle(
                v,
                start=d.start,
                end=d.end,
                capacity=[d.seats],
                skills={SKILLS[f] for f in d.features},
                time_window=vroom.TimeWindow(d.earliest_departure_s, d.latest_arrival_s),
                max_travel_time=max_dur,
            )
        )
    for i, r in enumerate(problem.riders):
        p_lo, p_hi, d_lo, d_hi = _shipment_windows(problem, r)
        inp.add_shipment(
            pickup=vroom.ShipmentStep(
                2 * i,
                location=r.pickups[0].location,
                default_service=r.board_s,
                time_windows=[vroom.TimeWindow(p_lo, p_hi)],
            ),
            delivery=vroom.ShipmentStep(
                2 * i + 1,
                location=r.dropoffs[0].location,
                default_service=r.alight_s,
                time_windows=[vroom.TimeWindow(d_lo, d_hi)],
            ),
            amount=vroom.Amount([r.passengers]),
            skills={SKILLS[f] for f in r.needs},
        )
    sol = inp.solve(
        exploration_level=exploration, nb_threads=threads, timeout=timedelta(seconds=budget_s)
    )
    wall = time.perf_counter() - t0
    plans: list[Plan] = [[] for _ in problem.drivers]
    routes = sol.routes
    tasks = routes[routes["type"].isin(["pickup", "delivery"])]
    for vid, typ, job in zip(tasks["vehicle_id"], tasks["type"], tasks["id"], strict=True):
        plans[int(vid)].append((int(job) // 2, typ == "pickup"))
    return {"plans": plans, "wall_s": wall, "peak_mb": peak_rss_mb(), "base_mb": base, "note": ""}


def pyvrp_task(problem: Problem, budget_s: float, seed: int, xy: np.ndarray) -> dict[str, Any]:
    """PyVRP on the relaxation (no ride-time limit, no needs)."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    base = peak_rss_mb()
    t0 = time.perf_counter()
    m = np.asarray(problem.travel_time_s, dtype=np.int64)
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in xy]
    depot_of: dict[int, int] = {}
    depots: list[Any] = []
    for d in problem.drivers:
        for loc in (d.start, d.end):
            if loc not in depot_of:
                depot_of[loc] = len(depots)
                depots.append(pyvrp.Depot(loc))
    vehicle_types = []
    for d in problem.drivers:
        max_dur = problem.max_duration_s(d)
        vehicle_types.append(
            pyvrp.VehicleType(
                1,
                capacity=[d.seats],
                start_depot=depot_of[d.start],
                end_depot=depot_of[d.end],
                tw_early=d.earliest_departure_s,
                start_late=d.latest_departure_s,
                tw_late=d.latest_arrival_s,
                shift_duration=max_dur if max_dur is not None else 2**62,
                unit_distance_cost=1,
                name=d.id,
            )
        )
    shipments = []
    for r in problem.riders:
        p_lo, p_hi, d_lo, d_hi = _shipment_windows(problem, r)
        shipments.append(
            pyvrp.Shipment(
                r.pickups[0].location,
                r.dropoffs[0].location,
                pickup_tw_early=p_lo,
                pickup_tw_late=p_hi,
                pickup_service_duration=r.board_s,
                delivery_tw_early=d_lo,
                delivery_tw_late=d_hi,
                delivery_service_duration=r.alight_s,
                amount=[r.passengers],
                prize=PYVRP_PRIZE * r.priority,
                required=False,
                name=r.id,
            )
        )
    matrices: list[Any] = [m]
    data = pyvrp.ProblemData(
        locations, [], depots, vehicle_types, matrices, matrices, [], shipments
    )
    res = pyvrp.solve(data, stop=MaxRuntime(budget_s), seed=seed, display=False)
    wall = time.perf_counter() - t0
    best = res.best
    plans: list[Plan] = [[] for _ in problem.drivers]
    for route in best.routes():
        v = int(route.vehicle_type())
        for act in route.schedule():
            if act.is_shipment():
                plans[v].append((int(act.idx), bool(act.is_pickup())))
    note = "" if best.is_feasible() else "best solution infeasible"
    return {"plans": plans, "wall_s": wall, "peak_mb": peak_rss_mb(), "base_mb": base, "note": note}


# ---------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metrics:
    """One solver's plan judged by the same rules (see the module docstring)."""

    served_pct: float
    valid_pct: float
    ride_breaks: int
    detour_breaks: int
    needs_breaks: int
    detour_mean_min: float
    detour_p95_min: float
    drivers_used: int
    km_saved: float
    wall_s: float
    peak_mb: float
    base_mb: float
    load: float
    note: str


def km(inst: Instance, net: RoadNetwork, a: int, b: int) -> float:
    """Length in km of the fastest path between two locations (cached)."""
    if a == b:
        return 0.0
    key = (a, b)
    if key not in inst.km_cache:
        route = net.route(inst.snaps[a], inst.snaps[b])
        inst.km_cache[key] = math.inf if route is None else route.length_m / 1000.0
    return inst.km_cache[key]


def judge(inst: Instance, net: RoadNetwork, out: dict[str, Any], load: float) -> Metrics:
    """Compute the metrics of a plan from its stop order."""
    p = inst.problem
    m = p.travel_time_s
    served = 0
    valid = 0
    ride_breaks = 0
    detour_breaks = 0
    needs_breaks = 0
    added_min: list[float] = []
    km_saved = 0.0
    for v, plan in enumerate(out["plans"]):
        if not plan:
            continue
        d = p.drivers[v]
        seq = []
        locs = [d.start]
        picked: dict[int, int] = {}
        riders_here: set[int] = set()
        route_ok = True
        gaps: list[int] = []
        prev, prev_dwell = d.start, 0
        for k, (ri, is_pick) in enumerate(plan):
            r = p.riders[ri]
            cand = r.pickups[0] if is_pick else r.dropoffs[0]
            seq.append((r, StopKind.PICKUP if is_pick else StopKind.DROPOFF, cand))
            gaps.append(prev_dwell + int(m[prev, cand.location]))
            prev, prev_dwell = cand.location, (r.board_s if is_pick else r.alight_s)
            locs.append(cand.location)
            if is_pick:
                picked[ri] = k
                riders_here.add(ri)
                if not r.needs <= d.features:
                    needs_breaks += 1
                    route_ok = False
            elif ri in picked and r.max_ride_s is not None:
                # gaps[j] leads into stop j: the ride is the sum from the pickup's next leg.
                ride = sum(gaps[picked[ri] + 1 : k + 1])
                if ride > r.max_ride_s:
                    ride_breaks += 1
        gaps.append(prev_dwell + int(m[prev, d.end]))
        locs.append(d.end)
        driving = sum(int(m[a, b]) for a, b in itertools.pairwise(locs))
        dwell = sum(r.board_s + r.alight_s for r in (p.riders[i] for i in riders_here))
        max_dur = p.max_duration_s(d)
        if max_dur is not None and driving + dwell > max_dur:
            detour_breaks += 1
        if route_times(p, d, seq) is None:
            route_ok = False
        served += len(riders_here)
        if route_ok:
            valid += len(riders_here)
        added_min.append((driving - p.direct_s(d)) / 60.0)
        route_km = sum(km(inst, net, a, b) for a, b in itertools.pairwise(locs))
        km_saved -= route_km - km(inst, net, d.start, d.end)
        for ri in riders_here:
            r = p.riders[ri]
            km_saved += km(inst, net, r.pickups[0].location, r.dropoffs[0].location)
    n = len(p.riders)
    return Metrics(
        served_pct=100.0 * served / n if n else 0.0,
        valid_pct=100.0 * valid / n if n else 0.0,
        ride_breaks=ride_breaks,
        detour_breaks=detour_breaks,
        needs_breaks=needs_breaks,
        detour_mean_min=statistics.fmean(added_min) if added_min else 0.0,
        detour_p95_min=float(np.percentile(added_min, 95)) if added_min else 0.0,
        drivers_used=len(added_min),
        km_saved=km_saved,
        wall_s=float(out["wall_s"]),
        peak_mb=float(out["peak_mb"]),
        base_mb=float(out["base_mb"]),
        load=load,
        note=str(out.get("note", "")),
    )


# ---------------------------------------------------------------------------- running


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    # A fresh interpreter per run: VmHWM is then that solver's own peak.
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def _in_child(fn: Any, args: tuple[Any, ...], cap_s: float, workers: int = 1) -> list[Any]:
    """Run ``fn(*args_w)`` for each worker in fresh processes; kill them after ``cap_s``.

    ``args`` is one tuple per worker. A worker that has not answered by the cap is reported as
    ``None`` (its process is killed: OR-Tools does not always honour its own time limit).
    """
    pool = _spawn_pool(workers)
    futures = [pool.submit(fn, *a) for a in args]
    deadline = time.perf_counter() + cap_s
    outs: list[Any] = []
    for f in futures:
        try:
            outs.append(f.result(timeout=max(0.0, deadline - time.perf_counter())))
        except FuturesTimeout:
            outs.append(None)
    if any(o is None for o in outs):
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
    pool.shutdown(wait=True, cancel_futures=True)
    return outs


def _no_answer(problem: Problem, cap_s: float) -> dict[str, Any]:
    return {
        "plans": [[] for _ in problem.drivers],
        "wall_s": cap_s,
        "peak_mb": math.nan,
        "base_mb": math.nan,
        "note": f"no answer within {cap_s:.0f} s (killed)",
    }


def run_solver(
    name: str,
    inst: Instance,
    budget_s: float,
    seed: int,
    workers: int,
    cap_s: float,
    vroom_exploration: int = 5,
) -> dict[str, Any]:
    """Run one solver on the instance in fresh process(es); returns the best output."""
    p = inst.problem
    if name == "ours":
        args = [
            (p, budget_s, seed + w, OURS_STRATEGIES[w % len(OURS_STRATEGIES)])
            for w in range(workers)
        ]
        answers = _in_child(ours_task, tuple(args), cap_s, workers)
        outs: list[dict[str, Any]] = [o for o in answers if o is not None]
        if not outs:
            return _no_answer(p, cap_s)

        def rank(o: dict[str, Any]) -> tuple[int, int]:
            served = sum(1 for plan in o["plans"] for _, pick in plan if pick)
            return (-served, sum(len(plan) for plan in o["plans"]))

        chosen = min(outs, key=rank)
        best = dict(chosen)
        best["wall_s"] = max(o["wall_s"] for o in outs) if len(outs) == workers else cap_s
        best["peak_mb"] = sum(o["peak_mb"] for o in outs)
        best["base_mb"] = sum(o["base_mb"] for o in outs)
        notes = {o["note"] for o in outs if o["note"]}
        if len(outs) < workers:
            notes.add(f"{workers - len(outs)} of {workers} workers killed at {cap_s:.0f} s")
        best["note"] = "; ".join(sorted(notes))
        return best
    tasks: dict[str, tuple[Any, tuple[Any, ...]]] = {
        "greedy": (greedy_task, (p, budget_s, seed)),
        "rr": (rr_task, (p, budget_s, seed)),
        "vroom": (vroom_task, (p, budget_s, seed, 2, vroom_exploration)),
        "pyvrp": (pyvrp_task, (p, budget_s, seed, inst.xy)),
    }
    if name not in tasks:
        raise ValueError(f"unknown solver {name!r}")
    fn, fargs = tasks[name]
    out = _in_child(fn, (fargs,), cap_s)[0]
    return _no_answer(p, cap_s) if out is None else dict(out)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summarise(runs: list[Metrics]) -> Metrics:
    """Median of every numeric field over repeated runs."""
    if len(runs) == 1:
        return runs[0]
    return Metrics(
        served_pct=_median([r.served_pct for r in runs]),
        valid_pct=_median([r.valid_pct for r in runs]),
        ride_breaks=round(_median([r.ride_breaks for r in runs])),
        detour_breaks=round(_median([r.detour_breaks for r in runs])),
        needs_breaks=round(_median([r.needs_breaks for r in runs])),
        detour_mean_min=_median([r.detour_mean_min for r in runs]),
        detour_p95_min=_median([r.detour_p95_min for r in runs]),
        drivers_used=round(_median([r.drivers_used for r in runs])),
        km_saved=_median([r.km_saved for r in runs]),
        wall_s=_median([r.wall_s for r in runs]),
        peak_mb=_median([r.peak_mb for r in runs]),
        base_mb=_median([r.base_mb for r in runs]),
        load=max(r.load for r in runs),
        note="; ".join(sorted({r.note for r in runs if r.note})),
    )


CANNOT = {
    "ours": "",
    "greedy": "",
    "rr": "",
    "vroom": "no ride-time limit; detour = driving only; no departure window",
    "pyvrp": "no ride-time limit; no needs/features",
}


def print_table(inst: Instance, results: dict[str, Metrics], budget_s: float, repeat: int) -> None:
    p = inst.problem
    passengers = sum(r.passengers for r in p.riders)
    seats = sum(d.seats for d in p.drivers)
    print()
    print(
        f"### {inst.size} requests, {len(p.drivers)} offers "
        f"({p.num_locations} locations, {passengers} passengers, {seats} free seats); "
        f"budget {budget_s:g} s per solver" + (f", median of {repeat} runs" if repeat > 1 else "")
    )
    print(
        f"generate {inst.generate_s:.1f} s, matrix {p.num_locations}² {inst.matrix_s:.1f} s "
        "(not in the solvers' wall time)"
    )
    print()
    print(
        "| solver | served % | valid % | ride>lim | det>lim | needs | drivers used "
        "| detour mean / p95 min | veh-km saved | wall s | peak MiB (base) | load | "
        "cannot express |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, mt in results.items():
        note = CANNOT.get(name, "")
        if mt.note:
            note = f"{note}; {mt.note}" if note else mt.note
        print(
            f"| {name} | {mt.served_pct:.1f} | {mt.valid_pct:.1f} | {mt.ride_breaks} "
            f"| {mt.detour_breaks} | {mt.needs_breaks} | {mt.drivers_used} "
            f"| {mt.detour_mean_min:.1f} / {mt.detour_p95_min:.1f} | {mt.km_saved:.0f} "
            f"| {mt.wall_s:.1f} | {mt.peak_mb:.0f} ({mt.base_mb:.0f}) | {mt.load:.1f} | {note} |"
        )
    peers = [results[s] for s in ("vroom", "pyvrp") if s in results]
    if "ours" in results and peers:
        ours = results["ours"]
        best_served = max(x.served_pct for x in peers)
        best_valid = max(x.valid_pct for x in peers)
        parts = []
        if best_served > 0:
            parts.append(f"served {ours.served_pct / best_served:.3f}×")
        if best_valid > 0:
            parts.append(f"valid {ours.valid_pct / best_valid:.3f}×")
        print()
        print(f"ours vs the better peer: {', '.join(parts)}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100,500,2000", help="comma-separated request counts")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per solver and run")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated day")
    ap.add_argument("--solvers", default="ours,greedy,vroom,pyvrp")
    ap.add_argument(
        "--cap-factor",
        type=float,
        default=4.0,
        help="kill a solver after max(60 s, factor x budget) without an answer",
    )
    ap.add_argument("--ours-workers", type=int, default=2, help="parallel searches for ours")
    ap.add_argument("--vroom-exploration", type=int, default=5, help="VROOM exploration level")
    ap.add_argument("--dwell-s", type=int, default=60, help="boarding and alighting time")
    ap.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = set(solvers) - set(CANNOT)
    if unknown:
        ap.error(f"unknown solvers {sorted(unknown)}")

    print(
        f"Rural day benchmark: {args.pbf.name}, seed {args.seed}, dwell {args.dwell_s} s, "
        f"{os.cpu_count()} CPUs, ours with {args.ours_workers} worker(s)"
    )
    with tempfile.TemporaryDirectory(prefix="maas-rural-") as tmp:
        t0 = time.perf_counter()
        net, villages = load_region(args.pbf, Path(tmp))
        print(f"region built in {time.perf_counter() - t0:.1f} s ({len(villages)} villages)")
        for size in sizes:
            inst = build_instance(net, villages, size, args.seed, args.dwell_s)
            runs: dict[str, list[Metrics]] = {s: [] for s in solvers}
            for rep in range(args.repeat):
                for s in solvers:
                    load0 = os.getloadavg()[0]
                    try:
                        cap = max(60.0, args.cap_factor * args.time_limit)
                        out = run_solver(
                            s,
                            inst,
                            args.time_limit,
                            rep,
                            args.ours_workers,
                            cap,
                            args.vroom_exploration,
                        )
                    except Exception as exc:  # report, never hide, solver failures
                        print(f"{s} failed at {size}: {exc!r}", file=sys.stderr)
                        continue
                    load = max(load0, os.getloadavg()[0])
                    mt = judge(inst, net, out, load)
                    runs[s].append(mt)
                    extra = f" unserved {out['unserved']}" if "unserved" in out else ""
                    print(
                        f"  [{size}] {s} run {rep + 1}: served {mt.served_pct:.1f} %, valid "
                        f"{mt.valid_pct:.1f} %, wall {mt.wall_s:.1f} s{extra}",
                        file=sys.stderr,
                        flush=True,
                    )
            results = {s: summarise(r) for s, r in runs.items() if r}
            print_table(inst, results, args.time_limit, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
