"""Matching runs on the event loop: lock, read inputs, solve in a worker process, write.

A run of one community over one horizon:

1. takes the community's *run lock* (a session advisory lock held to the end; a second run of
   the same community is refused with 409 — the operator sees the running one and retries,
   the scheduler skips that community until the next tick) and records the run as running;
2. ends matches of offers and requests cancelled since the last run, then reads the open
   requests of the horizon (with the meeting points within each one's walking limit), the
   offer occurrences (weekly offers expanded with :func:`maas.domain.recurrence.expand`), the
   riders held by kept matches and the driver/rider pairs that declined each other;
3. solves in the process pool (:func:`maas.planning.worker.plan`); a result that fails
   :func:`matching.check` is a bug: it is logged and nothing is written;
4. writes in ONE transaction, under the community's exclusive *write lock* (every booking answer
   takes it shared, so answers never interleave with the write): deletes the still-``proposed``
   matches it replaces, re-checks that each new proposal's riders and offer are still free (a
   proposal that lost a rider or its offer while the solver ran is dropped, its riders get the
   reason ``changed_during_run``), inserts the proposals with stops, planned times and route,
   one outcome per request, and the finished run record.

A failure at any point leaves the previous proposals in place and the run ``failed`` with the
error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from maas.domain import params as community_params
from maas.domain import volunteers
from maas.domain.models import Point
from maas.domain.recurrence import WeeklyRule, expand
from maas.errors import ConflictError, InputError, MaasError, NotFoundError, UnavailableError
from maas.planning import answers, fallback, worker
from maas.planning.params import WALK_DETOUR_FACTOR, MatchingParams, params_from_settings, walk_s
from maas.planning.plan import (
    HELD_SLACK_S,
    REASON_CHANGED,
    OccurrenceIn,
    Place,
    PlanInput,
    PlanOutput,
    RequestIn,
    occurrence_key,
)
from maas.settings import Settings
from maas.store import bookings, planning
from maas.store import volunteers as volunteer_store
from maas.store.planning import MatchingRun, ProposedStop
from maas.tasks import cancel_and_wait

log = logging.getLogger("maas.planning")

TIME_ZONE = "Europe/Berlin"
MAX_HORIZON = timedelta(days=14)

SQL_HAS_OPEN_REQUESTS = """
SELECT EXISTS (SELECT 1 FROM ride_request
               WHERE community_id = $1 AND status = 'open'
                 AND depart_earliest < $3 AND arrive_latest > $2)
"""


SCHEDULER_POLL_S = 15.0
"""The scheduler looks this often (or every ``matching_interval_s`` if shorter) whether a
community is due, whether answers expired and whether riders reached their cut-off."""


RETRY_FAILED_S = 60.0
"""A community whose latest run failed (it wrote nothing) is run again this soon, whatever its
rhythm."""


def run_is_due(
    *,
    last_run: datetime | None,
    changes: int,
    now: datetime,
    interval_s: float,
    changes_threshold: int,
    last_failed: bool = False,
) -> bool:
    """Whether the scheduler runs a community that has open requests: never run yet, its
    rhythm (``interval_s`` since its last run started), a retry :data:`RETRY_FAILED_S` after a
    failed run, or enough changes since the last run (requests and offers created or
    cancelled, riders or drivers who declined, cancelled or did not answer);
    ``changes_threshold`` 0 leaves only the rhythm."""
    if last_run is None:
        return True
    since = (now - last_run).total_seconds()
    if since >= interval_s or (last_failed and since >= min(interval_s, RETRY_FAILED_S)):
        return True
    return changes_threshold > 0 and changes >= changes_threshold


class PlanRejectedError(MaasError):
    """The solver's result broke a rule (a bug): nothing is written."""

    status = 500
    title = "Matching result rejected"
    type_slug = "matching-rejected"


