"""Li & Lim PDPTW benchmark: our compiled ruin and recreate vs VROOM vs PyVRP vs best known.

Usage::

    .venv/bin/python bench/lilim.py                 # all 56 instances of the 100-task set
    .venv/bin/python bench/lilim.py --quick         # 6 representative instances
    .venv/bin/python bench/lilim.py --set 200 --instances LC1_2_1,LR1_2_1
    .venv/bin/python bench/lilim.py --time-limit 5 --solvers ours,vroom

Every solver gets the same wall-clock budget per instance and the same
integer data (coordinates x ``SCALE``, rounded travel times); distances are
recomputed in floating point from the coordinates.  Ranking (SINTEF): vehicles
first, then distance; gap% = distance gap to the best known solution (only
meaningful when the vehicle counts agree).

How the budget is used
----------------------
* ours: :func:`matching.lns.solve_lns` (SISR-style ruin and recreate compiled
  with numba) with a fleet-minimisation phase (``vehicles_first``) in two
  worker processes (2 cores) with different seeds; each gets the whole budget
  minus a margin for parsing and answering, and the better plan (vehicles,
  then distance) is reported.  The workers split their budgets differently
  between annealing, fleet minimisation and annealing (``WORKER_SHARES``).
  The workers load (or compile) the kernel before any timing starts; the
  first line of the output says how long that took.  Every reported plan is
  verified with ``matching.check``.
* VROOM: ``exploration_level=5``, 2 threads, ``timeout`` = budget, the same
  fixed vehicle cost.
* PyVRP (>= 0.12 models shipments): ``MaxRuntime(budget)``, one thread.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from matching import Problem, SolveParams, check, lilim
from matching.lns import LnsParams, LnsStats, solve_lns, warm_up

DATA = Path(__file__).resolve().parent / "data" / "lilim"
SCALE = 1000
#: Fixed cost per vehicle in scaled distance units (= 100 distance units).
FIXED_COST = 100 * SCALE
QUICK = ["lc101", "lc204", "lr104", "lr205", "lrc104", "lrc207"]
#: Seconds of the budget kept for pickling, parsing, checking and answering.
MARGIN_S = 0.2
#: Per worker (free_share, fleet_share) of ``LnsParams``: the plan after fleet
#: minimisation varies a lot with the seed, so the two workers also split
#: their budgets differently (the library default, and more annealing first).
WORKER_SHARES = [(LnsParams().free_share, LnsParams().fleet_share), (0.3, 0.2)]


@dataclass(frozen=True)
class Outcome:
    """One solver's answer on one instance."""

    vehicles: int | None
    distance: float | None
    served_pct: float
    wall_s: float
    note: str = ""

    def key(self) -> tuple[float, float]:
        """Ranking key: vehicles, then distance (missing = worst)."""
        if self.vehicles is None or self.distance is None or self.served_pct < 100.0:
            return (math.inf, math.inf)
        # Rounded: equal plans differ in the last bits of the float sum.
        return (float(self.vehicles), round(self.distance, 6))


# --------------------------------------------------------------------------- ours


def _worker_warm_up() -> float:
    """Load (or compile) the numba kernel in a worker before anything is timed."""
    return warm_up()


def ours_worker(
    task: tuple[str, float, int, float, float],
) -> tuple[int | None, float | None, float, str, int]:
    """One search process: returns (vehicles, distance, served %, note, iterations)."""
    text, budget, seed, free_share, fleet_share = task
    t0 = time.perf_counter()
    inst = lilim.parse(text, scale=SCALE)
    p: Problem = inst.problem
    params = SolveParams(
        time_limit_s=max(0.05, budget - MARGIN_S - (time.perf_counter() - t0)),
        vehicle_fixed_cost=FIXED_COST,
        drop_penalty=10**9,
    )
    stats: list[LnsStats] = []
    best = solve_lns(
        p,
        params,
        seed=seed,
        lns=LnsParams(vehicles_first=True, free_share=free_share, fleet_share=fleet_share),
        stats=stats,
    )
    iters = stats[0].iterations
    if best.num_served < len(p.riders):
        return None, None, 100.0 * best.num_served / len(p.riders), "not all served", iters
    violations = check(p, best)
    note = f"{len(violations)} violations" if violations else ""
    return best.num_used_drivers, lilim.distance(inst, best), 100.0, note, iters


