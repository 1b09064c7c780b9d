"""Instant answers: cheapest feasible insertion of one new rider into existing routes.

:func:`insert_cheapest` keeps all current stops in their order and tries every
(driver, pickup candidate, drop-off candidate, pickup gap, drop-off gap)
combination.  Cheap necessary tests run vectorised with numpy first:

1. the pruning stages of :mod:`matching.prune` (needs, seats, windows,
   corridor, minimum trip duration) for the rider alone;
2. per route, the added driving time of every gap pair must fit the time left
   under the trip duration limit (``max duration - dwell - driving``);
3. the seats must be free on every leg the rider rides along.

The survivors are sorted by their cost - ``arc_cost_weight`` x added driving
time plus the fairness cost of one more rider for that driver
(:func:`matching.fairness.marginal_cost`: ``fairness_weight x (rides_before +
riders the driver already carries)``) - and the first one whose exact
schedule (windows, waiting, ride-time limits of *all* riders, trip duration)
is feasible is returned - it is therefore the cheapest feasible insertion.
It is re-verified with :func:`matching.check.check_route`.  Cost never makes
an insertion infeasible: a rider who fits somewhere is always placed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching._schedule import INF, SeqStop, route_bounds, route_times
from matching.check import check_route
from matching.fairness import effective_fairness_weight, marginal_cost
from matching.model import Problem, Rider
from matching.params import SolveParams
from matching.prune import STAGE_OK, DriverArrays, driver_stages
from matching.result import Assignment, Result, Route, Stop, StopKind, UnservedReason
from matching.solver import make_route

__all__ = ["Insertion", "apply_insertion", "insert_cheapest", "remove_riders"]


@dataclass(frozen=True, slots=True)
class Insertion:
    """The cheapest way to add one rider to the current plan.

    Parameters
    ----------
    rider_id, driver_id
        Who would ride with whom.
    pickup_location, dropoff_location
        Chosen candidate places.
    pickup_index, dropoff_index
        Positions of the new pickup and drop-off in ``route.stops``.
    pickup_s, dropoff_s
        Planned vehicle times at those stops.
    added_driving_s
        Increase of the driver's driving time caused by the insertion.
    route
        The driver's complete new route (other stops may be re-timed).
    fairness_cost
        Fairness part of the insertion's cost (0 when the weight is off):
        effective ``fairness_weight`` x the rides the driver already has
        (:attr:`~matching.Driver.rides_before` + riders in ``current``).
    """

    rider_id: str
    driver_id: str
    pickup_location: int
    dropoff_location: int
    pickup_index: int
    dropoff_index: int
    pickup_s: int
    dropoff_s: int
    added_driving_s: int
    route: Route
    fairness_cost: int = 0


def _sequence(problem: Problem, route: Route) -> list[SeqStop]:
    seq: list[SeqStop] = []
    for s in route.stops:
        r = problem.riders[problem.rider_index(s.rider_id)]
        cands = r.pickups if s.kind is StopKind.PICKUP else r.dropoffs
        cand = next(c for c in cands if c.location == s.location)
        seq.append((r, s.kind, cand))
    return seq


@dataclass(frozen=True, eq=False)
class _RouteData:
    seq: list[SeqStop]
    locs: npt.NDArray[np.int64]  # [start, stops..., end]
    base: npt.NDArray[np.int64]  # leg travel times
    lo_dep: npt.NDArray[np.int64]  # earliest departure from each leg start
    hi_next: npt.NDArray[np.int64]  # latest arrival at each leg end
    peak: npt.NDArray[np.int64]  # max load over legs i..j
    dwell_s: int


@functools.lru_cache(maxsize=8192)
def _route_data(problem: Problem, route: Route) -> _RouteData | None:
    """Per-route arrays reused across insertions (routes are immutable)."""
    d = problem.drivers[problem.driver_index(route.driver_id)]
    m = problem.travel_time_s
    seq = _sequence(problem, route)
    bounds = route_bounds(problem, d, seq)
    if bounds is None:
        return None
    k = len(seq)
    locs = np.asarray([d.start, *(c.location for _, _, c in seq), d.end], dtype=np.int64)
    load = np.zeros(k + 1, dtype=np.int64)
    dwell_at = np.zeros(k + 2, dtype=np.int64)
    cur = 0
    for g, (r, kind, _c) in enumerate(seq, start=1):
        if kind is StopKind.PICKUP:
            cur += r.passengers
            dwell_at[g] = r.board_s
        else:
            cur -= r.passengers
            dwell_at[g] = r.alight_s
        load[g] = cur
    peak = np.full((k + 1, k + 1), INF, dtype=np.int64)
    for i in range(k + 1):
        peak[i, i:] = np.maximum.accumulate(load[i:])
    return _RouteData(
        seq=seq,
        locs=locs,
        base=m[locs[:-1], locs[1:]],
        lo_dep=np.asarray(bounds[0][:-1], dtype=np.int64) + dwell_at[:-1],
        hi_next=np.asarray(bounds[1][1:], dtype=np.int64),
        peak=peak,
        dwell_s=int(dwell_at.sum()),
    )


@functools.lru_cache(maxsize=64)
def _driver_arrays(problem: Problem) -> DriverArrays:
    return DriverArrays.of(problem)


@functools.lru_cache(maxsize=4096)
def _stages(problem: Problem, rider: Rider) -> npt.NDArray[np.int64]:
    return driver_stages(problem, _driver_arrays(problem), rider)


def insert_cheapest(
    problem: Problem,
    current: Result,
    rider: Rider,
    *,
    max_attempts: int | None = None,
    params: SolveParams | None = None,
) -> Insertion | None:
    """Return the cheapest feasible insertion of ``rider`` into ``current``.

    Parameters
    ----------
    problem
        The problem ``current`` solves.  ``rider`` may be a new rider (not in
        ``problem.riders``) or an unserved rider of ``problem``.
    current
        The current plan; its stops keep their relative order.
    rider
        The rider to insert.
    max_attempts
        Optional cap on exact schedule evaluations (``None`` = no cap; the
        answer is then exact).  With a cap the function may return ``None``
        although an insertion exists.
    params
        Objective weights (``arc_cost_weight``, ``fairness_weight``,
        ``drop_penalty`` for the fairness cap); default :class:`SolveParams`
        ``()`` ranks by added driving time alone.

    Returns
    -------
    Insertion or None
        The insertion with the smallest cost (``arc_cost_weight`` x added
        driving + fairness; ties: added driving, driver order, then earliest
        positions), or ``None`` if the rider fits nowhere.

    Raises
    ------
    ValueError
        If the rider is already served in ``current``.
    """
    if rider.id in current.assignments:
        raise ValueError(f"rider: {rider.id!r} is already served")
    nd = len(problem.drivers)
    if nd == 0:
        return None
    params = params if params is not None else SolveParams()
    weight = effective_fairness_weight(problem, params)
    arrays = _driver_arrays(problem)
    stages = _stages(problem, rider)
    m = problem.travel_time_s
    routes = {r.driver_id: r for r in current.routes}
    pl = np.asarray([c.location for c in rider.pickups], dtype=np.int64)
    dl = np.asarray([c.location for c in rider.dropoffs], dtype=np.int64)
    t_pd = m[np.ix_(pl, dl)]  # (P, Q)

    ap = rider.earliest_pickup_s + np.asarray([c.walk_s for c in rider.pickups], dtype=np.int64)
    bp = INF if rider.latest_pickup_s is None else rider.latest_pickup_s
    ad = -INF if rider.earliest_dropoff_s is None else rider.earliest_dropoff_s
    bd = rider.latest_dropoff_s - np.asarray([c.walk_s for c in rider.dropoffs], dtype=np.int64)
    board, alight = rider.board_s, rider.alight_s

    chunks: list[tuple[npt.NDArray[np.int64], ...]] = []  # cost, delta, v, i, j, p, q
    fair: dict[int, int] = {}
    seqs: dict[int, list[SeqStop]] = {}
    for v in np.flatnonzero(stages >= STAGE_OK):
        vi = int(v)
        d = problem.drivers[vi]
        route = routes.get(d.id)
        if route is None:
            continue
        rd = _route_data(problem, route)
        if rd is None:  # pragma: no cover - current routes are feasible
            continue
        seq = rd.seq
        seqs[vi] = seq
        k = len(seq)
        locs, base = rd.locs, rd.base
        to_p = m[locs[:-1, None], pl[None, :]]  # (k+1, P): leg start -> p
        p_to = m[pl[None, :], locs[1:, None]]  # (k+1, P): p -> leg end
        to_d = m[locs[:-1, None], dl[None, :]]  # (k+1, Q)
        d_to = m[dl[None, :], locs[1:, None]]  # (k+1, Q)
        ins_p = to_p + p_to - base[:, None]  # (k+1, P)
        ins_d = to_d + d_to - base[:, None]  # (k+1, Q)
        # Different gaps: pickup in gap i, drop-off in gap j > i.
        delta = ins_p[:, None, :, None] + ins_d[None, :, None, :]  # (i, j, P, Q)
        # Same gap: leg_start -> p -> d -> leg_end.
        same = to_p[:, :, None] + t_pd[None, :, :] + d_to[:, None, :] - base[:, None, None]
        idx = np.arange(k + 1)
        delta[idx, idx] = same
        # Seats on every leg the rider rides (legs i..j).
        fits = (rd.peak + rider.passengers <= d.seats) & (idx[:, None] <= idx[None, :])
        # Time windows (necessary): earliest possible departure from the leg
        # start plus travel must meet the rider's windows and the latest
        # possible arrival at the leg end (exact bounds of the current route).
        lo_dep, hi_next = rd.lo_dep, rd.hi_next
        a_p = np.maximum(lo_dep[:, None] + to_p, ap[None, :])  # (k+1, P)
        ok_p = a_p <= bp
        ok_p_next = ok_p & (a_p + board + p_to <= hi_next[:, None])
        a_d = np.maximum(lo_dep[:, None] + to_d, ad)  # (k+1, Q)
        ok_d = (a_d <= bd[None, :]) & (a_d + alight + d_to <= hi_next[:, None])
        tw = ok_p_next[:, None, :, None] & ok_d[None, :, None, :]  # (i, j, P, Q)
        a_same = np.maximum(a_p[:, :, None] + board + t_pd[None, :, :], ad)  # (k+1, P, Q)
        tw[idx, idx] = (
            ok_p[:, :, None]
            & (a_same <= bd[None, None, :])
            & (a_same + alight + d_to[:, None, :] <= hi_next[:, None, None])
        )
        # Driving must fit the trip duration limit together with all dwell.
        max_dur = int(arrays.max_duration_s[vi])
        room = max_dur - rd.dwell_s - board - alight - route.driving_s
        ok = fits[:, :, None, None] & tw & (delta <= room)
        ii, jj, pp, qq = np.nonzero(ok)
        if ii.size:
            riders_now = sum(1 for s in route.stops if s.kind is StopKind.PICKUP)
            fair[vi] = marginal_cost(weight, d.rides_before, riders_now)
            found = delta[ii, jj, pp, qq]
            cost = params.arc_cost_weight * found + fair[vi]
            chunks.append((cost, found, np.full(ii.size, vi), ii, jj, pp, qq))
    if not chunks:
        return None
    cols = [np.concatenate([c[x] for c in chunks]).astype(np.int64) for x in range(7)]
    order = np.lexsort(tuple(reversed(cols)))
    options = np.stack(cols, axis=1)[order].tolist()
    extra = {} if problem.has_rider(rider.id) else {rider.id: rider}
    for attempt, (_cost, delta_s, vi, i, j, p, q) in enumerate(options):
        if max_attempts is not None and attempt >= max_attempts:
            break
        seq = seqs[vi]
        pick: SeqStop = (rider, StopKind.PICKUP, rider.pickups[p])
        drop: SeqStop = (rider, StopKind.DROPOFF, rider.dropoffs[q])
        new_seq = [*seq[:i], pick, *seq[i:j], drop, *seq[j:]]
        times = route_times(problem, problem.drivers[vi], new_seq)
        if times is None:
            continue
        route, _ = make_route(problem, vi, new_seq, times)
        if check_route(problem, route, extra):  # pragma: no cover - defensive
            continue
        pi, di = i, j + 1
        return Insertion(
            rider_id=rider.id,
            driver_id=problem.drivers[vi].id,
            pickup_location=rider.pickups[p].location,
            dropoff_location=rider.dropoffs[q].location,
            pickup_index=pi,
            dropoff_index=di,
            pickup_s=route.stops[pi].arrival_s,
            dropoff_s=route.stops[di].arrival_s,
            added_driving_s=delta_s,
            route=route,
            fairness_cost=fair[vi],
        )
    return None


def apply_insertion(current: Result, insertion: Insertion) -> Result:
    """Return ``current`` with an insertion accepted (booking a seat).

    Parameters
    ----------
    current
        The plan the insertion was computed for.
    insertion
        Result of :func:`insert_cheapest` on ``current``.

    Returns
    -------
    Result
        The new plan: the driver's route replaced, assignments of that driver
        re-timed, the rider removed from ``unserved`` and totals updated
        (``objective``, ``status`` and ``wall_time_s`` are copied unchanged).
        If the rider is new, verify it with a problem that includes the rider.
    """
    routes = tuple(
        insertion.route if r.driver_id == insertion.driver_id else r for r in current.routes
    )
    assignments = {
        k: v for k, v in current.assignments.items() if v.driver_id != insertion.driver_id
    }
    assignments.update((a.rider_id, a) for a in _route_assignments(insertion.route))
    unserved = {k: v for k, v in current.unserved.items() if k != insertion.rider_id}
    return dataclasses.replace(
        current,
        routes=routes,
        assignments=assignments,
        unserved=unserved,
        total_added_driving_s=sum(r.added_driving_s for r in routes),
    )


def remove_riders(problem: Problem, current: Result, rider_ids: Iterable[str]) -> Result:
    """Return ``current`` without some riders (e.g. cancellations), re-timed.

    Parameters
    ----------
    problem
        The problem ``current`` solves.
    current
        The plan.
    rider_ids
        Riders to take out; they become unserved with reason ``NOT_CHOSEN``.

    Returns
    -------
    Result
        The new plan; affected routes get a fresh exact schedule
        (``objective``, ``status`` and ``wall_time_s`` are copied unchanged).

    Raises
    ------
    ValueError
        If a shortened route cannot be scheduled (only possible when the
        matrix violates the triangle inequality).
    """
    remove = set(rider_ids)
    routes: list[Route] = []
    for v, route in enumerate(current.routes):
        if not any(s.rider_id in remove for s in route.stops):
            routes.append(route)
            continue
        vi = problem.driver_index(route.driver_id)
        kept = [s for s in route.stops if s.rider_id not in remove]
        seq = _sequence(problem, dataclasses.replace(route, stops=tuple(kept)))
        times = route_times(problem, problem.drivers[vi], seq)
        if times is None:
            raise ValueError(f"rider_ids: route {v} cannot be re-timed without them")
        routes.append(make_route(problem, vi, seq, times)[0])
    assignments = {k: v for k, v in current.assignments.items() if k not in remove}
    for route, old in zip(routes, current.routes, strict=True):
        if route is not old:
            assignments.update((a.rider_id, a) for a in _route_assignments(route))
    unserved = dict(current.unserved)
    unserved.update((rid, UnservedReason.NOT_CHOSEN) for rid in remove)
    return dataclasses.replace(
        current,
        routes=tuple(routes),
        assignments=assignments,
        unserved=unserved,
        total_added_driving_s=sum(r.added_driving_s for r in routes),
    )


def _route_assignments(route: Route) -> list[Assignment]:
    picks: dict[str, Stop] = {}
    out: list[Assignment] = []
    for s in route.stops:
        if s.kind is StopKind.PICKUP:
            picks[s.rider_id] = s
        elif s.rider_id in picks:
            p = picks[s.rider_id]
            out.append(
                Assignment(
                    s.rider_id, route.driver_id, p.location, s.location, p.arrival_s, s.arrival_s
                )
            )
    return out