def day_horizon(day: date, time_zone: str = TIME_ZONE) -> tuple[datetime, datetime]:
    """A local calendar day as a UTC interval."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def check_horizon(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if end <= start:
        raise InputError("to", "must be after 'from'")
    if end - start > MAX_HORIZON:
        raise InputError("to", f"a run covers at most {MAX_HORIZON.days} days")
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class RunRequest:
    community_id: uuid.UUID
    horizon: tuple[datetime, datetime] | None = None
    trigger: str = "operator"
    requested_by: uuid.UUID | None = None
    time_limit_s: float | None = None


class MatchingRunner:
    """Starts and tracks the matching runs of one service process."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        executor: Executor | None,
        network: Callable[[], Any],
        *,
        make_executor: Callable[[], Executor] | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.executor = executor
        self.network = network
        self.make_executor = make_executor
        self.tasks: set[asyncio.Task[MatchingRun]] = set()
        self._scheduler: asyncio.Task[None] | None = None

    # ---- starting runs ------------------------------------------------------------------

    async def start(self, req: RunRequest) -> tuple[MatchingRun, asyncio.Task[MatchingRun]]:
        """Take the run lock and record the run; the returned task does the rest.

        :class:`ConflictError` if a run of the community is in progress,
        :class:`UnavailableError` without a road network.
        """
        network = self.network()
        if network is None or getattr(network, "path", None) is None:
            raise UnavailableError("the road network is not loaded; matching cannot run")
        conn: asyncpg.Connection = await self.pool.acquire()
        locked = False
        try:
            community = await planning.community_params(conn, req.community_id)
            if community is None:
                raise NotFoundError("no such community")
            params = params_from_settings(
                community.settings,
                time_limit_s=req.time_limit_s or self.settings.matching_time_limit_s,
            )
            now = datetime.now(UTC)
            horizon = req.horizon or (now, now + timedelta(hours=params.horizon_h))
            locked = await planning.try_run_lock(conn, req.community_id)
            if not locked:
                raise ConflictError(
                    "a matching run of this community is in progress; try again when it is done"
                )
            run = await planning.start_run(
                conn,
                community_id=req.community_id,
                horizon=horizon,
                trigger=req.trigger,
                requested_by=req.requested_by,
                params_version=community.params_version,
                params=params.as_json(),
            )
        except BaseException:
            if locked:
                await planning.run_unlock(conn, req.community_id)
            await self.pool.release(conn)
            raise
        task = asyncio.create_task(
            self._execute(conn, run, params, network), name=f"matching-run-{run.id}"
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return run, task

    async def run(self, req: RunRequest) -> MatchingRun:
        """Start a run and wait for it to finish (succeeded or failed)."""
        _, task = await self.start(req)
        return await task

    async def _execute(
        self, conn: asyncpg.Connection, run: MatchingRun, params: MatchingParams, network: Any
    ) -> MatchingRun:
        timings: dict[str, float] = {}
        try:
            async with asyncio.timeout(self.settings.matching_run_timeout_s):
                t = time.perf_counter()
                inp = await read_input(
                    conn,
                    run,
                    params,
                    network_path=network.path,
                    snap_max_distance_m=self.settings.snap_max_distance_m,
                )
                timings["inputs_s"] = time.perf_counter() - t
                t = time.perf_counter()
                output = await self._plan(inp)
                timings["worker_s"] = time.perf_counter() - t
                timings.update(output.timings_s)
                if output.violations:
                    log.error(
                        "matching run %s: the solver's result breaks %d rule(s); nothing is "
                        "written: %s",
                        run.id,
                        len(output.violations),
                        "; ".join(output.violations[:10]),
                    )
                    raise PlanRejectedError(
                        "the solver's result failed the check: " + "; ".join(output.violations[:5])
                    )
                t = time.perf_counter()
                final = await write_results(conn, run, inp, output, timings)
                log.info(
                    "matching run %s of community %s: %d of %d request(s) served, %d match(es)",
                    run.id,
                    run.community_id,
                    final.served_count,
                    final.requests_count,
                    final.matches_count,
                )
                return final
        except (Exception, asyncio.CancelledError) as exc:
            error = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                error = f"the run took longer than {self.settings.matching_run_timeout_s:g} s"
            if isinstance(exc, asyncio.CancelledError):
                error = "cancelled: the service stopped during the run"
            elif not isinstance(exc, MaasError | TimeoutError):
                log.exception("matching run %s failed", run.id)
            with contextlib.suppress(Exception):
                await planning.fail_run(conn, run.id, error, timings)
            if isinstance(exc, asyncio.CancelledError):
                raise
            failed = await planning.get_run(conn, run.id)
            assert failed is not None
            return failed
        finally:
            with contextlib.suppress(Exception):
                await planning.run_unlock(conn, run.community_id)
            await self.pool.release(conn)

    async def _plan(self, inp: PlanInput) -> PlanOutput:
        loop = asyncio.get_running_loop()
        executor = self.executor
        try:
            return await loop.run_in_executor(executor, worker.plan, inp)
        except BrokenExecutor:
            # A worker died (killed, out of memory): this run fails, the next gets new workers.
            if self.make_executor is not None and executor is self.executor:
                log.error("a matching worker process died; starting new ones")
                self.executor = self.make_executor()
                if executor is not None:
                    executor.shutdown(wait=False, cancel_futures=True)
            raise

    # ---- the scheduler ------------------------------------------------------------------

    def start_scheduler(self) -> None:
        """Run communities on the rhythm and when enough has changed (:meth:`run_due`); each
        poll also expires overdue answers and tells riders at their cut-off."""
        if self.settings.matching_interval_s > 0 and self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule(), name="matching-scheduler")

    async def _schedule(self) -> None:
        poll = min(self.settings.matching_interval_s, SCHEDULER_POLL_S)
        while True:
            await asyncio.sleep(poll)
            # Before the runs, so that whoever an expired answer frees is matched again.
            try:
                await answers.expire_unanswered(self.pool, self.settings.region, datetime.now(UTC))
            except Exception:
                log.exception("expiring overdue answers failed")
            try:
                await self.run_due()
            except Exception:
                log.exception("scheduled matching failed")
            # After the runs, so that a ride found in this tick is not reported missing.
            try:
                await fallback.tell_unmatched(self.pool, self.settings.region, datetime.now(UTC))
            except Exception:
                log.exception("fallback notices failed")

    async def run_due(self, now: datetime | None = None) -> list[MatchingRun]:
        """One scheduler tick: run every community with open requests in its horizon whose
        last run started ``matching_interval_s`` ago or more (or failed a minute ago or more),
        or since whose last run at least ``matching_changes`` things changed
        (:func:`run_is_due`)."""
        if self.network() is None:
            return []
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn:
            ids = await planning.region_communities(conn, self.settings.region)
            due = []
            for community_id in ids:
                community = await planning.community_params(conn, community_id)
                if community is None:
                    continue
                hours = params_from_settings(community.settings, time_limit_s=1.0).horizon_h
                end = now + timedelta(hours=hours)
                if not await conn.fetchval(SQL_HAS_OPEN_REQUESTS, community_id, now, end):
                    continue
                last, failed = await planning.last_run(conn, community_id)
                changes = 0
                if last is not None and self.settings.matching_changes > 0:
                    changes = await planning.changes_since(conn, community_id, last)
                if run_is_due(
                    last_run=last,
                    last_failed=failed,
                    changes=changes,
                    now=now,
                    interval_s=self.settings.matching_interval_s,
                    changes_threshold=self.settings.matching_changes,
                ):
                    due.append(community_id)
        done = []
        for community_id in due:
            try:
                done.append(await self.run(RunRequest(community_id, trigger="scheduler")))
            except ConflictError:
                log.info("community %s: a run is in progress; skipped", community_id)
        return done

    async def close(self) -> None:
        """Stop the scheduler; let running runs finish within the shutdown timeout."""
        if self._scheduler is not None:
            await cancel_and_wait(self._scheduler)
        if self.tasks:
            _, pending = await asyncio.wait(
                set(self.tasks), timeout=self.settings.shutdown_timeout_s
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)