def run_ours(text: str, budget: float, pool: ProcessPoolExecutor, workers: int) -> Outcome:
    t0 = time.perf_counter()
    futures = [
        pool.submit(ours_worker, (text, budget, 1 + w, *WORKER_SHARES[w % len(WORKER_SHARES)]))
        for w in range(workers)
    ]
    outs = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    ok = [o for o in outs if o[0] is not None and o[1] is not None and not o[3]]
    iters = "+".join(f"{o[4] // 1000}k" for o in outs)
    if not ok:
        best_served = max(o[2] for o in outs)
        return Outcome(None, None, best_served, wall, "; ".join(o[3] for o in outs))
    v, d, served, note, _ = min(ok, key=lambda o: (o[0], o[1]))
    return Outcome(v, d, served, wall, note or f"it {iters}")


# --------------------------------------------------------------------------- vroom


def run_vroom(inst: lilim.LiLimInstance, budget: float) -> Outcome:
    import vroom

    p = inst.problem
    t0 = time.perf_counter()
    problem_input = vroom.Input()
    problem_input.set_durations_matrix("car", np.asarray(p.travel_time_s, dtype=np.uint32))
    depot = p.drivers[0]
    for i, _d in enumerate(p.drivers):
        problem_input.add_vehicle(
            vroom.Vehicle(
                i,
                start=0,
                end=0,
                capacity=[inst.capacity],
                time_window=vroom.TimeWindow(depot.earliest_departure_s, depot.latest_arrival_s),
                costs=vroom.VehicleCosts(fixed=FIXED_COST),
            )
        )
    for r in p.riders:
        pc, dc = r.pickups[0], r.dropoffs[0]
        assert r.latest_pickup_s is not None
        assert r.earliest_dropoff_s is not None
        problem_input.add_shipment(
            pickup=vroom.ShipmentStep(
                pc.location,
                location=pc.location,
                default_service=r.board_s,
                time_windows=[vroom.TimeWindow(r.earliest_pickup_s, r.latest_pickup_s)],
            ),
            delivery=vroom.ShipmentStep(
                dc.location,
                location=dc.location,
                default_service=r.alight_s,
                time_windows=[vroom.TimeWindow(r.earliest_dropoff_s, r.latest_dropoff_s)],
            ),
            amount=vroom.Amount([r.passengers]),
        )
    sol = problem_input.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=budget))
    wall = time.perf_counter() - t0
    routes = sol.routes
    tasks = routes[routes["type"].isin(["pickup", "delivery"])]
    served = 100.0 * (len(tasks) / 2) / len(p.riders)
    c = inst.coords
    dist = 0.0
    vehicles = 0
    for _vid, group in routes.groupby("vehicle_id"):
        locs = [int(x) for x in group["location_index"]]
        if len(locs) <= 2:
            continue
        vehicles += 1
        dist += sum(
            math.hypot(c[a, 0] - c[b, 0], c[a, 1] - c[b, 1]) for a, b in itertools.pairwise(locs)
        )
    return Outcome(vehicles, dist, served, wall)


# --------------------------------------------------------------------------- pyvrp


def run_pyvrp(inst: lilim.LiLimInstance, budget: float) -> Outcome:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    if not hasattr(pyvrp.Model, "add_shipment"):
        return Outcome(None, None, 0.0, 0.0, "n/a: this PyVRP has no shipments (PDP)")
    p = inst.problem
    t0 = time.perf_counter()
    model = pyvrp.Model()
    locs = [model.add_location(x=float(x * SCALE), y=float(y * SCALE)) for x, y in inst.coords]
    d0 = p.drivers[0]
    depot = model.add_depot(locs[0], tw_early=d0.earliest_departure_s, tw_late=d0.latest_arrival_s)
    model.add_vehicle_type(
        num_available=len(p.drivers),
        capacity=inst.capacity,
        start_depot=depot,
        end_depot=depot,
        fixed_cost=FIXED_COST,
        tw_early=d0.earliest_departure_s,
        tw_late=d0.latest_arrival_s,
    )
    for r in p.riders:
        assert r.latest_pickup_s is not None
        assert r.earliest_dropoff_s is not None
        model.add_shipment(
            locs[r.pickups[0].location],
            locs[r.dropoffs[0].location],
            pickup_tw_early=r.earliest_pickup_s,
            pickup_tw_late=r.latest_pickup_s,
            pickup_service_duration=r.board_s,
            delivery_tw_early=r.earliest_dropoff_s,
            delivery_tw_late=r.latest_dropoff_s,
            delivery_service_duration=r.alight_s,
            amount=r.passengers,
        )
    m = p.travel_time_s
    n = len(locs)
    for i in range(n):
        for j in range(n):
            if i != j:
                model.add_edge(locs[i], locs[j], distance=int(m[i, j]), duration=int(m[i, j]))
    res = model.solve(stop=MaxRuntime(budget), seed=0, display=False)
    wall = time.perf_counter() - t0
    best = res.best
    if not best.is_feasible():
        return Outcome(None, None, 0.0, wall, "infeasible")
    c = inst.coords
    dist = 0.0
    for route in best.routes():
        locs_idx = [0, *_pyvrp_route_locations(route, p), 0]
        dist += sum(
            math.hypot(c[a, 0] - c[b, 0], c[a, 1] - c[b, 1])
            for a, b in itertools.pairwise(locs_idx)
        )
    missing = best.num_missing_shipments() if hasattr(best, "num_missing_shipments") else 0
    served = 100.0 * (len(p.riders) - missing) / len(p.riders)
    return Outcome(best.num_routes(), dist, served, wall)


