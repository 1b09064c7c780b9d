"""Matching-run benchmark: a whole service run (PostGIS in, worker process, PostGIS out) on a
generated Herrenberg day.

Usage (a database with the demo region imported, e.g. after ``make run`` or in a scratch one)::

    MAAS_DATABASE_URL=postgresql://… .venv/bin/python bench/matching_run.py --sizes 50,200

Per size ``n``: :func:`maas.demand.generate_day` draws ``n`` requests and ``0.4 n`` offers for
tomorrow; they are stored in a fresh community (one-off offers; weekly ones as one-off too);
then :class:`maas.planning.service.MatchingRunner` runs the community's tomorrow in one
``forkserver`` worker process, once with a 1 s solver limit (the baseline) and once with
``--time-limit``. The table shows the phases the run records (inputs from PostGIS, snapping,
matrix, solve, route geometry, the write transaction), the end-to-end time and the riders
served. Each size gets its own community, left in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maas import db
from maas.demand import DemandParams, generate_day
from maas.domain.models import Endpoint, Point
from maas.domain.rides import OfferDraft, RequestDraft
from maas.planning import worker
from maas.planning.service import MatchingRunner, RunRequest, day_horizon
from maas.roads import RoadNetwork, load_network
from maas.roads.importer import build_region
from maas.roads.villages import Village
from maas.settings import Settings
from maas.store import communities, people, rides

BERLIN = ZoneInfo("Europe/Berlin")


async def seed(
    settings: Settings, network: RoadNetwork, villages: list[Village], n: int, seed_: int
) -> uuid.UUID:
    tomorrow = (datetime.now(BERLIN) + timedelta(days=1)).date()
    day = generate_day(
        network,
        villages,
        DemandParams(num_requests=n, service_date=tomorrow),
        seed=seed_,
    )
    async with db.connection(settings) as conn, conn.transaction():
        community = await communities.create_community(
            conn,
            region=settings.region,
            name=f"bench {n} {uuid.uuid4().hex[:6]}",
            area=shapely.set_srid(box(8.5, 48.4, 9.1, 48.8), 4326),
            settings={},
        )
        persons: dict[str, uuid.UUID] = {}

        async def person(key: str) -> uuid.UUID:
            if key not in persons:
                p = await people.create_person(
                    conn, name=key[:200], home_community_id=community.id, is_rider=True,
                    is_driver=True,
                )  # fmt: skip
                persons[key] = p.id
            return persons[key]

        for o in day.offers:
            await rides.create_offer(
                conn,
                await person(o.person_id),
                community.id,
                OfferDraft(
                    origin=Endpoint(Point(o.origin.lon, o.origin.lat), None, None),
                    destination=Endpoint(Point(o.destination.lon, o.destination.lat), None, None),
                    depart_earliest=o.earliest_departure,
                    depart_latest=o.latest_departure,
                    weekly=None,
                    seats=o.seats,
                    max_detour_min=max(0, o.max_detour_s // 60),
                    max_detour_pct=int(o.max_detour_pct),
                    wheelchair="wheelchair" in o.features,
                    child_seat="child_seat" in o.features,
                    luggage="luggage" in o.features,
                    note=None,
                ),
            )
        for r in day.requests:
            await rides.create_request(
                conn,
                await person(r.person_id),
                community.id,
                RequestDraft(
                    origin=Endpoint(Point(r.origin.lon, r.origin.lat), None, None),
                    destination=Endpoint(Point(r.destination.lon, r.destination.lat), None, None),
                    depart_earliest=r.earliest_departure,
                    arrive_latest=r.latest_arrival,
                    passengers=r.passengers,
                    needs_wheelchair="wheelchair" in r.needs,
                    needs_child_seat="child_seat" in r.needs,
                    needs_help_getting_in=False,
                    max_walk_m=500,
                    note=None,
                ),
            )
    return community.id


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,200")
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    settings = Settings.from_env()
    t0 = time.perf_counter()
    villages = build_region(settings.demo_osm_path).villages
    async with db.connection(settings) as conn:
        network = await load_network(conn, settings.region, settings.cache_dir)
    print(f"region ready in {time.perf_counter() - t0:.1f} s")
    pool = await db.create_pool(settings)
    executor = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=worker.warm,
        initargs=(network.path,),
    )
    runner = MatchingRunner(settings, pool, executor, lambda: network)
    tomorrow = (datetime.now(BERLIN) + timedelta(days=1)).date()
    header = (
        f"{'requests':>8} {'offers':>6} {'limit s':>7} {'served':>7} {'matches':>7} "
        f"{'inputs':>7} {'snap':>6} {'matrix':>7} {'solve':>7} {'routes':>7} {'write':>7} "
        f"{'total s':>8}"
    )
    print(header)
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            community_id = await seed(settings, network, villages, n, args.seed)
            for limit in (1.0, args.time_limit):
                started = time.perf_counter()
                run = await runner.run(
                    RunRequest(
                        community_id, day_horizon(tomorrow), trigger="cli", time_limit_s=limit
                    )
                )
                total = time.perf_counter() - started
                if run.status != "succeeded":
                    print(f"{n:>8} run failed: {run.error}")
                    continue
                tm = run.timings
                print(
                    f"{run.requests_count:>8} {run.occurrences_count:>6} {limit:>7.1f} "
                    f"{run.served_count:>7} {run.matches_count:>7} "
                    f"{tm.get('inputs_s', 0):>7.2f} {tm.get('snap_s', 0):>6.2f} "
                    f"{tm.get('matrix_s', 0):>7.2f} {tm.get('solve_s', 0):>7.2f} "
                    f"{tm.get('routes_s', 0):>7.2f} {tm.get('write_s', 0):>7.2f} {total:>8.2f}"
                )
    finally:
        await runner.close()
        executor.shutdown()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
