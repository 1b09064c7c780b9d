"""What-if replays: the matcher on a past or generated day of a community under candidate
parameters, without touching live data.

A replay

1. records a ``whatif_run`` (status ``running``, stage ``reading``) and reads its inputs: for a
   **past** day the day's (not cancelled) requests and the offers of that day, exactly as the
   matching service would see them if nothing had been matched yet; for a **generated** day
   the villages around the community (:func:`maas.demand.generate_day` draws the day in the
   worker, deterministic per seed);
2. solves in the matching service's process pool (stage ``solving``) with
   :func:`maas.planning.worker.plan_on`; on a generated day it solves a second time under the
   community's current parameters (stage ``solving_current``), the reference to compare with;
3. computes the KPIs of the candidate plan and of the reference — for a past day, what
   actually ran (the day's matches and outcomes in the database) — with
   :mod:`maas.domain.kpi` (stage ``comparing``) and stores them in ``whatif_run.result``.

The candidate parameters include ``fairness_weight``: replaying a day with it at 0 and at
the community's value shows what spreading rides across volunteers costs in driving and
gains in the load KPIs (``rides_gini``, ``rides_top20_share``). On a past day each driver
starts with the rides they gave earlier in that ISO week (as the live run would have seen
them); on a generated day with none.

Nothing is written to ``match``, ``match_rider``, ``match_stop``, ``matching_run`` or
``request_outcome``; no matching lock is taken.

**Cancellation** (``POST /v1/whatif-runs/{id}/cancel``) takes effect between stages at once: the
run is marked ``cancelled`` and its task stops. A solve already running in a worker process
cannot be interrupted from outside; it ends by itself at its time limit (``time_limit_s``, by
default the service's ``MAAS_MATCHING_TIME_LIMIT_S``) and its result is thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry

from maas.domain import kpi
from maas.domain import params as community_params
from maas.domain.volunteers import iso_week
from maas.errors import InputError, NotFoundError, UnavailableError
from maas.planning.params import MatchingParams, params_from_settings
from maas.planning.plan import OccurrenceIn, Place, PlanInput, PlanOutput, RequestIn
from maas.planning.service import candidate_places, offer_trips
from maas.settings import Settings
from maas.store import kpis as kpi_store
from maas.store import params as params_store
from maas.store import planning
from maas.store import volunteers as volunteer_store
from maas.store import whatif as whatif_store
from maas.store.whatif import WhatIfRun

log = logging.getLogger("maas.whatif")

TIME_ZONE = "Europe/Berlin"
GENERATED_VILLAGES_WITHIN_M = 10_000.0
"""A generated day draws homes and destinations from the villages this close to the
community (riders travel to the nearby towns)."""

STAGES = ("reading", "solving", "solving_current", "comparing", "done")


# ---- plain data for the worker ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VillageData:
    """What :func:`maas.demand.generate_day` needs of a village (picklable)."""

    name: str
    kind: str
    population: int | None
    point: ShapelyPoint
    geometry: BaseGeometry


@dataclass(frozen=True, slots=True)
class GeneratedJob:
    network_path: Path
    snap_max_distance_m: float
    villages: tuple[VillageData, ...]
    day: date
    num_requests: int
    seed: int
    params: MatchingParams


@dataclass(frozen=True, slots=True)
class Solved:
    """A solved day: the plan, and the facts of each request (for the KPIs)."""

    output: PlanOutput
    inp: PlanInput
    meta: dict[uuid.UUID, kpi.RequestFact]


def solve_past(inp: PlanInput) -> PlanOutput:
    """Worker side of a past day: the matching worker's own plan function."""
    from maas.planning import worker

    return worker.plan(inp)