def _pyvrp_route_locations(route: object, problem: Problem) -> list[int]:
    """Location indices visited by a PyVRP route (depots excluded)."""
    out: list[int] = []
    for act in route.schedule():  # type: ignore[attr-defined]
        if not _flag(act, "is_shipment"):
            continue
        r = problem.riders[int(act.idx)]
        out.append(r.pickups[0].location if _flag(act, "is_pickup") else r.dropoffs[0].location)
    return out


def _flag(obj: object, name: str) -> bool:
    v = getattr(obj, name)
    return bool(v() if callable(v) else v)


# --------------------------------------------------------------------------- table


def load_bks(path: Path, clients: int) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            if int(row["clients"]) == clients:
                out[row["instance"].lower()] = (int(row["routes"]), float(row["distance"]))
    return out


def _fmt(o: Outcome | None, bks: tuple[int, float] | None) -> str:
    if o is None:
        return f"{'-':>4} {'-':>9} {'-':>7}"
    if o.vehicles is None or o.distance is None:
        return f"{'n/a':>4} {'n/a':>9} {'n/a':>7}"
    gap = "" if bks is None else f"{100 * (o.distance / bks[1] - 1):+.2f}"
    return f"{o.vehicles:>4} {o.distance:>9.2f} {gap:>7}"