# ---- inputs ------------------------------------------------------------------------------


@dataclass(slots=True)
class PlacesCache:
    """The candidate meeting points of requests read before (see :func:`candidate_places`),
    kept by a reader that reads the same requests again and again (instant answers). A
    request's candidates depend only on its own points and walk, which never change, on the
    community's walk limit (part of the key) and on the meeting points: the cache starts
    over when their fingerprint changes."""

    fingerprint: tuple[int, int] | None = None
    near: dict[tuple[uuid.UUID, int], dict[str, list[Place]]] = field(default_factory=dict)

    MAX_REQUESTS = 100_000
    """Beyond this many entries the cache starts over (old days' requests go with it)."""


NOWHERE: tuple[Place, ...] = ()
"""No candidate meeting points (one object, so that a kept rider can tell it is unchanged)."""


@dataclass(slots=True)
class RequestsMemo:
    """The open requests a reader read before (instant answers read the same days again and
    again): each request's row as of its version (:attr:`planning.RequestRow.version`), so
    only new and changed rows are read again, and the rider built from it for a horizon
    start, kept while the row, its candidate meeting points (those of a :class:`PlacesCache`,
    the same objects while they hold) and its excluded occurrences stay the same."""

    rows: dict[uuid.UUID, planning.RequestRow] = field(default_factory=dict)
    riders: dict[tuple[uuid.UUID, datetime], tuple[Any, ...]] = field(default_factory=dict)

    MAX_ENTRIES = 100_000
    """Beyond this many rows (or riders: one per request and horizon start, and the horizon
    of an instant answer moves on every minute) the memo starts over."""

    def rider(
        self,
        key: tuple[uuid.UUID, datetime],
        row: planning.RequestRow,
        near_o: Sequence[Place],
        near_d: Sequence[Place],
        excluded: frozenset[str],
        build: Callable[[], RequestIn],
    ) -> RequestIn:
        """The rider kept for ``key`` if it was built from the same row and candidates (the
        same objects) and exclusions, else ``build()``, kept."""
        kept = self.riders.get(key)
        if (
            kept is not None
            and kept[0] is row
            and kept[1] is near_o
            and kept[2] is near_d
            and kept[3] == excluded
        ):
            rider: RequestIn = kept[4]
            return rider
        if len(self.riders) > self.MAX_ENTRIES:
            self.riders.clear()
        rider = build()
        self.riders[key] = (row, near_o, near_d, excluded, rider)
        return rider