def solve_generated(job: GeneratedJob) -> Solved:
    """Worker side of a generated day: draw the day, solve it."""
    from maas.demand import DemandParams, generate_day
    from maas.planning import worker
    from maas.roads.arrays import to_metric

    network = worker._network(job.network_path)
    day = generate_day(
        network,
        job.villages,
        DemandParams(num_requests=job.num_requests, service_date=job.day),
        seed=job.seed,
    )
    t0 = day.midnight.astimezone(UTC)

    def secs(at: datetime) -> int:
        return int((at - t0).total_seconds())

    def uid(text: str) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"maas-whatif:{job.seed}:{text}")

    p = job.params
    occurrences = tuple(
        OccurrenceIn(
            offer_id=uid(o.id),
            occurrence_date=job.day,
            person_id=uid(o.person_id),
            origin=Place(o.origin.lon, o.origin.lat),
            destination=Place(o.destination.lon, o.destination.lat),
            earliest_s=secs(o.earliest_departure),
            latest_s=secs(o.latest_departure),
            seats=o.seats,
            max_detour_s=min(o.max_detour_s, p.max_detour_min * 60),
            max_detour_pct=float(min(o.max_detour_pct, p.max_detour_pct)),
            features=o.features,
        )
        for o in day.offers
    )
    requests = tuple(
        RequestIn(
            id=uid(r.id),
            person_id=uid(r.person_id),
            pickups=(Place(r.origin.lon, r.origin.lat),),
            dropoffs=(Place(r.destination.lon, r.destination.lat),),
            earliest_pickup_s=max(0, secs(r.earliest_departure)),
            latest_dropoff_s=secs(r.latest_arrival),
            latest_pickup_s=None if r.latest_departure is None else secs(r.latest_departure),
            passengers=r.passengers,
            needs=r.needs,
        )
        for r in day.requests
    )
    inp = PlanInput(
        network_path=job.network_path,
        snap_max_distance_m=job.snap_max_distance_m,
        t0=t0,
        params=p,
        occurrences=occurrences,
        requests=requests,
    )
    metric = to_metric()
    meta: dict[uuid.UUID, kpi.RequestFact] = {}
    for r in day.requests:
        x, y = metric.transform(r.origin.lon, r.origin.lat)
        straight = kpi.haversine_km(
            r.origin.lon, r.origin.lat, r.destination.lon, r.destination.lat
        )
        meta[uid(r.id)] = kpi.RequestFact(
            id=r.id,
            requested_at=r.earliest_departure,
            direct_km=kpi.direct_km(straight),
            served=False,
            village=r.origin.village,
            lon=r.origin.lon,
            lat=r.origin.lat,
            x_m=float(x),
            y_m=float(y),
        )
    return Solved(worker.plan_on(network, inp), inp, meta)


# ---- from a plan to KPI facts (pure) ------------------------------------------------------


def plan_facts(
    inp: PlanInput, output: PlanOutput, meta: dict[uuid.UUID, kpi.RequestFact]
) -> tuple[list[kpi.RequestFact], list[kpi.TripFact]]:
    """The facts of a solved day: which requests got a ride, when they are picked up, and
    each used driver's route against the direct distance."""
    occurrences = {(o.offer_id, o.occurrence_date): o for o in inp.occurrences}
    pickups: dict[uuid.UUID, tuple[datetime, str]] = {}
    trips: list[kpi.TripFact] = []
    for route in output.routes:
        occ = occurrences[(route.offer_id, route.occurrence_date)]
        driver = str(occ.person_id)
        for stop in route.stops:
            if stop.kind == "pickup":
                pickups.setdefault(
                    stop.request_id, (inp.t0 + timedelta(seconds=stop.arrival_s), driver)
                )
        straight = kpi.haversine_km(
            occ.origin.lon, occ.origin.lat, occ.destination.lon, occ.destination.lat
        )
        trips.append(
            kpi.TripFact(
                driver_id=driver,
                route_km=kpi.line_km(route.coordinates) if route.coordinates else None,
                direct_km=kpi.direct_km(straight),
            )
        )
    facts = []
    for request_id, fact in meta.items():
        got = pickups.get(request_id)
        facts.append(
            kpi.RequestFact(
                id=fact.id,
                requested_at=fact.requested_at,
                direct_km=fact.direct_km,
                served=got is not None,
                pickup_at=None if got is None else got[0],
                driver_id=None if got is None else got[1],
                village=fact.village,
                lon=fact.lon,
                lat=fact.lat,
                x_m=fact.x_m,
                y_m=fact.y_m,
            )
        )
    return facts, trips


