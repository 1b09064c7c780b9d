"""Instant answer: right after a rider posts a request, is a seat likely, and where and when
would they be picked up?

The day's plan of the request's community (the same input a matching run reads, read-only:
nothing is locked or written) is rebuilt in a worker process by cheapest insertion — held
riders (accepted and confirmed rides) first, locked to their drivers, then the other open
requests — and the new request is inserted into it with :func:`matching.insert_cheapest`, so
every constraint of the matcher holds (windows, seats, detours, needs, declined pairs, the
volunteers' limits of problem building). The answer is advisory: the next matching run may
place the rider differently (or better), and never moves a confirmed ride.

The answer reaches the rider as an event ``request.instant_answer``; :class:`InstantAnswers`
watches the outbox for ``request.created`` events and answers what arrived since its last pass
together, a day at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

import matching
from maas import db
from maas.planning import worker
from maas.planning.params import MatchingParams, params_from_settings
from maas.planning.plan import OccurrenceIn, Place, PlanInput, RequestIn, build_problem
from maas.planning.service import PlacesCache, RequestsMemo
from maas.roads.network import RoadNetwork, Snap, to_int_seconds
from maas.store import events, planning
from maas.store.planning import MatchingRun
from maas.tasks import cancel_and_wait

log = logging.getLogger("maas.instant")

KIND = "request.instant_answer"
CREATED = "request.created"
SQL_REQUEST = """
SELECT id, person_id, community_id, depart_earliest, arrive_latest, status::text AS status,
       created_at
FROM ride_request WHERE id = $1
"""
SQL_REQUESTS = """
SELECT id, person_id, community_id, depart_earliest, arrive_latest, status::text AS status,
       created_at
FROM ride_request WHERE id = ANY($1::uuid[])
"""
# Open requests of communities created after a time: not answered yet, so not in the day yet.
SQL_CREATED_LATER = """
SELECT id, community_id, created_at FROM ride_request
WHERE community_id = ANY($1::uuid[]) AND status = 'open' AND created_at > $2
"""
MAX_WAIT_S = 30.0
"""A request that has waited this long for its instant answer (the service is overloaded) gets
none: it would come too late to be instant, and the scheduler's next run answers it anyway.
This bounds the work queued behind a burst."""
PASS_SIZE = 500
"""At most this many new requests are answered in one pass."""
PASS_REST_FACTOR = 2.0
PASS_REST_MAX_S = 1.0
"""After a pass that answered requests, the next waits this many times as long as the pass
took (at most ``PASS_REST_MAX_S``). A pass reads its whole day, so under a burst passes that
follow each other without rest take whatever CPU the service and PostgreSQL leave, and the
API's answers wait for it; resting, passes take at most a third of the time (more once one
takes over half a second) and each answers more requests at once. A request posted while the
last pass was long ago waits for none."""


def rest_after(pass_s: float) -> float:
    """Seconds to wait after a pass that took ``pass_s`` before reading the next requests."""
    return min(PASS_REST_MAX_S, PASS_REST_FACTOR * max(pass_s, 0.0))


@dataclass(frozen=True, slots=True)
class Answer:
    """Whether a seat is likely; if so, with whom and the proposed pickup and drop-off."""

    likely: bool
    offer_id: str | None = None
    occurrence_date: str | None = None
    pickup_s: int | None = None
    dropoff_s: int | None = None
    pickup: dict[str, Any] | None = None
    dropoff: dict[str, Any] | None = None
    added_driving_s: int | None = None
    riders_in_plan: int = 0
    compute_s: float = 0.0
    cache_hit: bool = False


def _empty_plan(problem: matching.Problem) -> matching.Result:
    routes = tuple(
        matching.Route(
            driver_id=d.id,
            start_s=d.earliest_departure_s,
            end_s=d.earliest_departure_s + problem.direct_s(d),
            stops=(),
            driving_s=problem.direct_s(d),
            added_driving_s=0,
        )
        for d in problem.drivers
    )
    return matching.Result(
        routes=routes,
        assignments={},
        unserved={r.id: matching.UnservedReason.NOT_CHOSEN for r in problem.riders},
        objective=0,
        total_added_driving_s=0,
        wall_time_s=0.0,
        status=matching.SolveStatus.FEASIBLE,
    )


def _order_key(problem: matching.Problem) -> Callable[[matching.Rider], tuple[bool, int, str]]:
    return lambda r: (problem.locked_driver(r.id) is None, r.earliest_pickup_s, r.id)


@dataclass(slots=True)
class DayCache:
    """One community's day as a worker last saw it: the snapped points, the travel-time
    matrix over them and the day's plan (every rider of ``requests`` inserted)."""

    network_path: Path | None
    snap_max_distance_m: float
    t0: datetime
    params: MatchingParams
    occurrences: tuple[OccurrenceIn, ...]
    requests: dict[uuid.UUID, RequestIn]
    tried: set[tuple[float, float]]
    snaps: list[Snap]
    location_of: dict[tuple[float, float], int]
    limit_s: float | None
    matrix: np.ndarray
    stuck: set[str]
    plan: matching.Result
    placed: set[str] = dataclasses.field(default_factory=set)
    """Every rider of the day's full problem (the plan's and the rest): their number caps
    the fairness weight as a from-scratch answer caps it."""

    def fits(self, inp: PlanInput, request_ids: Collection[uuid.UUID]) -> bool:
        """Whether ``inp`` is this day with only new open requests added (the answered ones
        among them): nothing cached changed, so only the new riders need inserting."""
        if (
            inp.network_path != self.network_path
            or inp.snap_max_distance_m != self.snap_max_distance_m
            or inp.t0 != self.t0
            or inp.params != self.params
            or inp.occurrences != self.occurrences
            or any(i in self.requests for i in request_ids)
        ):
            return False
        seen = 0
        for r in inp.requests:
            cached = self.requests.get(r.id)
            if cached is None:
                if r.held_on is not None:
                    return False
            elif cached is not r and cached != r:
                return False
            else:
                seen += 1
        return seen == len(self.requests)


