"""Instant-answer benchmark: how long the answer to a new request takes in a busy community.

Usage (a database with the demo region imported)::

    MAAS_DATABASE_URL=postgresql://… .venv/bin/python bench/instant.py --requests 500 --sample 40

A generated Herrenberg day (:func:`maas.demand.generate_day`: ``--requests`` open requests and
0.4 × as many offers, tomorrow) is stored in a fresh community; then ``--sample`` of its
requests are "posted" one after the other (each answer's day leaves out the sampled requests
not posted yet) and answered as the service does (:mod:`maas.planning.instant`): read the day
(PostGIS, read-only), then in the worker the kept day (:class:`~maas.planning.instant.DayCache`:
snap only the new points, extend the matrix by their rows and columns, insert the new riders
into the kept plan) or, the first time and when anything else changed, the day from scratch.
The table shows p50/p95/max per phase and in total (target: total p95 ≤ 200 ms); with
``--scratch`` also the answer built from scratch on the same inputs, as before the cache
(and each answer built without the cache is checked equal to it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
from maas.planning.plan import build_problem
from maas.planning.service import PlacesCache, RequestsMemo
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
    ap.add_argument(
        "--scratch", action="store_true", help="also time each answer from scratch (no cache)"
    )
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
        sample = ids[::step][: args.sample]
        # The sampled requests are "posted" one after the other: each answer's day holds
        # every other request but the sampled ones not posted yet.
        later = set(sample)
        phases: dict[str, list[float]] = {
            "read day (PostGIS)": [],
            "answer (cached day: snap new points, extend matrix, insert)": [],
            "total": [],
        }
        scratch: list[float] = []
        likely = hits = 0
        riders_in_plan: list[int] = []
        key = f"bench/{community}"  # one community, one day
        places, memo = PlacesCache(), RequestsMemo()
        for request_id in sample:
            later.discard(request_id)
            t0 = time.perf_counter()
            # As the service reads: the requests' meeting points, rows and riders kept between
            # reads.
            row = await conn.fetchrow(instant.SQL_REQUEST, request_id)
            found = await instant.read_group(
                conn,
                [row],
                network_path=network.path,
                snap_max_distance_m=settings.snap_max_distance_m,
                places=places,
                memo=memo,
            )
            assert found is not None
            inp = dataclasses.replace(
                found, requests=tuple(r for r in found.requests if r.id not in later)
            )
            t1 = time.perf_counter()
            ans = instant.answer_on(network, inp, request_id, cache_as=key)
            t2 = time.perf_counter()
            likely += ans.likely
            hits += ans.cache_hit
            riders_in_plan.append(ans.riders_in_plan)
            for name, value in zip(phases, (t1 - t0, t2 - t1, t2 - t0), strict=True):
                phases[name].append(value * 1000)
            if args.scratch:
                t3 = time.perf_counter()
                fresh = instant.answer_on(network, inp, request_id)
                scratch.append((time.perf_counter() - t3 + t1 - t0) * 1000)
                if not ans.cache_hit:
                    assert dataclasses.replace(fresh, compute_s=0.0) == dataclasses.replace(
                        ans, compute_s=0.0, cache_hit=False
                    )
        day = instant._days[key]
        problem = worker.without_drivers(
            build_problem(inp, day.location_of, day.matrix).problem, day.stuck
        )
        violations = matching.check(problem, day.plan)
        for v in violations[:5]:
            print(f"violation {v.kind}: {v.message}")
    print(
        f"community with {len(ids)} open requests and {offers} offers; {len(phases['total'])} "
        f"answers, {likely} likely, {hits} from the cached day; riders in the day's plan: "
        f"{statistics.mean(riders_in_plan):.0f} on average; the kept plan after the last "
        f"answer: {len(violations)} violation(s) of matching.check\n"
    )
    print("| phase | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name, values in phases.items():
        print(f"| {name} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {max(values):.1f} |")
    if scratch:
        print(
            f"| total from scratch (no cache, same inputs) | {pct(scratch, 50):.1f} | "
            f"{pct(scratch, 95):.1f} | {max(scratch):.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
