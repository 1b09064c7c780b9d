"""matching: pure optimisation library for ride matching (no I/O).

Volunteer drivers with free seats are matched with riders who need a ride
(a pickup-and-delivery problem with time windows), solved with OR-Tools
routing.  The public API is flat::

    from matching import Problem, Driver, Rider, Candidate, SolveParams, solve, check

    result = solve(problem, SolveParams(time_limit_s=2), seed=0)
    assert not check(problem, result)

See :func:`solve`, :func:`check`, :func:`insert_cheapest`,
:mod:`matching.fairness` (spreading riders across drivers),
:mod:`matching.lns` (the compiled ruin and recreate that searches large
models) and :mod:`matching.lilim` (benchmark adapter).
"""

from matching import fairness, lilim, lns
from matching.check import (
    InvalidResultError,
    Violation,
    ViolationKind,
    assert_valid,
    check,
    check_route,
)
from matching.insertion import Insertion, apply_insertion, insert_cheapest, remove_riders
from matching.model import (
    DEFAULT_MAX_DETOUR_PCT,
    DEFAULT_MAX_DETOUR_S,
    Candidate,
    Driver,
    Problem,
    Rider,
    default_max_ride_s,
)
from matching.params import SolveParams
from matching.prune import Pruning, prune
from matching.result import (
    Assignment,
    Result,
    Route,
    SolveStatus,
    Stop,
    StopKind,
    UnservedReason,
)
from matching.solver import Solver, solve

__all__ = [
    "DEFAULT_MAX_DETOUR_PCT",
    "DEFAULT_MAX_DETOUR_S",
    "Assignment",
    "Candidate",
    "Driver",
    "Insertion",
    "InvalidResultError",
    "Problem",
    "Pruning",
    "Result",
    "Rider",
    "Route",
    "SolveParams",
    "SolveStatus",
    "Solver",
    "Stop",
    "StopKind",
    "UnservedReason",
    "Violation",
    "ViolationKind",
    "apply_insertion",
    "assert_valid",
    "check",
    "check_route",
    "default_max_ride_s",
    "fairness",
    "insert_cheapest",
    "lilim",
    "lns",
    "prune",
    "remove_riders",
    "solve",
]