MAX_CACHED_DAYS = 1024
MAX_CACHED_CELLS = 32_000_000
"""Days kept per worker process: at most this many, whose travel-time matrices (one cell per
pair of a day's distinct points, 8 bytes each) hold at most this many cells together (256 MB);
the least recently used go first. A day that is not kept is built again from scratch on its
next answer (snapping, a matrix, every rider inserted), so the days a burst touches should all
fit: a county's communities over the days ahead, each with its few hundred points."""

# Per worker process, by community and day (see :func:`cache_key`); least recently used first.
_days: dict[str, DayCache] = {}


def _evict() -> None:
    """Drop the least recently used days beyond :data:`MAX_CACHED_DAYS` and
    :data:`MAX_CACHED_CELLS` (the newest is always kept)."""
    cells = sum(d.matrix.size for d in _days.values())
    while len(_days) > 1 and (len(_days) > MAX_CACHED_DAYS or cells > MAX_CACHED_CELLS):
        cells -= _days.pop(next(iter(_days))).matrix.size


def cache_key(community_id: uuid.UUID, day: date) -> str:
    return f"{community_id}/{day.isoformat()}"


def _extend(cache: DayCache, network: RoadNetwork, inp: PlanInput) -> None:
    """Snap the input's new points and add their rows and columns to the matrix."""
    fresh = [p for p in worker.points_of(inp) if p not in cache.tried]
    if not fresh:
        return
    cache.tried.update(fresh)
    new_snaps, new_of = worker.snap_points(network, inp.snap_max_distance_m, fresh)
    if not new_snaps:
        return
    old = len(cache.snaps)
    every = [*cache.snaps, *new_snaps]
    size = len(every)
    matrix = np.zeros((size, size), dtype=np.int64)
    matrix[:old, :old] = cache.matrix
    if cache.limit_s is not None:
        rows = network.travel_time_matrix(new_snaps, every, limit_s=cache.limit_s)
        columns = network.travel_times_to(cache.snaps, new_snaps, limit_s=cache.limit_s)
        matrix[old:, :] = to_int_seconds(rows)
        matrix[:old, old:] = to_int_seconds(columns)
        np.fill_diagonal(matrix, 0)
    cache.matrix = matrix
    cache.snaps = every
    for point, index in new_of.items():
        cache.location_of[point] = old + index