def offering(inp: PlanInput) -> list[str]:
    """The drivers who offered a trip in a plan's input (the active drivers of its KPIs)."""
    return sorted({str(o.person_id) for o in inp.occurrences})


def kpis_json(k: kpi.Kpis) -> dict[str, Any]:
    return {
        **k.summary(),
        "villages": [
            {
                "village": v.village,
                "requests": v.requests,
                "served": v.served,
                "served_share": v.served_share,
            }
            for v in k.villages
        ],
        "unmet_count": len(k.unmet),
    }


# ---- reading a past day -------------------------------------------------------------------


def day_bounds(day: date, time_zone: str = TIME_ZONE) -> tuple[datetime, datetime]:
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def read_past_day(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    day: date,
    params: MatchingParams,
    *,
    network_path: Path,
    snap_max_distance_m: float,
) -> tuple[PlanInput, dict[uuid.UUID, kpi.RequestFact]]:
    """The day's requests and offer occurrences as the worker's input (read only)."""
    start, end = day_bounds(day)
    requests = await whatif_store.day_requests(conn, community_id, start, end)
    offers = await planning.offers_in(conn, community_id, start, end)
    facts = await kpi_store.request_facts(conn, community_id, start, end)
    monday = day - timedelta(days=day.isoweekday() - 1)
    given = await volunteer_store.rides_given(
        conn, [o.person_id for o in offers], monday, day - timedelta(days=1)
    )
    ids = [r.id for r in requests]
    near = await candidate_places(conn, ids, max_walk_m=params.max_walk_m)

    def secs(at: datetime) -> int:
        return int((at - start).total_seconds())

    occurrences = []
    for o in offers:
        for occ_day, earliest, latest in offer_trips(o, start, end):
            occurrences.append(
                OccurrenceIn(
                    offer_id=o.id,
                    occurrence_date=occ_day,
                    person_id=o.person_id,
                    origin=Place(o.origin.lon, o.origin.lat),
                    destination=Place(o.destination.lon, o.destination.lat),
                    earliest_s=max(0, secs(earliest)),
                    latest_s=secs(latest),
                    seats=o.seats,
                    max_detour_s=min(o.max_detour_min, params.max_detour_min) * 60,
                    max_detour_pct=float(min(o.max_detour_pct, params.max_detour_pct)),
                    features=o.features,
                    rides_before=given.get((o.person_id, iso_week(occ_day)), 0),
                )
            )
    riders = []
    for r in requests:
        own_o = Place(r.origin.lon, r.origin.lat, 0, r.origin_meeting_point_id)
        own_d = Place(r.destination.lon, r.destination.lat, 0, r.destination_meeting_point_id)
        riders.append(
            RequestIn(
                id=r.id,
                person_id=r.person_id,
                pickups=(own_o, *_others(near.get((r.id, "origin"), []), own_o)),
                dropoffs=(own_d, *_others(near.get((r.id, "destination"), []), own_d)),
                earliest_pickup_s=max(0, secs(r.depart_earliest)),
                latest_dropoff_s=secs(r.arrive_latest),
                passengers=r.passengers,
                needs=r.needs,
                needs_help=r.needs_help,
            )
        )
    inp = PlanInput(
        network_path=network_path,
        snap_max_distance_m=snap_max_distance_m,
        t0=start,
        params=params,
        occurrences=tuple(occurrences),
        requests=tuple(riders),
    )
    meta = {uuid.UUID(f.id): f for f in facts}
    return inp, meta


def _others(places: list[Place], own: Place) -> list[Place]:
    return [
        p
        for p in places
        if p.meeting_point_id != own.meeting_point_id and (p.lon, p.lat) != (own.lon, own.lat)
    ]


