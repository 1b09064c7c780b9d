"""Solver parameters (:class:`SolveParams`), validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ortools.constraint_solver import routing_parameters_pb2

__all__ = ["FIRST_SOLUTION_STRATEGIES", "LOCAL_SEARCH_METAHEURISTICS", "SolveParams"]

_OPERATOR_NAMES = frozenset(
    routing_parameters_pb2.RoutingSearchParameters.LocalSearchNeighborhoodOperators.DESCRIPTOR.fields_by_name
)

#: Accepted names for :attr:`SolveParams.first_solution_strategy` (OR-Tools enum names).
FIRST_SOLUTION_STRATEGIES = frozenset(
    {
        "AUTOMATIC",
        "PATH_CHEAPEST_ARC",
        "PATH_MOST_CONSTRAINED_ARC",
        "SAVINGS",
        "PARALLEL_SAVINGS",
        "SWEEP",
        "CHRISTOFIDES",
        "ALL_UNPERFORMED",
        "BEST_INSERTION",
        "PARALLEL_CHEAPEST_INSERTION",
        "SEQUENTIAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_COST_INSERTION",
        "GLOBAL_CHEAPEST_ARC",
        "LOCAL_CHEAPEST_ARC",
        "FIRST_UNBOUND_MIN_VALUE",
    }
)

#: Accepted names for :attr:`SolveParams.local_search_metaheuristic`.
LOCAL_SEARCH_METAHEURISTICS = frozenset(
    {
        "AUTOMATIC",
        "GREEDY_DESCENT",
        "GUIDED_LOCAL_SEARCH",
        "SIMULATED_ANNEALING",
        "TABU_SEARCH",
        "GENERIC_TABU_SEARCH",
    }
)


@dataclass(frozen=True, slots=True)
class SolveParams:
    """Parameters of :func:`matching.solve`.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget in seconds (> 0); :func:`matching.solve` keeps it for
        the whole call (:class:`matching.Solver` only for its OR-Tools search).
    solution_limit
        Stop after this many improving solutions (``None`` = no limit); on large
        models, where :func:`matching.solve` uses ruin and recreate, after this
        many rounds.  A search stopped only by a solution limit is deterministic;
        a search stopped by the time limit may depend on machine speed.
    drop_penalty
        Cost of leaving a rider of priority 1 unserved; multiplied by the
        rider's priority.  Must dominate any driving cost so that serving
        riders comes first (default 10^7).
    confirmed_drop_penalty
        Cost of leaving an already-confirmed rider unserved (default 10^12).
    arc_cost_weight
        Cost per second of driving (objective second level).
    vehicle_fixed_cost
        Fixed cost per used driver (0 for ridesharing; used to minimise the
        fleet in benchmarks).
    fairness_weight
        Weight of spreading riders across drivers (objective units per ride
        the driver already has; with ``arc_cost_weight=1`` seconds of
        driving).  Giving a driver who already has ``n`` rides (its
        :attr:`~matching.Driver.rides_before` plus riders of this plan) one
        more rider costs ``fairness_weight * n``, so the term is convex per
        driver (see :mod:`matching.fairness`).  It is capped per problem so
        that it never outweighs serving a rider: it trades against driving
        time only.  Default 0 (off: minimise driving only).
    first_solution_strategy
        OR-Tools ``FirstSolutionStrategy`` name.
    local_search_metaheuristic
        OR-Tools ``LocalSearchMetaheuristic`` name.
    guided_local_search_lambda
        Optional GLS lambda coefficient (``None`` = OR-Tools default).
    disabled_operators
        Names of OR-Tools local-search operators to switch off (fields of
        ``RoutingSearchParameters.local_search_operators`` such as
        ``"use_lin_kernighan"``).  Switching off operators that cannot help a
        problem makes each search step cheaper.
    construction
        How the first plan is built when no warm start is given:
        ``"ortools"`` (the first-solution strategy), ``"insertion"``
        (:func:`matching.insert_cheapest` rider by rider, by priority then
        earliest pickup) or ``"auto"`` (insertion for large models - more
        than 100 000 vehicle x node pairs - where OR-Tools' first-solution
        heuristics can use the whole time limit without finishing).
    prune
        Restrict drivers per rider with the pruning stage (recommended).
    log_search
        Let OR-Tools log the search to stderr.
    """

    time_limit_s: float = 5.0
    solution_limit: int | None = None
    drop_penalty: int = 10_000_000
    confirmed_drop_penalty: int = 1_000_000_000_000
    arc_cost_weight: int = 1
    vehicle_fixed_cost: int = 0
    fairness_weight: int = 0
    first_solution_strategy: str = "PARALLEL_CHEAPEST_INSERTION"
    local_search_metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    guided_local_search_lambda: float | None = None
    disabled_operators: frozenset[str] = frozenset()
    construction: str = "auto"
    prune: bool = True
    log_search: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise ValueError("time_limit_s: must be a finite number > 0")
        if self.solution_limit is not None and self.solution_limit < 1:
            raise ValueError("solution_limit: must be >= 1 or None")
        if self.drop_penalty < 1:
            raise ValueError("drop_penalty: must be >= 1")
        if self.confirmed_drop_penalty < self.drop_penalty:
            raise ValueError("confirmed_drop_penalty: must be >= drop_penalty")
        if self.arc_cost_weight < 0:
            raise ValueError("arc_cost_weight: must be >= 0")
        if self.vehicle_fixed_cost < 0:
            raise ValueError("vehicle_fixed_cost: must be >= 0")
        if self.fairness_weight < 0:
            raise ValueError("fairness_weight: must be >= 0")
        if self.first_solution_strategy not in FIRST_SOLUTION_STRATEGIES:
            raise ValueError(
                f"first_solution_strategy: unknown strategy {self.first_solution_strategy!r}"
            )
        if self.local_search_metaheuristic not in LOCAL_SEARCH_METAHEURISTICS:
            raise ValueError(
                "local_search_metaheuristic: unknown metaheuristic "
                f"{self.local_search_metaheuristic!r}"
            )
        if self.construction not in {"auto", "ortools", "insertion"}:
            raise ValueError(f"construction: unknown value {self.construction!r}")
        unknown = set(self.disabled_operators) - _OPERATOR_NAMES
        if unknown:
            raise ValueError(f"disabled_operators: unknown operators {sorted(unknown)}")
        if self.guided_local_search_lambda is not None and not (
            math.isfinite(self.guided_local_search_lambda) and self.guided_local_search_lambda > 0
        ):
            raise ValueError("guided_local_search_lambda: must be a finite number > 0")
