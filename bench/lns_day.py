"""Rural day: ``matching.solve`` vs the compiled ruin and recreate ``matching.lns.solve_lns``.

Usage::

    .venv/bin/python bench/lns_day.py --sizes 100,500 --time-limit 10
    .venv/bin/python bench/lns_day.py --sizes 500 --meeting-points 2

The instances are ``bench/rural_day.py``'s generated Herrenberg days (the
demo road graph, no database), with the full rules: windows, seats, detour
and ride-time limits, needs.  With ``--meeting-points k`` every rider also
gets up to ``k`` extra pickup and drop-off candidates: the nearest other
request ends within ``--walk-s`` seconds of driving (as a stand-in for
meeting points; the walking time is the driving time), so the engines must
choose the place.

Both solvers run one after the other in this process (one core each) with
the same ``time_limit_s``; the kernel of ``solve_lns`` is loaded (or
compiled) before any timing.  The table shows riders served (and weighted by
priority), the objective (lower is better; penalties of unserved riders
dominate), the added driving minutes, the wall time and ``matching.check``'s
verdict.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from rural_day import DEFAULT_PBF, build_instance, load_region  # noqa: E402

from matching import Candidate, Problem, Result, SolveParams, check, solve  # noqa: E402
from matching.lns import LnsStats, solve_lns, warm_up  # noqa: E402


def with_meeting_points(problem: Problem, k: int, walk_s: int) -> Problem:
    """Give every rider up to ``k`` extra candidates near each end (see the module doc)."""
    if k <= 0:
        return problem
    m = problem.travel_time_s
    ends = np.unique(
        [c.location for r in problem.riders for c in (*r.pickups, *r.dropoffs)]
    ).astype(np.int64)
    riders = []
    for r in problem.riders:

        def near(c: Candidate, m: np.ndarray = m) -> tuple[Candidate, ...]:
            t = m[c.location, ends]
            order = np.argsort(t, kind="stable")
            out = [c]
            for i in order:
                loc = int(ends[i])
                if loc != c.location and int(t[i]) <= walk_s and len(out) <= k:
                    out.append(Candidate(loc, int(t[i])))
            return tuple(out)

        pickups = tuple(x for c in r.pickups for x in near(c))
        dropoffs = tuple(x for c in r.dropoffs for x in near(c))
        riders.append(dataclasses.replace(r, pickups=pickups, dropoffs=dropoffs))
    return Problem(m, problem.drivers, tuple(riders))


def _row(name: str, problem: Problem, res: Result, wall_s: float, extra: str = "") -> str:
    weight = sum(r.priority for r in problem.riders if r.id in res.assignments)
    viol = check(problem, res)
    return (
        f"  {name:<6} served {res.num_served:>4}/{len(problem.riders):<4}"
        f" (weighted {weight:>4}) | objective {res.objective:>14,} |"
        f" added {res.total_added_driving_s / 60:>8.1f} min | wall {wall_s:>5.1f} s |"
        f" check {'ok' if not viol else f'{len(viol)} violations'} {extra}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100,500", help="comma-separated request counts")
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per solver")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated day")
    ap.add_argument("--dwell-s", type=int, default=60)
    ap.add_argument("--meeting-points", type=int, default=0, help="extra candidates per end")
    ap.add_argument("--walk-s", type=int, default=240, help="reach of an extra candidate")
    ap.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    args = ap.parse_args(argv)
    print(f"numba kernel loaded or compiled in {warm_up():.1f} s (not timed)")
    with tempfile.TemporaryDirectory(prefix="maas-lns-") as tmp:
        net, villages = load_region(args.pbf, Path(tmp))
        for size in [int(x) for x in args.sizes.split(",") if x.strip()]:
            inst = build_instance(net, villages, size, args.seed, args.dwell_s)
            problem = with_meeting_points(inst.problem, args.meeting_points, args.walk_s)
            cands = sum(len(r.pickups) + len(r.dropoffs) for r in problem.riders)
            print(
                f"{size} requests, {len(problem.drivers)} offers, {cands} candidate places,"
                f" {args.time_limit:g} s each (machine shared with other jobs)"
            )
            params = SolveParams(time_limit_s=args.time_limit)
            t0 = time.perf_counter()
            ref = solve(problem, params, seed=0)
            print(_row("solve", problem, ref, time.perf_counter() - t0), flush=True)
            stats: list[LnsStats] = []
            t0 = time.perf_counter()
            res = solve_lns(problem, params, seed=0, stats=stats)
            print(
                _row("lns", problem, res, time.perf_counter() - t0, f"({stats[0].iterations} it)"),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