def _gap(o: Outcome | None, bks: tuple[int, float] | None) -> float | None:
    if o is None or o.distance is None or bks is None or o.served_pct < 100.0:
        return None
    return 100 * (o.distance / bks[1] - 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", choices=["100", "200"], default="100")
    ap.add_argument("--instances", default="", help="comma-separated names (default: all)")
    ap.add_argument("--quick", action="store_true", help=f"only {','.join(QUICK)}")
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds per instance")
    ap.add_argument("--solvers", default="ours,vroom,pyvrp")
    ap.add_argument("--workers", type=int, default=2, help="parallel searches for ours")
    args = ap.parse_args(argv)

    folder = DATA / "instances" / f"pdp_{args.set}"
    files = {f.stem.lower(): f for f in sorted(folder.glob("*.txt"))}
    if args.quick:
        names = QUICK if args.set == "100" else sorted(files)[:6]
    elif args.instances:
        names = [n.strip().lower() for n in args.instances.split(",") if n.strip()]
    else:
        names = sorted(files)
    missing = [n for n in names if n not in files]
    if missing:
        ap.error(f"unknown instances: {missing}")
    bks_all = load_bks(DATA / "bks.csv", int(args.set))
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    runners: dict[str, Callable[[str, lilim.LiLimInstance], Outcome]] = {}
    pool = ProcessPoolExecutor(max_workers=args.workers)
    if "ours" in solvers:
        t_warm = time.perf_counter()
        local = warm_up()  # compiles into numba's cache once, so the workers only load it
        remote = [f.result() for f in [pool.submit(_worker_warm_up) for _ in range(args.workers)]]
        print(
            f"numba kernel: {local:.1f} s here (compile or cache load), workers"
            f" {'/'.join(f'{x:.1f}' for x in remote)} s; warm-up total"
            f" {time.perf_counter() - t_warm:.1f} s, not timed"
        )
        runners["ours"] = lambda text, _inst: run_ours(text, args.time_limit, pool, args.workers)
    if "vroom" in solvers:
        runners["vroom"] = lambda _text, inst: run_vroom(inst, args.time_limit)
    if "pyvrp" in solvers:
        runners["pyvrp"] = lambda _text, inst: run_pyvrp(inst, args.time_limit)

    head = f"{'instance':<10} {'BKS veh':>7} {'BKS dist':>9} |"
    for s in runners:
        head += f" {s + ' veh':>4} {'dist':>9} {'gap%':>7} |"
    head += " served% " + " ".join(f"{s}:s" for s in runners)
    print(f"Li & Lim {args.set}-task set, {args.time_limit:g} s per instance and solver")
    print(head)
    print("-" * len(head))
    results: dict[str, list[tuple[str, Outcome]]] = {s: [] for s in runners}
    for name in names:
        text = files[name].read_text()
        inst = lilim.parse(text, scale=SCALE)
        bks = bks_all.get(name)
        row = f"{name:<10} {bks[0] if bks else '-':>7} {bks[1] if bks else float('nan'):>9.2f} |"
        served = []
        walls = []
        for s, run in runners.items():
            try:
                o = run(text, inst)
            except Exception as exc:  # report, never hide, solver failures
                o = Outcome(None, None, 0.0, 0.0, f"error: {exc!r}"[:80])
            results[s].append((name, o))
            row += f" {_fmt(o, bks)} |"
            served.append(f"{o.served_pct:.0f}")
            walls.append(f"{o.wall_s:.1f}")
        row += " " + "/".join(served) + "  " + "/".join(walls)
        notes = [f"{s}: {o.note}" for s, lst in results.items() for (n, o) in lst[-1:] if o.note]
        if notes:
            row += "  # " + "; ".join(notes)
        print(row, flush=True)
    pool.shutdown()

    print("-" * len(head))
    print(
        "summary: 'mean gap' = mean distance gap over all instances served 100 % (mixes"
        " vehicle counts);\n         'gap@BKS veh' = mean gap over instances where the"
        " solver used exactly the BKS vehicle count"
    )
    means: dict[str, float] = {}
    for s, lst in results.items():
        gaps = [g for n, o in lst if (g := _gap(o, bks_all.get(n))) is not None]
        gaps_same = [
            g
            for n, o in lst
            if (g := _gap(o, bks_all.get(n))) is not None and o.vehicles == bks_all[n][0]
        ]
        same_veh = sum(
            1
            for n, o in lst
            if n in bks_all
            and o.vehicles is not None
            and o.vehicles <= bks_all[n][0]
            and o.served_pct >= 100.0
        )
        full = sum(1 for _, o in lst if o.served_pct >= 100.0)
        wall_times_s = [o.wall_s for _, o in lst if o.wall_s > 0]
        veh = [o.vehicles for _, o in lst if o.vehicles is not None]
        mean_gap = statistics.fmean(gaps) if gaps else math.nan
        mean_same = statistics.fmean(gaps_same) if gaps_same else math.nan
        means[s] = mean_gap
        print(
            f"  {s:<6} mean gap {mean_gap:+.2f} % | gap@BKS veh {mean_same:+.2f} %"
            f" (n={len(gaps_same)}) | BKS vehicles matched {same_veh}/{len(lst)}"
            f" | 100 % served {full}/{len(lst)} | vehicles total {sum(veh)}"
            f" | median wall {statistics.median(wall_times_s) if wall_times_s else math.nan:.1f} s"
        )
    if "ours" in results:
        # Head-to-head on instances where both solvers served everyone.
        ours = dict(results["ours"])
        for s, lst in results.items():
            if s == "ours":
                continue
            pairs = [
                (ours[n], o)
                for n, o in lst
                if ours[n].distance is not None
                and o.distance is not None
                and ours[n].served_pct >= 100
                and o.served_pct >= 100
            ]
            if not pairs:
                print(f"  ours vs {s}: no comparable instances")
                continue
            ratio = statistics.fmean(a.distance / b.distance for a, b in pairs)  # type: ignore[operator]
            better = sum(1 for a, b in pairs if a.key() < b.key())
            worse = sum(1 for a, b in pairs if a.key() > b.key())
            print(
                f"  ours vs {s}: mean distance ratio {ratio:.4f} over {len(pairs)} instances;"
                f" ours better (veh, dist) on {better}, worse on {worse}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
