"""Instant answers: cheapest feasible insertion of one new rider into existing routes.

:func:`insert_cheapest` keeps all current stops in their order and tries every
(driver, pickup candidate, drop-off candidate, pickup gap, drop-off gap)
combination.  Cheap necessary tests run vectorised with numpy first:

1. the pruning stages of :mod:`matching.prune` (needs, seats, windows,
   corridor, minimum trip duration) for the rider alone;
2. per route, the added driving time of every gap pair must fit the time left
   under the trip duration limit (``max duration - dwell - driving``);
3. the seats must be free on every leg the rider rides along.

The survivors are sorted by added driving time and the first one whose exact
schedule (windows, waiting, ride-time limits of *all* riders, trip duration)
is feasible is returned - it is therefore the cheapest feasible insertion.
It is re-verified with :func:`matching.check.check_route`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching._schedule import INF, SeqStop, route_times
from matching.check import check_route
from matching.model import Problem, Rider
from matching.prune import STAGE_OK, DriverArrays, driver_stages
from matching.result import Result, Route, StopKind
from matching.solver import make_route

__all__ = ["Insertion", "insert_cheapest"]


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


def _sequence(problem: Problem, route: Route) -> list[SeqStop]:
    seq: list[SeqStop] = []
    for s in route.stops:
        r = problem.riders[problem.rider_index(s.rider_id)]
        cands = r.pickups if s.kind is StopKind.PICKUP else r.dropoffs
        cand = next(c for c in cands if c.location == s.location)
        seq.append((r, s.kind, cand))
    return seq


def insert_cheapest(
    problem: Problem,
    current: Result,
    rider: Rider,
    *,
    max_attempts: int | None = None,
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

    Returns
    -------
    Insertion or None
        The insertion with the smallest added driving time (ties: driver
        order, then earliest positions), or ``None`` if the rider fits nowhere.

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
    arrays = DriverArrays.of(problem)
    stages = driver_stages(problem, arrays, rider)
    m = problem.travel_time_s
    routes = {r.driver_id: r for r in current.routes}
    pl = np.asarray([c.location for c in rider.pickups], dtype=np.int64)
    dl = np.asarray([c.location for c in rider.dropoffs], dtype=np.int64)
    t_pd = m[np.ix_(pl, dl)]  # (P, Q)

    options: list[tuple[int, int, int, int, int, int]] = []  # delta, v, i, j, p, q
    seqs: dict[int, list[SeqStop]] = {}
    for v in np.flatnonzero(stages >= STAGE_OK):
        vi = int(v)
        d = problem.drivers[vi]
        route = routes.get(d.id)
        if route is None:
            continue
        seq = _sequence(problem, route)
        seqs[vi] = seq
        k = len(seq)
        locs = np.asarray([d.start, *(c.location for _, _, c in seq), d.end], dtype=np.int64)
        base = m[locs[:-1], locs[1:]]  # (k+1,) leg times
        to_p = m[np.ix_(locs[:-1], pl)]  # (k+1, P): leg start -> p
        p_to = m[np.ix_(pl, locs[1:])].T  # (k+1, P): p -> leg end
        to_d = m[np.ix_(locs[:-1], dl)]  # (k+1, Q)
        d_to = m[np.ix_(dl, locs[1:])].T  # (k+1, Q)
        ins_p = to_p + p_to - base[:, None]  # (k+1, P)
        ins_d = to_d + d_to - base[:, None]  # (k+1, Q)
        # Different gaps: pickup in gap i, drop-off in gap j > i.
        delta = ins_p[:, None, :, None] + ins_d[None, :, None, :]  # (i, j, P, Q)
        # Same gap: leg_start -> p -> d -> leg_end.
        same = to_p[:, :, None] + t_pd[None, :, :] + d_to[:, None, :] - base[:, None, None]
        idx = np.arange(k + 1)
        delta[idx, idx] = same
        # Seats on every leg the rider rides (legs i..j).
        load = np.zeros(k + 1, dtype=np.int64)
        cur = 0
        for g, (r, kind, _c) in enumerate(seq, start=1):
            cur += r.passengers if kind is StopKind.PICKUP else -r.passengers
            load[g] = cur
        peak = np.full((k + 1, k + 1), INF, dtype=np.int64)
        for i in range(k + 1):
            peak[i, i:] = np.maximum.accumulate(load[i:])
        fits = (peak + rider.passengers <= d.seats) & (idx[:, None] <= idx[None, :])
        # Driving must fit the trip duration limit together with all dwell.
        max_dur = int(arrays.max_duration_s[vi])
        dwell = sum(r.board_s if kd is StopKind.PICKUP else r.alight_s for r, kd, _ in seq)
        room = max_dur - dwell - rider.board_s - rider.alight_s - route.driving_s
        ok = fits[:, :, None, None] & (delta <= room)
        for i, j, p, q in np.argwhere(ok):
            options.append((int(delta[i, j, p, q]), vi, int(i), int(j), int(p), int(q)))
    options.sort()
    extra = {} if problem.has_rider(rider.id) else {rider.id: rider}
    for attempt, (delta_s, vi, i, j, p, q) in enumerate(options):
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
        )
    return None
