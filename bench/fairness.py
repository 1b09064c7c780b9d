"""Fairness weight benchmark: the same generated rural day with the weight off and on.

Usage::

    .venv/bin/python bench/fairness.py --sizes 100,300 --time-limit 10
    .venv/bin/python bench/fairness.py --weights 0,60,300 --prior 0,6

Each size draws one day with :func:`bench.rural_day.build_instance` (the demo region built
from ``data/demo/herrenberg.osm.pbf``, no database). Every row solves it with
``matching.solve`` under the same budget and seed; only ``fairness_weight`` and the drivers'
earlier rides this week change. ``--offers-per-request`` sets how many drivers compete for
the riders (the generator's default 0.4 leaves most riders a single possible driver, so the
weight has little to choose from). ``--prior 0,k`` compares drivers who all start the week
fresh with drivers who already gave 0..k rides (drawn per driver from the seed). The first
weight is the baseline the others are compared with.

Columns: **served %** (riders served / requests), **added min** (the drivers' added driving,
total minutes), **per rider** (added driving seconds per served rider), **drivers** (drivers
with at least one rider / drivers offering), **gini** and **top20** (Gini coefficient of the
riders per offering driver, counting this day's plan plus the earlier rides, and the share of
those rides given by the busiest 20 % - as :mod:`maas.domain.kpi` defines them), and **max**
(the most rides of one driver).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rural_day
from rural_day import DEFAULT_PBF, build_instance, load_region

from maas.domain.kpi import gini, top_share
from matching import Problem, Result, SolveParams, StopKind, check, solve


def with_prior(problem: Problem, most: int, seed: int) -> Problem:
    """The problem with each driver's earlier rides this week drawn from 0..most."""
    if most == 0:
        return problem
    rng = np.random.default_rng(seed)
    drivers = tuple(
        dataclasses.replace(d, rides_before=int(rng.integers(0, most + 1))) for d in problem.drivers
    )
    return Problem(problem.travel_time_s, drivers, problem.riders)


def row(problem: Problem, res: Result) -> dict[str, float]:
    rides = {d.person_id: d.rides_before for d in problem.drivers}
    for rt, d in zip(res.routes, problem.drivers, strict=True):
        rides[d.person_id] += sum(1 for s in rt.stops if s.kind is StopKind.PICKUP)
    load = list(rides.values())
    return {
        "served": 100.0 * res.num_served / max(1, len(problem.riders)),
        "added_min": res.total_added_driving_s / 60.0,
        "per_rider": res.total_added_driving_s / max(1, res.num_served),
        "used": float(res.num_used_drivers),
        "gini": gini(load) or 0.0,
        "top20": top_share(load) or 0.0,
        "max": float(max(load, default=0)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100,300", help="comma-separated request counts")
    ap.add_argument("--weights", default="0,60", help="fairness weights; the first is the base")
    ap.add_argument("--prior", default="0,6", help="most earlier rides per driver (0 = none)")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dwell-s", type=int, default=60)
    ap.add_argument(
        "--offers-per-request",
        type=float,
        default=0.4,
        help="offers per request of the generated day (more: drivers compete for riders)",
    )
    ap.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    args = ap.parse_args(argv)
    weights = [int(w) for w in args.weights.split(",")]
    priors = [int(p) for p in args.prior.split(",")]
    # build_instance draws the day with DemandParams(num_requests=...): give it our offer share.
    rural_day.DemandParams = functools.partial(
        rural_day.DemandParams, offers_per_request=args.offers_per_request
    )
    with tempfile.TemporaryDirectory(prefix="maas-fair-") as tmp:
        net, villages = load_region(args.pbf, Path(tmp))
        print(
            f"Fairness benchmark: seed {args.seed}, time limit {args.time_limit:g} s, "
            f"{args.offers_per_request:g} offers per request"
        )
        head = (
            f"{'requests':>8} {'prior':>5} {'weight':>6} {'served %':>8} {'added min':>9} "
            f"{'per rider':>9} {'drivers':>9} {'gini':>6} {'top20':>6} {'max':>4} {'wall s':>6}"
        )
        print(head)
        for size in (int(s) for s in args.sizes.split(",")):
            inst = build_instance(net, villages, size, args.seed, args.dwell_s)
            for most in priors:
                problem = with_prior(inst.problem, most, args.seed)
                base: dict[str, float] | None = None
                for w in weights:
                    params = SolveParams(time_limit_s=args.time_limit, fairness_weight=w)
                    t0 = time.perf_counter()
                    res = solve(problem, params, seed=args.seed)
                    wall = time.perf_counter() - t0
                    if check(problem, res):
                        print(f"weight {w}: the plan fails the check", file=sys.stderr)
                        return 1
                    r = row(problem, res)
                    base = base or r
                    print(
                        f"{size:>8} {most:>5} {w:>6} {r['served']:>8.1f} {r['added_min']:>9.0f} "
                        f"{r['per_rider']:>9.0f} {int(r['used']):>4}/{len(problem.drivers):<4} "
                        f"{r['gini']:>6.3f} {r['top20']:>6.3f} {int(r['max']):>4} {wall:>6.1f}"
                    )
                    if r is not base:
                        print(
                            f"{'':>21} vs weight {weights[0]}: served "
                            f"{r['served'] - base['served']:+.1f} pp, added driving "
                            f"{r['added_min'] - base['added_min']:+.0f} min, gini "
                            f"{r['gini'] - base['gini']:+.3f}"
                        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
