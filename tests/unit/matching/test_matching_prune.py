"""Pruning must never remove a driver-rider pair that a feasible plan could use."""

from __future__ import annotations

import numpy as np
import pytest
from matching_testkit import random_problem, solve_checked

from matching import SolveParams, StopKind, check, prune, solve
from matching._schedule import route_times
from matching.prune import STAGE_OK, DriverArrays, driver_stages


@pytest.mark.parametrize("seed", range(25))
def test_pruning_keeps_every_pair_feasible_alone(seed: int) -> None:
    """Exhaustive over pairs: if the rider alone fits the driver, pruning keeps it."""
    p = random_problem(seed, n_drivers=5, n_riders=8)
    arrays = DriverArrays.of(p)
    for r in p.riders:
        stages = driver_stages(p, arrays, r)
        for v, d in enumerate(p.drivers):
            alone = (
                d.person_id != r.person_id
                and r.needs <= d.features
                and r.passengers <= d.seats
                and any(
                    route_times(p, d, [(r, StopKind.PICKUP, pc), (r, StopKind.DROPOFF, dc)])
                    is not None
                    for pc in r.pickups
                    for dc in r.dropoffs
                )
            )
            if alone:
                assert stages[v] == STAGE_OK, (r.id, d.id, int(stages[v]))


@pytest.mark.parametrize("seed", range(8))
def test_unpruned_solution_only_uses_allowed_pairs(seed: int) -> None:
    """Property: pairs used by the solver without pruning survive pruning."""
    p = random_problem(100 + seed, n_drivers=4, n_riders=8)
    allowed = prune(p).allowed
    unpruned = solve_checked(p, SolveParams(time_limit_s=3.0, solution_limit=150, prune=False))
    for rid, a in unpruned.assignments.items():
        assert p.driver_index(a.driver_id) in allowed[p.rider_index(rid)], rid
    # Hence the unpruned plan is a valid start for the pruned model, and the
    # pruned search started from it can only improve it.
    pruned = solve(p, SolveParams(time_limit_s=3.0, solution_limit=150), initial=unpruned)
    assert check(p, pruned) == []
    assert pruned.objective <= unpruned.objective


def test_riders_without_candidates_get_a_reason_and_skip_the_solver() -> None:
    p = random_problem(3, n_drivers=3, n_riders=8)
    pr = prune(p)
    for r, allowed in zip(p.riders, pr.allowed, strict=True):
        assert (len(allowed) == 0) == (r.id in pr.reasons)
    res = solve_checked(p)
    for rid, reason in pr.reasons.items():
        assert res.unserved[rid] is reason


def test_stages_vectorised_shape() -> None:
    p = random_problem(1)
    stages = driver_stages(p, DriverArrays.of(p), p.riders[0])
    assert stages.shape == (len(p.drivers),)
    assert stages.dtype == np.int64