async def candidate_places(
    conn: asyncpg.Connection,
    request_ids: list[uuid.UUID],
    *,
    max_walk_m: int,
    cache: PlacesCache | None = None,
) -> dict[tuple[uuid.UUID, str], list[Place]]:
    """The meeting points each request may use besides its own points, by (request, end).
    With ``cache``, only requests it does not know yet are looked up."""
    wanted = request_ids
    if cache is not None:
        fingerprint = await planning.meeting_points_fingerprint(conn)
        if fingerprint != cache.fingerprint or len(cache.near) > PlacesCache.MAX_REQUESTS:
            cache.fingerprint = fingerprint
            cache.near.clear()
        # Taken before the next await: another reader may start the cache over meanwhile.
        known = {
            i: cache.near[(i, max_walk_m)] for i in request_ids if (i, max_walk_m) in cache.near
        }
        wanted = [i for i in request_ids if i not in known]
    near: dict[tuple[uuid.UUID, str], list[Place]] = {}
    if wanted:
        for side in ("origin", "destination"):
            for p in await planning.meeting_points_near(
                conn, wanted, side=side, max_walk_m=max_walk_m, walk_factor=WALK_DETOUR_FACTOR
            ):
                near.setdefault((p.request_id, side), []).append(
                    Place(p.position.lon, p.position.lat, walk_s(p.distance_m), p.meeting_point_id)
                )
    if cache is None:
        return near
    for i in wanted:
        known[i] = {side: near.get((i, side), []) for side in ("origin", "destination")}
        # Kept only if the meeting points are still those it was found among.
        if cache.fingerprint == fingerprint:
            cache.near[(i, max_walk_m)] = known[i]
    return {(i, side): places for i in request_ids for side, places in known[i].items() if places}


async def read_input(
    conn: asyncpg.Connection,
    run: MatchingRun,
    params: MatchingParams,
    *,
    network_path: Any,
    snap_max_distance_m: float,
    now: datetime | None = None,
    cleanup: bool = True,
    places: PlacesCache | None = None,
) -> PlanInput:
    """Everything the worker needs, as plain data (see the module docstring). Without
    ``cleanup`` nothing is locked or written (a read-only view for instant answers);
    ``places`` keeps the requests' candidate meeting points between reads."""
    if cleanup:
        await _end_cancelled(conn, run.community_id)
    (inp,) = await read_inputs(
        conn,
        [(run, params)],
        network_path=network_path,
        snap_max_distance_m=snap_max_distance_m,
        now=now,
        places=places,
    )
    return inp


