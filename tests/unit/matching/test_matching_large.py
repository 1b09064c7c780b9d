"""Large instances: :func:`matching.solve` keeps its time limit and never falls below greedy."""

from __future__ import annotations

import time

import pytest
from matching_testkit import FAST, random_problem

from matching import Problem, SolveParams, check, solve
from matching.prune import prune
from matching.solver import _greedy


def greedy_served(problem: Problem) -> int:
    pr = prune(problem)
    active = [i for i, allowed in enumerate(pr.allowed) if allowed]
    return _greedy(problem, pr, active).num_served


def test_large_instance_keeps_time_limit_and_serves_at_least_greedy() -> None:
    p = random_problem(5, n_drivers=80, n_riders=400)
    limit = 2.0
    t0 = time.perf_counter()
    res = solve(p, SolveParams(time_limit_s=limit), seed=1)
    wall = time.perf_counter() - t0
    assert check(p, res) == []
    assert wall <= 3 * limit + 5.0
    assert res.num_served >= greedy_served(p) > 0
    assert res.num_served + len(res.unserved) == len(p.riders)


def test_large_instance_is_deterministic_with_solution_limit() -> None:
    p = random_problem(6, n_drivers=40, n_riders=200)
    params = SolveParams(time_limit_s=120.0, solution_limit=5)
    a = solve(p, params, seed=2)
    b = solve(p, params, seed=2)
    assert check(p, a) == []
    assert a.assignments == b.assignments
    assert a.objective == b.objective
    assert a.unserved == b.unserved


@pytest.mark.parametrize("seed", range(4))
def test_small_instances_serve_at_least_greedy(seed: int) -> None:
    p = random_problem(60 + seed, n_drivers=5, n_riders=12)
    res = solve(p, FAST)
    assert check(p, res) == []
    assert res.num_served >= greedy_served(p)
