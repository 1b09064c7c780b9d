"""Instant-answer benchmark: how long the answer to a new request takes in a busy community.

Usage (a database with the demo region imported)::

    MAAS_DATABASE_URL=postgresql://… .venv/bin/python bench/instant.py --requests 500 --sample 40

A generated Herrenberg day (:func:`maas.demand.generate_day`: ``--requests`` open requests and
0.4 × as many offers, tomorrow) is stored in a fresh community; then for ``--sample`` of its
requests the instant answer is computed as the service does (:mod:`maas.planning.instant`):
read the day (PostGIS, read-only), snap and build the travel-time matrix, rebuild the day's
plan by cheapest insertion, insert the request. The table shows p50/p95/max per phase and in
total (target: total p95 ≤ 200 ms), and — the baseline in the same run — the insertion alone
into an already built plan, i.e. what a worker that keeps the day's plan cached would pay.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import matching
from maas import db
from maas.planning import instant, worker
from maas.roads import load_network
from maas.roads.importer import build_region
from maas.settings import Settings


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main() -> None:
    from matching_run import seed  # bench/matching_run.py

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--sample", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    settings = Settings.from_env()
    villages = build_region(settings.demo_osm_path).villages
    async with db.connection(settings) as conn:
        network = await load_network(conn, settings.region, settings.cache_dir)
    community = await seed(settings, network, villages, args.requests, args.seed)
    async with db.connection(settings) as conn:
        ids: list[uuid.UUID] = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM ride_request WHERE community_id = $1 ORDER BY id", community
            )
        ]
        offers = await conn.fetchval(
            "SELECT count(*) FROM ride_offer WHERE community_id = $1", community
        )
        step = max(1, len(ids) // args.sample)
        phases: dict[str, list[float]] = {
            "read day (PostGIS)": [],
            "snap + matrix + problem": [],
            "day's plan (cheapest insertion)": [],
            "insert the request": [],
            "total": [],
        }
        likely = 0
        riders_in_plan: list[int] = []
        for request_id in ids[::step][: args.sample]:
            t0 = time.perf_counter()
            found = await instant.read_day(
                conn,
                request_id,
                network_path=network.path,
                snap_max_distance_m=settings.snap_max_distance_m,
            )
            assert found is not None
            inp, _ = found
            t1 = time.perf_counter()
            _, located = worker.locate(network, inp, {})
            problem = located.problem
            t2 = time.perf_counter()
            rid = str(request_id)
            new = next(r for r in problem.riders if r.id == rid)
            plan = instant._empty_plan(problem)
            order = sorted(
                (r for r in problem.riders if r.id != rid),
                key=lambda r: (problem.locked_driver(r.id) is None, r.earliest_pickup_s, r.id),
            )
            for rider in order:
                ins = matching.insert_cheapest(problem, plan, rider)
                if ins is not None:
                    plan = matching.apply_insertion(plan, ins)
            t3 = time.perf_counter()
            ins = matching.insert_cheapest(problem, plan, new)
            t4 = time.perf_counter()
            likely += ins is not None
            riders_in_plan.append(len(plan.assignments))
            for name, value in zip(
                phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True
            ):
                phases[name].append(value * 1000)
    print(
        f"community with {len(ids)} open requests and {offers} offers; {len(phases['total'])} "
        f"answers, {likely} likely; riders in the day's plan: "
        f"{statistics.mean(riders_in_plan):.0f} on average\n"
    )
    print("| phase | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name, values in phases.items():
        print(f"| {name} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {max(values):.1f} |")
    cached = phases["insert the request"]
    print(
        f"\nbaseline (plan cached in the worker, insertion only): p95 {pct(cached, 95):.1f} ms; "
        f"as computed today (no cache): p95 {pct(phases['total'], 95):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