async def read_inputs(
    conn: asyncpg.Connection,
    views: Sequence[tuple[MatchingRun, MatchingParams]],
    *,
    network_path: Any,
    snap_max_distance_m: float,
    now: datetime | None = None,
    places: PlacesCache | None = None,
    memo: RequestsMemo | None = None,
) -> list[PlanInput]:
    """The plan inputs of several runs' horizons (read-only, see :func:`read_input`), one per
    view, in order: each kind of row is read for all of them in one query. With ``memo``,
    rows of requests read before are read again only if they changed, and their riders
    built again only if something they are built from changed."""
    now = now or datetime.now(UTC)
    horizons = [
        (run.community_id, max(run.horizon_start, now).replace(microsecond=0), run.horizon_end)
        for run, _ in views
    ]
    offers = await planning.offers_in_horizons(conn, horizons)
    memo = memo if memo is not None else RequestsMemo()
    versions = await planning.open_request_versions(conn, horizons)
    stale = {
        i
        for day in versions
        for i, version in day
        if (kept := memo.rows.get(i)) is None or kept.version != version
    }
    if len(memo.rows) + len(stale) > RequestsMemo.MAX_ENTRIES:
        memo.rows.clear()
        stale = {i for day in versions for i, _ in day}
    memo.rows.update(await planning.requests_by_id(conn, sorted(stale)))
    # A request gone between the two reads is left out.
    requests = [[memo.rows[i] for i, _ in day if i in memo.rows] for day in versions]
    held = await planning.held_stops_in_horizons(conn, horizons)
    cids = sorted({h[0] for h in horizons})
    communities = await planning.communities_params(conn, cids)
    excluded = await planning.exclusions(conn, cids)
    drivers = {o.person_id for day in offers for o in day}
    first = min((h[1] for h in horizons), default=now).date() - timedelta(days=7)
    last = max((h[2] for h in horizons), default=now).date()
    by_day = await volunteer_store.rides_by_day(conn, sorted(drivers), first, last)
    # The candidates of the requests of every view together (a request in two views once),
    # by the walking limit they were found for.
    near: dict[int, dict[tuple[uuid.UUID, str], list[Place]]] = {}
    for walk in sorted({params.max_walk_m for _, params in views}):
        ids = dict.fromkeys(
            r.id
            for (_, params), day in zip(views, requests, strict=True)
            if params.max_walk_m == walk
            for r in day
        )
        near[walk] = await candidate_places(conn, list(ids), max_walk_m=walk, cache=places)
    out = []
    for k, ((_, params), (cid, lower, end)) in enumerate(zip(views, horizons, strict=True)):
        community = communities.get(cid)
        given = volunteer_store.per_week(by_day, lower.date() - timedelta(days=7), end.date())
        out.append(
            _assemble(
                lower,
                end,
                params,
                community.settings if community else {},
                offers=offers[k],
                requests=requests[k],
                held=held[k],
                given=given,
                exclusions=excluded.get(cid, []),
                near=near[params.max_walk_m],
                memo=memo,
                network_path=network_path,
                snap_max_distance_m=snap_max_distance_m,
            )
        )
    return out