def _build(network: RoadNetwork, inp: PlanInput, request_ids: Collection[uuid.UUID]) -> DayCache:
    """The day from scratch: every rider but ``request_ids`` inserted, held riders first."""
    points = worker.points_of(inp)
    snaps, location_of = worker.snap_points(network, inp.snap_max_distance_m, points)
    limit = worker.matrix_limit(network, inp, snaps, location_of)
    matrix = worker._matrix(network, inp, snaps, location_of)
    located = build_problem(inp, location_of, matrix)
    problem, stuck = worker._without_stuck_holds(located.problem)
    answered = {str(i) for i in request_ids}
    plan = _empty_plan(problem)
    params = worker.solve_params(inp.params)
    waiting = (r for r in problem.riders if r.id not in answered)
    for rider in sorted(waiting, key=_order_key(problem)):
        insertion = matching.insert_cheapest(problem, plan, rider, params=params)
        if insertion is not None:
            plan = matching.apply_insertion(plan, insertion)
    return DayCache(
        network_path=inp.network_path,
        snap_max_distance_m=inp.snap_max_distance_m,
        t0=inp.t0,
        params=inp.params,
        occurrences=inp.occurrences,
        requests={r.id: r for r in inp.requests if r.id not in request_ids},
        tried=set(points),
        snaps=snaps,
        location_of=location_of,
        limit_s=limit,
        matrix=matrix,
        stuck=stuck,
        plan=plan,
    )


def _insert(
    problem: matching.Problem,
    plan: matching.Result,
    rider: matching.Rider,
    params: matching.SolveParams,
) -> tuple[matching.Result, matching.Insertion | None]:
    """The plan with ``rider`` inserted at the cheapest place (weighed as the batch run weighs
    it, fairness included), or listed as unserved."""
    insertion = matching.insert_cheapest(problem, plan, rider, params=params)
    if insertion is not None:
        return matching.apply_insertion(plan, insertion), insertion
    unserved = {**plan.unserved, rider.id: matching.UnservedReason.NOT_CHOSEN}
    return dataclasses.replace(plan, unserved=unserved), None


def answer_on(
    network: RoadNetwork,
    inp: PlanInput,
    request_id: uuid.UUID,
    *,
    cache_as: str | None = None,
) -> Answer:
    """The instant answer for one request of ``inp`` (see :func:`answers_on`)."""
    return answers_on(network, inp, (request_id,), cache_as=cache_as)[0]


def answers_on(
    network: RoadNetwork,
    inp: PlanInput,
    request_ids: Sequence[uuid.UUID],
    *,
    cache_as: str | None = None,
) -> list[Answer]:
    """The instant answers for requests of ``inp`` (pure: no database), one per id, in that
    order: each is inserted into the day's plan as the earlier ones left it, exactly as if
    they had been answered one by one.

    With ``cache_as`` (see :func:`cache_key`) the day is kept in this process: the next
    answer for the same day, if only new open requests were added to it, snaps just their
    points, extends the matrix by their rows and columns and inserts them into the kept
    plan; anything else that changed (an offer, a cancelled request, a held rider, the
    horizon's start) rebuilds the day from scratch. Without it, the day is always built
    from scratch and nothing is kept."""
    t = time.perf_counter()
    cached = None if cache_as is None else _days.pop(cache_as, None)
    if cached is not None and cached.fits(inp, request_ids):
        _extend(cached, network, inp)
        day = cached
        cache_hit = True
    else:
        day = _build(network, inp, request_ids)
        cache_hit = False
    answering = set(request_ids)
    fresh = {r.id for r in inp.requests if r.id not in day.requests} | answering
    every = {r.id: r for r in inp.requests}
    if cache_hit:
        # The kept plan's riders, the held ones and the new ones are all the problem needs:
        # the others stayed out of the plan, and nothing inserts them again. Building only
        # these keeps a pass's cost to the plan, not to every open request of the day.
        carried = day.plan.assignments
        inp = dataclasses.replace(
            inp,
            requests=tuple(
                r
                for r in inp.requests
                if r.id in fresh or r.held_on is not None or str(r.id) in carried
            ),
        )
    located = build_problem(inp, day.location_of, day.matrix)
    problem = worker.without_drivers(located.problem, day.stuck)
    plan = day.plan
    riders = {r.id: r for r in problem.riders}
    day.placed = day.placed | riders.keys() if cache_hit else set(riders)
    params = _capped(worker.solve_params(inp.params), problem, len(day.placed))
    if cache_hit:
        added = [
            riders[str(r.id)]
            for r in inp.requests
            if r.id in fresh and r.id not in answering and str(r.id) in riders
        ]
        for rider in sorted(added, key=_order_key(problem)):
            plan = _insert(problem, plan, rider, params)[0]
    day.requests = every

    def place(own: Sequence[Place], location: int) -> dict[str, Any]:
        """The rider's own place at ``location`` (several riders' places can share a road
        point, each with its own walk), the shortest walk if several."""
        mine = [p for p in own if day.location_of.get((p.lon, p.lat)) == location]
        p = min(mine, key=lambda p: p.walk_s) if mine else located.places[location]
        mp = None if p.meeting_point_id is None else str(p.meeting_point_id)
        return {"lon": p.lon, "lat": p.lat, "walk_s": p.walk_s, "meeting_point_id": mp}

    answers = []
    for request_id in request_ids:
        new = riders.get(str(request_id))
        riders_in_plan = len(plan.assignments)
        insertion = None
        if new is not None:
            plan, insertion = _insert(problem, plan, new, params)
        if insertion is None:
            answers.append(
                Answer(
                    likely=False,
                    riders_in_plan=riders_in_plan,
                    compute_s=time.perf_counter() - t,
                    cache_hit=cache_hit,
                )
            )
            continue
        offer_id, _, day_text = insertion.driver_id.partition("/")
        answers.append(
            Answer(
                likely=True,
                offer_id=offer_id,
                occurrence_date=day_text,
                pickup_s=insertion.pickup_s,
                dropoff_s=insertion.dropoff_s,
                pickup=place(every[request_id].pickups, insertion.pickup_location),
                dropoff=place(every[request_id].dropoffs, insertion.dropoff_location),
                added_driving_s=insertion.added_driving_s,
                riders_in_plan=riders_in_plan,
                compute_s=time.perf_counter() - t,
                cache_hit=cache_hit,
            )
        )
    day.plan = plan
    if cache_as is not None:
        _days[cache_as] = day
        _evict()
    return answers


