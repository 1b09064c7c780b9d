"""Pruning: which drivers can possibly serve which rider, and why not.

For every (driver, rider) pair and every (pickup candidate, drop-off candidate)
combination we evaluate, vectorised with numpy over drivers and candidates,
a sequence of *necessary* conditions for the rider to fit that driver, i.e.
conditions that hold whenever the pair appears in any feasible route.  They
assume the travel-time matrix satisfies the triangle inequality (inserting more
stops never makes a later stop reachable earlier nor a route shorter).

Stages (first failing test wins; the *stage* of a driver is the best over the
candidate combinations):

0. self match (same person) - excluded, never counted as a reason;
1. needs not a subset of the driver's features;
2. seats < passengers;
3. time windows: leaving at the earliest departure, the driver cannot reach the
   pickup before its latest time, the drop-off before its latest time, or the
   end before the latest arrival;
4. corridor ("ellipse"): ``t(start, p) + t(p, d) + t(d, end) - direct`` exceeds
   the detour budget;
5. detour with time: the minimum trip duration (departing as late as useful,
   with dwell and unavoidable waiting) exceeds ``direct + budget``, or the
   minimum ride time ``board + t(p, d)`` (or forced by the windows) exceeds the
   rider's maximum;
6. possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching._schedule import INF
from matching.model import Driver, Problem, Rider
from matching.result import UnservedReason

__all__ = ["STAGE_OK", "DriverArrays", "Pruning", "driver_stages", "prune", "stage_reason"]

STAGE_SELF = 0
STAGE_NEEDS = 1
STAGE_SEATS = 2
STAGE_TIME = 3
STAGE_CORRIDOR = 4
STAGE_DETOUR = 5
#: Stage value of a driver that may serve the rider.
STAGE_OK = 6

_REASONS = {
    STAGE_SELF: UnservedReason.NO_DRIVER_IN_TIME_WINDOW,
    STAGE_NEEDS: UnservedReason.NEEDS_NOT_MET,
    STAGE_SEATS: UnservedReason.NO_FREE_SEAT,
    STAGE_TIME: UnservedReason.NO_DRIVER_IN_TIME_WINDOW,
    STAGE_CORRIDOR: UnservedReason.OUTSIDE_EVERY_CORRIDOR,
    STAGE_DETOUR: UnservedReason.DETOUR_TOO_LARGE,
}

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class DriverArrays:
    """Per-driver columns used by the vectorised tests (build once per problem)."""

    start: I64
    end: I64
    earliest_departure_s: I64
    latest_departure_s: I64
    latest_arrival_s: I64
    direct_s: I64
    budget_s: I64
    max_duration_s: I64
    seats: I64
    #: Driver indices per person id (for the self-match test).
    drivers_of_person: dict[str, I64]
    #: Vehicle features per driver (for the needs test; skipped for riders without needs).
    features: tuple[frozenset[str], ...]

    @staticmethod
    def of(problem: Problem) -> DriverArrays:
        """Build the arrays for ``problem.drivers``."""
        ds = problem.drivers
        m = problem.travel_time_s

        def col(values: list[int]) -> I64:
            return np.asarray(values, dtype=np.int64).reshape(len(ds))

        start = col([d.start for d in ds])
        end = col([d.end for d in ds])
        direct = m[start, end].astype(np.int64) if ds else col([])
        budgets = [d.detour_budget_s(int(direct[i])) for i, d in enumerate(ds)]
        budget = col([INF if b is None else b for b in budgets])
        return DriverArrays(
            start=start,
            end=end,
            earliest_departure_s=col([d.earliest_departure_s for d in ds]),
            latest_departure_s=col([d.latest_departure_s for d in ds]),
            latest_arrival_s=col([d.latest_arrival_s for d in ds]),
            direct_s=direct,
            budget_s=budget,
            max_duration_s=np.minimum(direct + budget, INF),
            seats=col([d.seats for d in ds]),
            drivers_of_person={
                pid: np.asarray(idx, dtype=np.int64) for pid, idx in _by_person(ds).items()
            },
            features=tuple(d.features for d in ds),
        )


def _by_person(drivers: Sequence[Driver]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, d in enumerate(drivers):
        out.setdefault(d.person_id, []).append(i)
    return out


def driver_stages(problem: Problem, arrays: DriverArrays, rider: Rider) -> I64:
    """Return the pruning stage of every driver for one rider.

    Parameters
    ----------
    problem
        The problem (drivers and matrix).
    arrays
        ``DriverArrays.of(problem)``.
    rider
        The rider (need not be part of ``problem``).

    Returns
    -------
    numpy.ndarray
        One stage per driver; ``STAGE_OK`` (6) means the driver may serve the rider.
    """
    ds = problem.drivers
    nd = len(ds)
    if nd == 0:
        return np.zeros(0, dtype=np.int64)
    m = problem.travel_time_s
    a = arrays
    # Per-driver Python loops here dominated pruning and insert_cheapest on large days.
    not_self = np.ones(nd, dtype=bool)
    own = a.drivers_of_person.get(rider.person_id)
    if own is not None:
        not_self[own] = False
    if rider.needs:
        needs_ok = np.fromiter((rider.needs <= f for f in a.features), dtype=bool, count=nd)
    else:
        needs_ok = np.ones(nd, dtype=bool)
    seats_ok = a.seats >= rider.passengers

    pl = np.asarray([c.location for c in rider.pickups], dtype=np.int64)
    dl = np.asarray([c.location for c in rider.dropoffs], dtype=np.int64)
    ap = rider.earliest_pickup_s + np.asarray([c.walk_s for c in rider.pickups], dtype=np.int64)
    bp = INF if rider.latest_pickup_s is None else rider.latest_pickup_s
    ad = -INF if rider.earliest_dropoff_s is None else rider.earliest_dropoff_s
    bd = rider.latest_dropoff_s - np.asarray([c.walk_s for c in rider.dropoffs], dtype=np.int64)

    t_sp = m[np.ix_(a.start, pl)]  # (D, P)
    t_pd = m[np.ix_(pl, dl)]  # (P, Q)
    t_de = m[np.ix_(dl, a.end)].T  # (D, Q)

    # Stage 3: earliest times when leaving at the earliest departure.
    p_time = np.maximum(a.earliest_departure_s[:, None] + t_sp, ap[None, :])  # (D, P)
    d_time = np.maximum(p_time[:, :, None] + rider.board_s + t_pd[None, :, :], ad)  # (D,P,Q)
    e_time = d_time + rider.alight_s + t_de[:, None, :]
    time_ok = (
        (p_time <= bp)[:, :, None]
        & (d_time <= bd[None, None, :])
        & (e_time <= a.latest_arrival_s[:, None, None])
    )

    # Stage 4: pure driving detour within the budget.
    drive = t_sp[:, :, None] + t_pd[None, :, :] + t_de[:, None, :]
    corridor_ok = drive - a.direct_s[:, None, None] <= a.budget_s[:, None, None]

    # Stage 5: minimum trip duration and minimum ride time.
    s_max = np.minimum(a.latest_departure_s[:, None], bp - t_sp)  # (D, P)
    s_max3 = np.minimum(
        s_max[:, :, None], bd[None, None, :] - rider.board_s - t_pd - t_sp[:, :, None]
    )
    s_max3 = np.minimum(
        s_max3,
        a.latest_arrival_s[:, None, None]
        - rider.alight_s
        - t_de[:, None, :]
        - rider.board_s
        - t_pd[None, :, :]
        - t_sp[:, :, None],
    )
    s_max3 = np.maximum(s_max3, a.earliest_departure_s[:, None, None])
    p2 = np.maximum(s_max3 + t_sp[:, :, None], ap[None, :, None])
    d2 = np.maximum(p2 + rider.board_s + t_pd[None, :, :], ad)
    e2 = d2 + rider.alight_s + t_de[:, None, :]
    duration_ok = e2 - s_max3 <= a.max_duration_s[:, None, None]
    max_ride = INF if rider.max_ride_s is None else rider.max_ride_s
    ride_lb = np.maximum(rider.board_s + t_pd, ad - bp)  # (P, Q)
    detour_ok = duration_ok & (ride_lb <= max_ride)[None, :, :]

    combo_stage = np.where(
        ~time_ok,
        STAGE_TIME,
        np.where(~corridor_ok, STAGE_CORRIDOR, np.where(~detour_ok, STAGE_DETOUR, STAGE_OK)),
    )
    best = combo_stage.reshape(nd, -1).max(axis=1)
    stage = np.where(
        ~not_self,
        STAGE_SELF,
        np.where(~needs_ok, STAGE_NEEDS, np.where(~seats_ok, STAGE_SEATS, best)),
    )
    return stage.astype(np.int64)


def stage_reason(stages: I64) -> UnservedReason:
    """Return the unserved reason implied by the best stage over all drivers."""
    if stages.size == 0:
        return UnservedReason.NO_DRIVER_IN_TIME_WINDOW
    best = int(stages.max())
    if best >= STAGE_OK:
        return UnservedReason.NOT_CHOSEN
    return _REASONS[best]


@dataclass(frozen=True)
class Pruning:
    """Outcome of :func:`prune`.

    Parameters
    ----------
    allowed
        Per rider (in ``problem.riders`` order) the indices of the drivers that
        may serve them.
    reasons
        For riders with no allowed driver, the reason.
    """

    allowed: tuple[tuple[int, ...], ...]
    reasons: dict[str, UnservedReason]


def prune(problem: Problem, *, hard_only: bool = False) -> Pruning:
    """Compute the allowed drivers of every rider.

    Parameters
    ----------
    problem
        The problem.
    hard_only
        If true, only the hard compatibility rules (self match, needs, seats)
        restrict drivers; time and detour tests are left to the solver.  Used
        to validate the pruning.

    Returns
    -------
    Pruning
        Allowed drivers per rider and reasons for riders without any.
    """
    arrays = DriverArrays.of(problem)
    allowed: list[tuple[int, ...]] = []
    reasons: dict[str, UnservedReason] = {}
    threshold = STAGE_TIME if hard_only else STAGE_OK
    for rider in problem.riders:
        stages = driver_stages(problem, arrays, rider)
        locked = problem.locked_driver(rider.id)
        if locked is not None:
            mask = np.zeros_like(stages, dtype=bool)
            mask[locked] = stages[locked] >= threshold
            if not mask[locked]:
                reasons[rider.id] = stage_reason(stages[locked : locked + 1])
        else:
            mask = stages >= threshold
            if not mask.any():
                reasons[rider.id] = stage_reason(stages)
        allowed.append(tuple(int(i) for i in np.flatnonzero(mask)))
    return Pruning(allowed=tuple(allowed), reasons=reasons)