def _assemble(
    lower: datetime,
    end: datetime,
    params: MatchingParams,
    settings: dict[str, Any],
    *,
    offers: Sequence[planning.OfferRow],
    requests: Sequence[planning.RequestRow],
    held: Sequence[planning.HeldStop],
    given: dict[tuple[uuid.UUID, tuple[int, int]], int],
    exclusions: Sequence[tuple[uuid.UUID, date, uuid.UUID]],
    near: dict[tuple[uuid.UUID, str], list[Place]],
    memo: RequestsMemo,
    network_path: Any,
    snap_max_distance_m: float,
) -> PlanInput:
    """One horizon's plan input from its rows (pure)."""
    # Fair load (maas.domain.volunteers): quiet hours and rides per week, as hard limits;
    # the same weekly counts feed the fairness weight (OccurrenceIn.rides_before).
    limits = community_params.effective(settings)
    quiet = community_params.quiet_hours(limits)
    week_limit = int(limits["volunteer_max_rides_per_week"])
    offered: dict[tuple[uuid.UUID, tuple[int, int]], int] = {}
    excluded: dict[uuid.UUID, set[str]] = {}
    for offer_id, day, request_id in exclusions:
        excluded.setdefault(request_id, set()).add(occurrence_key(offer_id, day))

    def secs(at: datetime) -> int:
        return int((at - lower).total_seconds())

    # Held riders, by occurrence; an occurrence whose held trip already began takes no one.
    held_by: dict[tuple[uuid.UUID, date], dict[uuid.UUID, list[planning.HeldStop]]] = {}
    started: set[tuple[uuid.UUID, date]] = set()
    for h in held:
        key = (h.offer_id, h.occurrence_date)
        held_by.setdefault(key, {}).setdefault(h.request_id, []).append(h)
        if h.planned_at < lower:
            started.add(key)

    occurrences: list[OccurrenceIn] = []
    riders: list[RequestIn] = []
    for o in offers:
        for day, earliest, latest in offer_trips(o, lower, end):
            key = (o.id, day)
            if key in started or latest < lower:
                continue
            held_here = held_by.get(key, {})
            week = (o.person_id, volunteers.iso_week(day))
            held_matches = tuple(sorted({s.match_id for st in held_here.values() for s in st}))
            if not held_here:
                window = volunteers.outside_quiet_hours(earliest, latest, o.time_zone, quiet)
                allowed = volunteers.trips_allowed(given.get(week, 0), week_limit)
                if window is None or offered.get(week, 0) >= allowed:
                    continue
                offered[week] = offered.get(week, 0) + 1
                earliest, latest = window
            # Held riders were placed under the limits of their day: keep the driver's own
            # limits for them, so a stricter community setting cannot strand them.
            detour_min = (
                o.max_detour_min if held_here else min(o.max_detour_min, params.max_detour_min)
            )
            detour_pct = (
                o.max_detour_pct if held_here else min(o.max_detour_pct, params.max_detour_pct)
            )
            occ = OccurrenceIn(
                offer_id=o.id,
                occurrence_date=day,
                person_id=o.person_id,
                origin=Place(o.origin.lon, o.origin.lat),
                destination=Place(o.destination.lon, o.destination.lat),
                earliest_s=secs(max(earliest, lower)),
                latest_s=secs(latest),
                seats=o.seats,
                max_detour_s=detour_min * 60,
                max_detour_pct=float(detour_pct),
                features=o.features,
                held_request_ids=tuple(sorted(held_here)),
                held_match_ids=held_matches,
                # The fairness weight's input: this week's rides outside this run (the
                # occurrence's own held matches are counted in the run, as its riders).
                rides_before=max(0, given.get(week, 0) - len(held_matches)),
            )
            occurrences.append(occ)
            for request_id, stops in held_here.items():
                pickup = next((s for s in stops if s.kind == "pickup"), None)
                dropoff = next((s for s in stops if s.kind == "dropoff"), None)
                if pickup is None or dropoff is None:
                    continue
                windows = _held_windows(
                    secs(pickup.depart_earliest),
                    secs(pickup.arrive_latest),
                    secs(pickup.planned_at),
                    secs(dropoff.planned_at),
                )
                riders.append(
                    RequestIn(
                        id=request_id,
                        person_id=pickup.person_id,
                        pickups=(
                            Place(
                                pickup.position.lon, pickup.position.lat, 0, pickup.meeting_point_id
                            ),
                        ),
                        dropoffs=(
                            Place(
                                dropoff.position.lon,
                                dropoff.position.lat,
                                0,
                                dropoff.meeting_point_id,
                            ),
                        ),
                        earliest_pickup_s=windows[0],
                        latest_pickup_s=windows[1],
                        latest_dropoff_s=windows[2],
                        passengers=pickup.passengers,
                        needs=pickup.needs,
                        needs_help=pickup.needs_help,
                        held_on=occ.key,
                    )
                )
    for r in requests:
        near_o = near.get((r.id, "origin"), NOWHERE)
        near_d = near.get((r.id, "destination"), NOWHERE)
        avoid = frozenset(excluded.get(r.id, ()))
        riders.append(
            memo.rider(
                (r.id, lower),
                r,
                near_o,
                near_d,
                avoid,
                functools.partial(_rider, r, lower, near_o, near_d, avoid),
            )
        )
    return PlanInput(
        network_path=network_path,
        snap_max_distance_m=snap_max_distance_m,
        t0=lower,
        params=params,
        occurrences=tuple(occurrences),
        requests=tuple(riders),
    )