def _capped(
    params: matching.SolveParams, problem: matching.Problem, riders: int
) -> matching.SolveParams:
    """``params`` with the fairness weight capped for a day of ``riders`` riders, as the
    matcher caps it (:func:`matching.fairness.effective_fairness_weight`) for the full
    problem: a kept day's problem holds only some of them and would cap it less."""
    if params.fairness_weight == 0:
        return params
    most = max((d.rides_before for d in problem.drivers), default=0) + riders + 1
    return dataclasses.replace(
        params, fairness_weight=min(params.fairness_weight, (params.drop_penalty - 1) // most)
    )


def answers(
    inp: PlanInput, request_ids: Sequence[uuid.UUID], cache_as: str | None = None
) -> list[Answer]:
    """:func:`answers_on` in a worker process (the network opened once per process, the days
    kept per process)."""
    if inp.network_path is None:
        raise RuntimeError("no road network")
    return answers_on(worker._network(inp.network_path), inp, request_ids, cache_as=cache_as)


async def read_day(
    conn: asyncpg.Connection,
    request_id: uuid.UUID,
    *,
    network_path: Any,
    snap_max_distance_m: float,
    now: datetime | None = None,
) -> tuple[PlanInput, asyncpg.Record] | None:
    """The request's community's plan input for the request's day (read-only), or ``None``
    if the request is gone or not open."""
    row = await conn.fetchrow(SQL_REQUEST, request_id)
    if row is None or row["status"] != "open":
        return None
    inp = await read_group(
        conn, [row], network_path=network_path, snap_max_distance_m=snap_max_distance_m, now=now
    )
    return None if inp is None else (inp, row)


async def read_group(
    conn: asyncpg.Connection,
    rows: Sequence[asyncpg.Record],
    *,
    network_path: Any,
    snap_max_distance_m: float,
    now: datetime | None = None,
    places: PlacesCache | None = None,
    memo: RequestsMemo | None = None,
) -> PlanInput | None:
    """The plan input (read-only) of the day that open requests ``rows`` share (one
    :func:`day_of`), or ``None`` if their community is gone (see :func:`read_groups`)."""
    (inp,) = await read_groups(
        conn,
        [rows],
        network_path=network_path,
        snap_max_distance_m=snap_max_distance_m,
        now=now,
        places=places,
        memo=memo,
    )
    return inp


async def read_groups(
    conn: asyncpg.Connection,
    groups: Sequence[Sequence[asyncpg.Record]],
    *,
    network_path: Any,
    snap_max_distance_m: float,
    now: datetime | None = None,
    places: PlacesCache | None = None,
    memo: RequestsMemo | None = None,
) -> list[PlanInput | None]:
    """The plan inputs (read-only) of several days, one per group of open requests that share
    a day (one :func:`day_of`), in order; ``None`` for a group whose community is gone.
    The days are read together (a few queries, not a few per day); ``places`` keeps the
    requests' candidate meeting points from one read to the next, ``memo`` their rows and
    riders (see :func:`maas.planning.service.read_inputs`)."""
    from maas.planning.service import TIME_ZONE, read_inputs

    cids = sorted({rows[0]["community_id"] for rows in groups})
    communities = await planning.communities_params(conn, cids)
    now = now or _next_minute(datetime.now(UTC))
    views = []
    for rows in groups:
        row = rows[0]
        community = communities.get(row["community_id"])
        if community is None:
            continue
        day = row["depart_earliest"].astimezone(ZoneInfo(TIME_ZONE)).date()
        start = datetime.combine(day, datetime.min.time(), ZoneInfo(TIME_ZONE))
        end = max(start + timedelta(days=1), *(r["arrive_latest"] for r in rows))
        view = MatchingRun(
            id=uuid.uuid4(),
            community_id=row["community_id"],
            horizon_start=max(start, now),
            horizon_end=end,
            trigger="instant",
            requested_by=None,
            status="running",
            started_at=now,
            finished_at=None,
            params_version=community.params_version,
            params={},
            requests_count=None,
            occurrences_count=None,
            served_count=None,
            unserved_count=None,
            matches_count=None,
            objective=None,
            solver_status=None,
            timings={},
            error=None,
        )
        views.append((view, params_from_settings(community.settings, time_limit_s=1.0)))
    read = iter(
        await read_inputs(
            conn,
            views,
            network_path=network_path,
            snap_max_distance_m=snap_max_distance_m,
            now=now,
            places=places,
            memo=memo,
        )
    )
    # Requests posted after a group's are answered after them, each into the plan as the
    # earlier ones left it: until then they are not part of the day (as if answered one by
    # one).
    since = min((max(r["created_at"] for r in rows) for rows in groups), default=now)
    later: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for r in await conn.fetch(SQL_CREATED_LATER, cids, since):
        later.setdefault(r["community_id"], []).append(r)
    out: list[PlanInput | None] = []
    for rows in groups:
        if rows[0]["community_id"] not in communities:
            out.append(None)
            continue
        inp = next(read)
        last = max(r["created_at"] for r in rows)
        answering = {r["id"] for r in rows}
        skip = {
            r["id"] for r in later.get(rows[0]["community_id"], []) if r["created_at"] > last
        } - answering
        if skip:
            inp = dataclasses.replace(
                inp, requests=tuple(q for q in inp.requests if q.id not in skip)
            )
        out.append(inp)
    return out


def _next_minute(at: datetime) -> datetime:
    """The horizon of an instant answer starts at the next full minute: no time it proposes
    is in the past, and answers within the same minute share a day (see :class:`DayCache`)."""
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)


