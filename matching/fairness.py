"""The fairness term of the objective: spread riders across willing drivers.

Every driver ``d`` brings :attr:`~matching.Driver.rides_before` ``p_d`` (rides the driver
already gave in the current period, e.g. this week, before this plan).  Giving ``d`` its
``j``-th rider of this plan (``j = 1, 2, ...``) costs

    ``w * (p_d + j - 1)``

objective units, where ``w`` is the effective fairness weight (below).  The marginal cost of
one more rider therefore grows by ``w`` with every ride the driver already has (before the
plan plus in it), and a driver's whole fairness cost is convex in its rider count::

    fairness_cost(w, p, k) = w * (k * p + k * (k - 1) / 2)

Equivalently, the cost of inserting one rider into driver ``d`` that currently carries ``k``
riders of the plan is ``w * (p_d + k)`` - it does not depend on where in the route the rider
is inserted.  Heuristics can therefore rank an insertion by
``arc_cost_weight * added driving + marginal_cost(w, p_d, k)``.

Units: the weight is in objective units per ride; with ``arc_cost_weight = 1`` (the default)
one unit is one second of driving, so ``w = 60`` means "one minute more driving is worth
giving the ride to a driver with one ride fewer".

Riders come first: the weight actually used is capped so that no marginal fairness cost can
reach the penalty of leaving a rider unserved, ``w_eff = min(w, (drop_penalty - 1) // R)``
with ``R = max(p_d) + number of riders + 1`` (an upper bound of ``p_d + k`` for any driver
and plan).  Fairness alone never makes leaving a rider unserved cheaper than serving them;
it only trades against driving time.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from matching.model import Problem
from matching.params import SolveParams

__all__ = ["effective_fairness_weight", "fairness_cost", "fairness_table", "marginal_cost"]


def fairness_cost(weight: int, rides_before: int, riders: int) -> int:
    """Fairness cost of a driver with ``rides_before`` earlier rides carrying ``riders``.

    Parameters
    ----------
    weight
        Effective fairness weight (objective units per ride already given).
    rides_before
        Rides the driver gave before this plan.
    riders
        Riders of this plan on the driver (confirmed ones included).

    Returns
    -------
    int
        ``weight * sum(rides_before + j for j in range(riders))``.
    """
    return weight * (riders * rides_before + riders * (riders - 1) // 2)


def marginal_cost(weight: int, rides_before: int, riders: int) -> int:
    """Fairness cost of giving one more rider to a driver that carries ``riders`` already."""
    return weight * (rides_before + riders)


@functools.lru_cache(maxsize=64)
def _most_rides(problem: Problem) -> int:
    return max((d.rides_before for d in problem.drivers), default=0) + len(problem.riders) + 1


def effective_fairness_weight(problem: Problem, params: SolveParams) -> int:
    """The fairness weight used for ``problem``: :attr:`SolveParams.fairness_weight`, capped
    so that a marginal fairness cost stays below ``drop_penalty`` (module docstring)."""
    if params.fairness_weight == 0:
        return 0
    return min(params.fairness_weight, (params.drop_penalty - 1) // _most_rides(problem))


def fairness_table(
    problem: Problem, params: SolveParams, max_riders: int | None = None
) -> npt.NDArray[np.int64]:
    """Per driver the fairness cost of carrying ``0..max_riders`` riders, as an integer table.

    Row ``d``, column ``j`` is ``fairness_cost(w_eff, problem.drivers[d].rides_before, j)``
    (all zeros when the weight is off).  This is the form of a per-driver ride-count cost
    that a search can look up instead of calling :func:`fairness_cost` (e.g. the
    ``ride_cost`` table of :func:`matching.lns.solve_lns`).

    Parameters
    ----------
    problem, params
        The instance and the weights (the cap of :func:`effective_fairness_weight` applies).
    max_riders
        Last column; default ``min(number of riders, 63)``.  A table that is extended
        linearly beyond its last column under-states the convex cost only for drivers
        carrying more riders than that.

    Returns
    -------
    numpy.ndarray
        ``int64`` array of shape ``(number of drivers, max_riders + 1)``.
    """
    k = min(len(problem.riders), 63) if max_riders is None else max_riders
    if k < 0:
        raise ValueError("max_riders: must be >= 0")
    weight = effective_fairness_weight(problem, params)
    before = np.asarray([d.rides_before for d in problem.drivers], dtype=np.int64)[:, None]
    j = np.arange(k + 1, dtype=np.int64)[None, :]
    table: npt.NDArray[np.int64] = weight * (j * before + j * (j - 1) // 2)
    return table