# ---- the runner ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WhatIfRequest:
    community_id: uuid.UUID
    day: date
    source: str  # "past" or "generated"
    params: dict[str, Any]
    """The candidate parameters, complete and validated (:func:`maas.domain.params.validate`)."""
    requested_by: uuid.UUID | None = None
    num_requests: int = 60
    seed: int = 0
    time_limit_s: float | None = None


class WhatIfRunner:
    """Starts, tracks and cancels the what-if replays of one service process."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        executor: Callable[[], Executor | None],
        network: Callable[[], Any],
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.executor = executor
        self.network = network
        self.tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def start(self, req: WhatIfRequest) -> WhatIfRun:
        """Check the inputs, record the run and start it in the background.

        :class:`InputError` (field ``day``) for a past day without requests,
        :class:`UnavailableError` without a road network.
        """
        async with self.pool.acquire() as conn:
            current = await params_store.current(conn, req.community_id)
            if current is None:
                raise NotFoundError("no such community")
            if req.source == "past":
                start, end = day_bounds(req.day)
                if not await kpi_store.has_requests(conn, req.community_id, start, end):
                    raise InputError(
                        "day",
                        f"the community has no ride requests on {req.day.isoformat()}; "
                        "choose a day with requests or a generated day",
                    )
            else:
                villages = await whatif_store.villages_near(
                    conn, req.community_id, GENERATED_VILLAGES_WITHIN_M
                )
                if len(villages) < 2:
                    raise InputError("source", "a generated day needs at least two villages")
            network = self.network()
            if network is None or getattr(network, "path", None) is None:
                raise UnavailableError("the road network is not loaded; what-if cannot run")
            run = await whatif_store.insert_run(
                conn,
                community_id=req.community_id,
                requested_by=req.requested_by,
                day=req.day,
                source=req.source,
                num_requests=req.num_requests if req.source == "generated" else None,
                seed=req.seed if req.source == "generated" else None,
                params=req.params,
                base_params_version=current.version,
            )
        task = asyncio.create_task(
            self._execute(run.id, req, current.params, network.path), name=f"whatif-{run.id}"
        )
        self.tasks[run.id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(run.id, None))
        return run

    async def fail_stale(self) -> None:
        """Replays older than any replay may take were cut off by a stop: mark them failed
        (a replay of another service process is never that old while it runs)."""
        async with self.pool.acquire() as conn:
            count = await whatif_store.fail_stale(conn, self.timeout_s())
        if count:
            log.warning("%d what-if run(s) were interrupted by a stop; marked failed", count)

    def timeout_s(self) -> float:
        """The longest a replay may take (two solves and the reading around them)."""
        return self.settings.matching_run_timeout_s * 2

    async def cancel(self, run_id: uuid.UUID) -> None:
        """Stop a running replay (module docstring); a finished one stays as it is."""
        task = self.tasks.get(run_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        async with self.pool.acquire() as conn:
            await whatif_store.finish(conn, run_id, "cancelled", error="cancelled by an operator")

    async def _stage(self, run_id: uuid.UUID, stage: str) -> None:
        async with self.pool.acquire() as conn:
            await whatif_store.set_stage(conn, run_id, stage)

    async def _in_pool(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor(), fn, arg)

    async def _execute(
        self,
        run_id: uuid.UUID,
        req: WhatIfRequest,
        current_params: dict[str, Any],
        network_path: Path,
    ) -> None:
        limit = req.time_limit_s or self.settings.matching_time_limit_s
        candidate = params_from_settings(req.params, time_limit_s=limit)
        current = params_from_settings(
            community_params.effective(current_params), time_limit_s=limit
        )
        try:
            async with asyncio.timeout(self.timeout_s()):
                if req.source == "past":
                    result = await self._past(run_id, req, candidate, network_path)
                else:
                    result = await self._generated(run_id, req, candidate, current, network_path)
                result["changes"] = community_params.changes(
                    community_params.effective(current_params), req.params
                )
                async with self.pool.acquire() as conn:
                    await whatif_store.finish(conn, run_id, "succeeded", result=result)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with self.pool.acquire() as conn:
                    await whatif_store.finish(
                        conn, run_id, "cancelled", error="cancelled by an operator"
                    )
            raise
        except Exception as exc:
            if not isinstance(exc, InputError | TimeoutError):
                log.exception("what-if run %s failed", run_id)
            error = str(exc) or type(exc).__name__
            with contextlib.suppress(Exception):
                async with self.pool.acquire() as conn:
                    await whatif_store.finish(conn, run_id, "failed", error=error)

    async def _past(
        self, run_id: uuid.UUID, req: WhatIfRequest, candidate: MatchingParams, path: Path
    ) -> dict[str, Any]:
        start, end = day_bounds(req.day)
        async with self.pool.acquire() as conn:
            inp, meta = await read_past_day(
                conn,
                req.community_id,
                req.day,
                candidate,
                network_path=path,
                snap_max_distance_m=self.settings.snap_max_distance_m,
            )
            actual_requests = await kpi_store.request_facts(conn, req.community_id, start, end)
            actual_trips = await kpi_store.trip_facts(conn, req.community_id, start, end)
            actual_offering = await kpi_store.offering_drivers(conn, req.community_id, start, end)
        await self._stage(run_id, "solving")
        output: PlanOutput = await self._in_pool(solve_past, inp)
        _require_valid(output)
        await self._stage(run_id, "comparing")
        facts, trips = plan_facts(inp, output, meta)
        mine = kpi.compute(facts, trips, offering(inp))
        actual = kpi.compute(actual_requests, actual_trips, actual_offering)
        return _result(mine, actual, "actual", output)

    async def _generated(
        self,
        run_id: uuid.UUID,
        req: WhatIfRequest,
        candidate: MatchingParams,
        current: MatchingParams,
        path: Path,
    ) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            villages = await whatif_store.villages_near(
                conn, req.community_id, GENERATED_VILLAGES_WITHIN_M
            )
        data = tuple(
            VillageData(v.name, v.kind, v.population, v.point, v.geometry) for v in villages
        )

        def job(p: MatchingParams) -> GeneratedJob:
            return GeneratedJob(
                network_path=path,
                snap_max_distance_m=self.settings.snap_max_distance_m,
                villages=data,
                day=req.day,
                num_requests=req.num_requests,
                seed=req.seed,
                params=p,
            )

        await self._stage(run_id, "solving")
        mine_solved: Solved = await self._in_pool(solve_generated, job(candidate))
        _require_valid(mine_solved.output)
        await self._stage(run_id, "solving_current")
        ref_solved: Solved = await self._in_pool(solve_generated, job(current))
        _require_valid(ref_solved.output)
        await self._stage(run_id, "comparing")
        mine = kpi.compute(
            *plan_facts(mine_solved.inp, mine_solved.output, mine_solved.meta),
            offering(mine_solved.inp),
        )
        ref = kpi.compute(
            *plan_facts(ref_solved.inp, ref_solved.output, ref_solved.meta),
            offering(ref_solved.inp),
        )
        return _result(mine, ref, "current_params", mine_solved.output)

    async def close(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=5)


def _require_valid(output: PlanOutput) -> None:
    if output.violations:
        raise RuntimeError(
            "the solver's result failed the check: " + "; ".join(output.violations[:5])
        )


def _result(
    candidate: kpi.Kpis, reference: kpi.Kpis, reference_kind: str, output: PlanOutput
) -> dict[str, Any]:
    return {
        "reference_kind": reference_kind,
        "candidate": kpis_json(candidate),
        "reference": kpis_json(reference),
        "comparison": kpi.comparison(candidate, reference),
        "solver_status": output.solver_status,
        "timings_s": {k: round(v, 3) for k, v in output.timings_s.items()},
    }