def day_of(row: asyncpg.Record) -> str:
    """The cache key of a request's community and day (see :func:`read_day`)."""
    from maas.planning.service import TIME_ZONE

    day = row["depart_earliest"].astimezone(ZoneInfo(TIME_ZONE)).date()
    return cache_key(row["community_id"], day)


def answer_payload(inp: PlanInput, row: asyncpg.Record, ans: Answer) -> dict[str, Any]:
    def at(seconds: int | None) -> str | None:
        return None if seconds is None else (inp.t0 + timedelta(seconds=seconds)).isoformat()

    return {
        "community_id": str(row["community_id"]),
        "request_id": str(row["id"]),
        "likely": ans.likely,
        "offer_id": ans.offer_id,
        "occurrence_date": ans.occurrence_date,
        "pickup_at": at(ans.pickup_s),
        "dropoff_at": at(ans.dropoff_s),
        "pickup": ans.pickup,
        "dropoff": ans.dropoff,
    }


def too_late(created_at: datetime, now: datetime) -> bool:
    """Whether a request created at ``created_at`` waited too long for an instant answer."""
    return (now - created_at).total_seconds() > MAX_WAIT_S


class InstantAnswers:
    """Answers the new requests from the outbox (``request.created``), in the worker pool.

    Whatever arrived since the last pass is answered together: one read of the days it
    touches (a few queries for all of them) and one worker call per day, in which the
    requests are inserted one after the other in the order they were created, and one
    transaction for their events. Under load the passes grow instead of the queue, so a
    burst costs one read per pass, not one per request or per day."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        executor_of: Callable[[], Any],
        network: Any,
        wake: asyncio.Event,
        *,
        snap_max_distance_m: float,
        concurrency: int = 2,
    ) -> None:
        self.pool = pool
        self.executor_of = executor_of
        self.network = network
        self.wake = wake
        self.snap_max_distance_m = snap_max_distance_m
        self._slots = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self.places = PlacesCache()
        self.memo = RequestsMemo()
        self.skipped = 0
        """Requests that got no instant answer because it would have come too late."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maas-instant-answers")

    async def _run(self) -> None:
        # In commit order (maas.store.events.committed_events): a request whose event id is
        # below one already read but that commits later is still answered, and none twice.
        position: events.Position | None = None
        while True:
            self.wake.clear()
            try:
                async with self.pool.acquire() as conn:
                    if position is None:  # from what commits from now on
                        position = events.Position(await events.horizon(conn), 0)
                    read = await events.committed_events(
                        conn, position, kinds=(CREATED,), limit=PASS_SIZE
                    )
            except db.DATABASE_LOST as error:
                log.warning("instant answers: %s", error)
            except Exception:  # never stop answering for good: the next wake reads again
                log.exception("instant answers failed")
            else:
                # A request not final yet (an older transaction is still open) comes in a later
                # batch of the hub's, which wakes this again.
                position = read.position
                if read.events:
                    started = time.monotonic()
                    created = [
                        (uuid.UUID(e.payload["request_id"]), e.created_at) for e in read.events
                    ]
                    try:
                        await self.answer_all(created)
                    except Exception:  # these requests go unanswered; later ones are answered
                        log.exception("instant answers failed")
                    await asyncio.sleep(rest_after(time.monotonic() - started))
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 5.0)

    async def answer(
        self, request_id: uuid.UUID, *, created_at: datetime | None = None
    ) -> Answer | None:
        """Compute and record one request's answer (an event for its rider); none for a
        request created more than :data:`MAX_WAIT_S` ago (``created_at``)."""
        return (await self.answer_all([(request_id, created_at)])).get(request_id)

    async def answer_all(
        self, requests: Sequence[tuple[uuid.UUID, datetime | None]]
    ) -> dict[uuid.UUID, Answer]:
        """Compute and record the answers of ``requests`` (id and creation time, in the
        order they were created), a day at a time; those created more than
        :data:`MAX_WAIT_S` ago, no longer open or whose day failed get none."""
        now = datetime.now(UTC)
        fresh = []
        for request_id, created_at in requests:
            if created_at is not None and too_late(created_at, now):
                self.skipped += 1
                if self.skipped % 100 == 1:
                    log.warning(
                        "instant answers are %.0f s or more behind; %d skipped so far",
                        MAX_WAIT_S,
                        self.skipped,
                    )
            else:
                fresh.append(request_id)
        if not fresh:
            return {}
        try:
            async with self.pool.acquire() as conn:
                found = {r["id"]: r for r in await conn.fetch(SQL_REQUESTS, fresh)}
        except db.DATABASE_LOST as error:
            log.warning("instant answers: %s", error)
            return {}
        days: dict[str, list[asyncpg.Record]] = {}
        for request_id in fresh:
            row = found.get(request_id)
            if row is not None and row["status"] == "open":
                days.setdefault(day_of(row), []).append(row)
        if not days:
            return {}
        try:
            async with self.pool.acquire() as conn:
                inputs = await read_groups(
                    conn,
                    list(days.values()),
                    network_path=self.network.path,
                    snap_max_distance_m=self.snap_max_distance_m,
                    places=self.places,
                    memo=self.memo,
                )
        except db.DATABASE_LOST as error:
            log.warning("instant answers: %s", error)
            return {}
        answered: dict[uuid.UUID, Answer] = {}
        for part in await asyncio.gather(
            *(
                self._answer_day(key, rows, inp)
                for (key, rows), inp in zip(days.items(), inputs, strict=True)
                if inp is not None
            )
        ):
            answered.update(part)
        return answered

    async def _answer_day(
        self, key: str, rows: list[asyncpg.Record], inp: PlanInput
    ) -> dict[uuid.UUID, Answer]:
        async with self._slots:
            try:
                ids = [r["id"] for r in rows]
                executor = self.executor_of()
                if executor is None:
                    found = await asyncio.to_thread(
                        functools.partial(answers_on, cache_as=key), self.network, inp, ids
                    )
                else:
                    loop = asyncio.get_running_loop()
                    found = await loop.run_in_executor(executor, answers, inp, ids, key)
                told = [
                    (r["person_id"], KIND, json.dumps(answer_payload(inp, r, a), default=str))
                    for r, a in zip(rows, found, strict=True)
                ]
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.executemany(events.SQL_RECORD, told)
                return dict(zip(ids, found, strict=True))
            except Exception:
                log.exception("instant answers for %d request(s) of %s failed", len(rows), key)
                return {}

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