def _rider(
    r: planning.RequestRow,
    lower: datetime,
    near_o: Sequence[Place],
    near_d: Sequence[Place],
    excluded: frozenset[str],
) -> RequestIn:
    """An open request as the matcher's rider, for a horizon starting at ``lower``."""
    own_o = Place(r.origin.lon, r.origin.lat, 0, r.origin_meeting_point_id)
    own_d = Place(r.destination.lon, r.destination.lat, 0, r.destination_meeting_point_id)
    return RequestIn(
        id=r.id,
        person_id=r.person_id,
        pickups=(own_o, *_others(near_o, own_o)),
        dropoffs=(own_d, *_others(near_d, own_d)),
        earliest_pickup_s=int((max(r.depart_earliest, lower) - lower).total_seconds()),
        latest_dropoff_s=int((r.arrive_latest - lower).total_seconds()),
        passengers=r.passengers,
        needs=r.needs,
        needs_help=r.needs_help,
        excluded_occurrences=excluded,
    )


async def _end_cancelled(conn: asyncpg.Connection, cid: uuid.UUID) -> None:
    async with conn.transaction():
        await planning.write_lock(conn, cid, shared=False)
        left = await planning.end_matches_of_cancelled_rides(conn, cid)
        for match_id in {m for m, _ in left}:
            await bookings.settle(conn, match_id)
        for match_id, request_id in left:
            await conn.execute(bookings.SQL_DELETE_RIDER_STOPS, match_id, request_id)


def _held_windows(
    earliest_s: int, latest_s: int, pickup_s: int, dropoff_s: int
) -> tuple[int, int, int]:
    """A held rider's windows: their request's, narrowed to the planned times ± the slack.
    Kept well-formed even when the stored plan and the request disagree (the car is then found
    stuck and left out, rather than failing the run)."""
    earliest = max(earliest_s, pickup_s - HELD_SLACK_S, 0)
    latest_pickup = max(pickup_s + HELD_SLACK_S, earliest)
    latest_dropoff = max(min(latest_s, dropoff_s + HELD_SLACK_S), latest_pickup)
    return earliest, latest_pickup, latest_dropoff


def _others(places: Sequence[Place], own: Place) -> list[Place]:
    return [
        p
        for p in places
        if p.meeting_point_id != own.meeting_point_id and (p.lon, p.lat) != (own.lon, own.lat)
    ]


def offer_trips(
    o: planning.OfferRow, start: datetime, end: datetime
) -> list[tuple[date, datetime, datetime]]:
    """An offer's trips departing in [start, end): (local date, earliest, latest departure);
    a one-off offer's single trip, or a weekly offer's expanded in its own time zone."""
    if o.weekdays is None:
        assert o.depart_earliest is not None
        assert o.depart_latest is not None
        if o.depart_latest < start or o.depart_earliest >= end:
            return []
        day = o.depart_earliest.astimezone(ZoneInfo(o.time_zone)).date()
        return [(day, o.depart_earliest, o.depart_latest)]
    assert o.valid_from is not None
    rule = WeeklyRule(
        weekdays=o.weekdays,
        local_depart_earliest=o.local_depart_earliest,
        local_depart_latest=o.local_depart_latest,
        valid_from=o.valid_from,
        valid_until=o.valid_until,
        exception_dates=o.exception_dates,
        time_zone=o.time_zone,
    )
    return [(x.local_date, x.depart_earliest, x.depart_latest) for x in expand(rule, start, end)]


# ---- results -----------------------------------------------------------------------------


