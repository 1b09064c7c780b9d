"""Exact timing of a fixed stop sequence (a simple temporal network).

Given the order of the stops of one route, the arrival times must satisfy

* windows ``lo[k] <= T[k] <= hi[k]``;
* chain gaps ``T[k+1] - T[k] >= gap[k]`` (dwell at ``k`` plus travel);
* maximum gaps ``T[j] - T[i] <= L`` (ride-time limits, trip duration limit).

These are difference constraints; bound propagation to a fixpoint decides
feasibility exactly and the propagated lower bounds form a feasible schedule.
Departing as late as possible minimises the trip duration (the earliest end
time grows at most one-for-one with the departure).  The returned schedule has
that minimum duration and, among such schedules, the earliest departure and
earliest times at every stop (no avoidable waiting, riders served early).
"""

from __future__ import annotations

from collections.abc import Sequence

from matching.model import Candidate, Driver, Problem, Rider
from matching.result import StopKind

__all__ = ["INF", "SeqStop", "route_bounds", "route_times", "schedule"]

#: Stand-in for "unbounded" in integer time arithmetic.
INF = 1 << 50

#: One stop of a sequence: the rider, pickup/drop-off, the candidate used.
SeqStop = tuple[Rider, StopKind, Candidate]


def _propagate(
    lo: list[int], hi: list[int], gaps: Sequence[int], max_gaps: Sequence[tuple[int, int, int]]
) -> bool:
    n = len(lo)
    for _ in range(2 * n + 2):
        changed = False
        for k in range(n - 1):
            v = lo[k] + gaps[k]
            if v > lo[k + 1]:
                lo[k + 1] = v
                changed = True
        for k in range(n - 2, -1, -1):
            v = hi[k + 1] - gaps[k]
            if v < hi[k]:
                hi[k] = v
                changed = True
        for i, j, limit in max_gaps:
            v = lo[j] - limit
            if v > lo[i]:
                lo[i] = v
                changed = True
            v = hi[i] + limit
            if v < hi[j]:
                hi[j] = v
                changed = True
        for k in range(n):
            if lo[k] > hi[k]:
                return False
        if not changed:
            return True
    return False  # pragma: no cover - cannot happen with finite bounds


def schedule(
    lo: Sequence[int],
    hi: Sequence[int],
    gaps: Sequence[int],
    max_gaps: Sequence[tuple[int, int, int]] = (),
) -> list[int] | None:
    """Return a minimum-duration schedule with earliest times, or ``None``.

    Parameters
    ----------
    lo, hi
        Window per position (use ``-INF`` / ``INF`` for unbounded).
    gaps
        Minimum difference between consecutive positions (``len(lo) - 1`` items).
    max_gaps
        Triples ``(i, j, limit)`` meaning ``T[j] - T[i] <= limit``.

    Returns
    -------
    list of int or None
        The schedule, or ``None`` if the constraints are inconsistent.
    """
    lo_l = list(lo)
    hi_l = list(hi)
    if not _propagate(lo_l, hi_l, gaps, max_gaps):
        return None
    late_lo, late_hi = list(lo_l), list(hi_l)
    late_lo[0] = late_hi[0]
    if not _propagate(late_lo, late_hi, gaps, max_gaps):  # pragma: no cover - consistent
        return None
    n = len(lo_l)
    min_duration = late_lo[n - 1] - late_lo[0]
    if not _propagate(lo_l, hi_l, gaps, [*max_gaps, (0, n - 1, min_duration)]):
        return None  # pragma: no cover - the late schedule satisfies it
    return lo_l


def _route_network(
    problem: Problem, driver: Driver, seq: Sequence[SeqStop]
) -> tuple[list[int], list[int], list[int], list[tuple[int, int, int]]]:
    m = problem.travel_time_s
    n = len(seq) + 2
    lo = [-INF] * n
    hi = [INF] * n
    gaps = [0] * (n - 1)
    max_gaps: list[tuple[int, int, int]] = []
    lo[0] = driver.earliest_departure_s
    hi[0] = driver.latest_departure_s
    hi[n - 1] = driver.latest_arrival_s
    prev_loc = driver.start
    prev_service = 0
    pick_pos: dict[str, int] = {}
    for k, (rider, kind, cand) in enumerate(seq, start=1):
        gaps[k - 1] = prev_service + int(m[prev_loc, cand.location])
        if kind is StopKind.PICKUP:
            lo[k] = rider.earliest_pickup_s + cand.walk_s
            if rider.latest_pickup_s is not None:
                hi[k] = rider.latest_pickup_s
            prev_service = rider.board_s
            pick_pos[rider.id] = k
        else:
            if rider.earliest_dropoff_s is not None:
                lo[k] = rider.earliest_dropoff_s
            hi[k] = rider.latest_dropoff_s - cand.walk_s
            prev_service = rider.alight_s
            if rider.max_ride_s is not None and rider.id in pick_pos:
                max_gaps.append((pick_pos[rider.id], k, rider.max_ride_s))
        prev_loc = cand.location
    gaps[n - 2] = prev_service + int(m[prev_loc, driver.end])
    max_dur = problem.max_duration_s(driver)
    if max_dur is not None:
        max_gaps.append((0, n - 1, max_dur))
    return lo, hi, gaps, max_gaps


def route_bounds(
    problem: Problem, driver: Driver, seq: Sequence[SeqStop]
) -> tuple[list[int], list[int]] | None:
    """Earliest and latest feasible time of every position of a route.

    Returns ``(lo, hi)`` over ``[departure, stops..., end]`` after exact
    propagation (every value in ``[lo[k], hi[k]]`` is part of some feasible
    schedule), or ``None`` if the route is infeasible.
    """
    lo, hi, gaps, max_gaps = _route_network(problem, driver, seq)
    if not _propagate(lo, hi, gaps, max_gaps):
        return None
    return lo, hi


def route_times(problem: Problem, driver: Driver, seq: Sequence[SeqStop]) -> list[int] | None:
    """Schedule a driver's route visiting ``seq`` in order.

    Parameters
    ----------
    problem
        The problem (for the matrix).
    driver
        The driver.
    seq
        The stops in order; every rider must appear with a pickup before its
        drop-off.

    Returns
    -------
    list of int or None
        ``[departure, stop arrivals..., arrival at end]`` or ``None`` if no
        schedule satisfies windows, ride-time and trip-duration limits.
    """
    lo, hi, gaps, max_gaps = _route_network(problem, driver, seq)
    return schedule(lo, hi, gaps, max_gaps)