async def write_results(
    conn: asyncpg.Connection,
    run: MatchingRun,
    inp: PlanInput,
    output: PlanOutput,
    timings: dict[str, float],
) -> MatchingRun:
    """The one transaction that replaces the community's proposals (module docstring, 4.)."""
    t = time.perf_counter()
    cid = run.community_id
    open_ids = [r.id for r in inp.requests if r.held_on is None]
    outcomes: dict[uuid.UUID, tuple[uuid.UUID | None, str | None]] = {}
    new_stops = [
        [
            ProposedStop(
                request_id=s.request_id,
                kind=s.kind,
                position=_point(s.place),
                meeting_point_id=s.place.meeting_point_id,
                planned_at=inp.t0 + timedelta(seconds=s.arrival_s),
            )
            for s in route.stops
        ]
        for route in output.routes
    ]
    async with conn.transaction():
        await planning.write_lock(conn, cid, shared=False)
        replaced = (
            cid,
            inp.t0,
            run.horizon_end,
            open_ids,
            [(o.offer_id, o.occurrence_date) for o in inp.occurrences],
        )
        # A proposal found again unchanged stays as it is: re-proposing it would tell everyone
        # "withdrawn" and "proposed" for the same ride at every scheduler tick.
        standing = {
            (p.offer_id, p.occurrence_date, frozenset(p.request_ids)): p
            for p in await planning.replaced_proposals(conn, *replaced)
        }
        kept: dict[int, uuid.UUID] = {}
        for i, route in enumerate(output.routes):
            p = standing.get((route.offer_id, route.occurrence_date, frozenset(route.request_ids)))
            departure = inp.t0 + timedelta(seconds=route.start_s)
            if p is not None and same_ride(p, departure, new_stops[i]):
                kept[i] = p.id
        await planning.delete_proposed(conn, *replaced, keep=list(kept.values()))
        proposed = [rid for route in output.routes for rid in route.request_ids]
        free = await planning.still_free(conn, proposed)
        offers_open = await planning.still_open_offers(conn, [r.offer_id for r in output.routes])
        held_now = await planning.held_now(conn, [r.offer_id for r in output.routes])
        matches = 0
        for i, route in enumerate(output.routes):
            key = (route.offer_id, route.occurrence_date)
            unchanged = (
                route.offer_id in offers_open
                # A kept proposal holds its own riders; the others must be free.
                and (i in kept or all(rid in free for rid in route.request_ids))
                and held_now.get(key, set()) == set(route.held_request_ids)
            )
            if not unchanged:
                if i in kept:  # the ride changed after all: withdraw it like the others
                    await planning.withdraw_proposal(conn, kept[i])
                for rid in route.request_ids:
                    outcomes[rid] = (None, REASON_CHANGED)
                continue
            if i in kept:
                match_id = kept[i]
                await planning.adopt_proposal(conn, match_id, run.id, run.params_version)
            else:
                match_id = await planning.insert_proposal(
                    conn,
                    run_id=run.id,
                    community_id=cid,
                    offer_id=route.offer_id,
                    occurrence_date=route.occurrence_date,
                    departure_at=inp.t0 + timedelta(seconds=route.start_s),
                    params_version=run.params_version,
                    request_ids=route.request_ids,
                    stops=new_stops[i],
                    route=route.coordinates,
                )
            matches += 1
            for rid in route.request_ids:
                outcomes[rid] = (match_id, None)
        for rid, reason in output.unserved.items():
            outcomes.setdefault(rid, (None, reason))
        for rid in open_ids:
            # Every request the run considered has an outcome (the solver reports them all).
            outcomes.setdefault(rid, (None, "not_chosen"))
        await planning.insert_outcomes(
            conn, run.id, [(rid, m, reason) for rid, (m, reason) in outcomes.items()]
        )
        served = sum(1 for m, _ in outcomes.values() if m is not None)
        timings["write_s"] = time.perf_counter() - t
        return await planning.finish_run(
            conn,
            run.id,
            requests_count=len(open_ids),
            occurrences_count=len(inp.occurrences),
            served_count=served,
            unserved_count=len(outcomes) - served,
            matches_count=matches,
            objective=output.objective,
            solver_status=output.solver_status,
            timings={k: round(v, 4) for k, v in timings.items()},
        )


SAME_TIME_S = 60
"""A proposal found again with every time within this many seconds is the same ride."""


def same_ride(
    standing: planning.StandingProposal, departure_at: datetime, stops: list[ProposedStop]
) -> bool:
    """Whether a new proposal repeats a standing one: same stops in the same order at the same
    places, and times within :data:`SAME_TIME_S` (the standing times stay)."""

    def close(a: datetime, b: datetime) -> bool:
        return abs((a - b).total_seconds()) <= SAME_TIME_S

    return (
        close(standing.departure_at, departure_at)
        and len(standing.stops) == len(stops)
        and all(
            old.request_id == new.request_id
            and old.kind == new.kind
            and old.meeting_point_id == new.meeting_point_id
            and abs(old.position.lon - new.position.lon) < 1e-6
            and abs(old.position.lat - new.position.lat) < 1e-6
            and close(old.planned_at, new.planned_at)
            for old, new in zip(standing.stops, stops, strict=True)
        )
    )


def _point(place: Place) -> Point:
    return Point(place.lon, place.lat)
