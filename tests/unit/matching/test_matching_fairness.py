"""The fairness weight: riders spread across willing drivers, never at a served rider's cost."""

from __future__ import annotations

import dataclasses

import pytest
from matching_testkit import FAST, driver, metric_matrix, random_problem, rider

from matching import (
    Driver,
    Problem,
    Result,
    SolveParams,
    Solver,
    StopKind,
    check,
    insert_cheapest,
    solve,
)
from matching.fairness import (
    effective_fairness_weight,
    fairness_cost,
    fairness_table,
    marginal_cost,
)

LINE = metric_matrix([(float(i), 0.0) for i in range(11)])
FAIR = dataclasses.replace(FAST, fairness_weight=60)


def riders_per_driver(res: Result) -> list[int]:
    return [sum(1 for s in rt.stops if s.kind is StopKind.PICKUP) for rt in res.routes]


def two_equal_drivers(**kw: object) -> Problem:
    """Two drivers 0 -> 10 with one seat and four riders one after another along the way:
    either driver can take all of them without any detour."""
    return Problem(
        LINE,
        (driver("a", 0, 10, seats=1, **kw), driver("b", 0, 10, seats=1)),
        tuple(rider(f"r{i}", 1 + 2 * i, 2 + 2 * i) for i in range(4)),
    )


def plan_cost(problem: Problem, params: SolveParams, res: Result) -> int:
    """The objective recomputed from the routes (every rider served, no fixed costs)."""
    weight = effective_fairness_weight(problem, params)
    total = 0
    for rt, d in zip(res.routes, problem.drivers, strict=True):
        total += params.arc_cost_weight * rt.driving_s
        riders = sum(1 for s in rt.stops if s.kind is StopKind.PICKUP)
        total += fairness_cost(weight, d.rides_before, riders)
    return total


def test_cost_is_convex_in_rides() -> None:
    assert [marginal_cost(60, 2, k) for k in range(4)] == [120, 180, 240, 300]
    assert fairness_cost(60, 2, 3) == 120 + 180 + 240
    assert fairness_cost(60, 5, 0) == 0
    for k in range(6):
        assert fairness_cost(7, 3, k + 1) - fairness_cost(7, 3, k) == marginal_cost(7, 3, k)


def test_the_table_holds_each_drivers_cost_per_rider_count() -> None:
    p = two_equal_drivers(rides_before=5)
    table = fairness_table(p, FAIR, max_riders=4)
    assert table.shape == (2, 5)
    assert table.tolist() == [
        [fairness_cost(60, 5, j) for j in range(5)],
        [fairness_cost(60, 0, j) for j in range(5)],
    ]
    assert not fairness_table(p, FAST).any()
    assert fairness_table(p, FAIR).shape == (2, 5)  # riders + 1 columns by default


def test_weight_off_bunches_weight_on_spreads() -> None:
    p = two_equal_drivers()
    # Without the weight every split costs the same driving; insertion keeps the first driver.
    off = Solver(p, dataclasses.replace(FAST, construction="insertion")).solve()
    assert check(p, off) == []
    assert riders_per_driver(off) == [4, 0]
    for construction in ("ortools", "insertion"):
        params = dataclasses.replace(FAIR, construction=construction)
        on = Solver(p, params).solve()
        assert check(p, on) == []
        assert riders_per_driver(on) == [2, 2]
        assert on.total_added_driving_s == off.total_added_driving_s == 0
    on = solve(p, FAIR)
    assert check(p, on) == []
    assert riders_per_driver(on) == [2, 2]
    # 2 x 600 s of driving, and per driver 60 x (0 + 1) for its second rider.
    assert on.objective == plan_cost(p, FAIR, on) == 1200 + 2 * 60


def test_rides_before_send_the_riders_to_the_driver_with_fewer() -> None:
    p = two_equal_drivers(rides_before=5)
    res = solve(p, dataclasses.replace(FAIR, construction="ortools"))
    assert check(p, res) == []
    # b taking all four costs 60 x (0+1+2+3) = 360 < a taking one (300) + b three (180).
    assert riders_per_driver(res) == [0, 4]
    assert res.objective == plan_cost(p, FAIR, res)


@pytest.mark.parametrize(("rides_before", "winner"), [(1, "a"), (2, "b")])
def test_fairness_trades_against_added_driving(rides_before: int, winner: str) -> None:
    # a drives 0 -> 4 through the rider's stops; b starts 2 units off and detours 63 s.
    m = metric_matrix([(0.0, 0.0), (0.0, 2.0), (1.0, 0.0), (9.0, 0.0), (10.0, 0.0)])
    drivers = (
        driver("a", 0, 4, rides_before=rides_before),
        driver("b", 1, 4),
    )
    p = Problem(m, drivers, (rider("r", 2, 3),))
    empty = Solver(Problem(m, drivers, ()), FAST).solve()
    ins = insert_cheapest(p, empty, p.riders[0], params=FAIR)
    assert ins is not None
    assert ins.driver_id == winner
    # a's marginal is 60 x rides_before (60 or 120); b's is 63 s of driving.
    assert ins.fairness_cost == (60 * rides_before if winner == "a" else 0)
    assert ins.added_driving_s == (0 if winner == "a" else 63)
    res = solve(p, FAIR)
    assert set(res.assignments) == {"r"}
    assert res.assignments["r"].driver_id == winner


def test_weight_never_drops_a_rider() -> None:
    # One driver who already gave many rides; an enormous weight is capped below the penalty.
    p = Problem(
        LINE,
        (driver("a", 0, 10, seats=1, rides_before=90),),
        tuple(rider(f"r{i}", 1 + 2 * i, 2 + 2 * i) for i in range(4)),
    )
    huge = dataclasses.replace(FAST, fairness_weight=10**9, drop_penalty=1_000)
    assert effective_fairness_weight(p, huge) == 999 // (90 + 4 + 1)
    for construction in ("ortools", "insertion"):
        res = solve(p, dataclasses.replace(huge, construction=construction))
        assert check(p, res) == []
        assert res.num_served == 4
    assert solve(p, dataclasses.replace(huge, fairness_weight=0)).num_served == 4


@pytest.mark.parametrize("seed", range(3))
def test_weight_serves_as_many_random_riders(seed: int) -> None:
    base = random_problem(70 + seed, n_drivers=5, n_riders=12)
    p = Problem(
        base.travel_time_s,
        tuple(dataclasses.replace(d, rides_before=3 * i) for i, d in enumerate(base.drivers)),
        base.riders,
    )
    off = solve(p, FAST)
    on = solve(p, FAIR)
    assert check(p, on) == []
    assert on.num_served >= off.num_served


def test_deterministic_for_a_seed_small_and_large() -> None:
    small = random_problem(81, n_drivers=5, n_riders=12)
    large = random_problem(82, n_drivers=40, n_riders=200)
    for base, params in ((small, FAIR), (large, SolveParams(120.0, 5, fairness_weight=60))):
        p = Problem(
            base.travel_time_s,
            tuple(dataclasses.replace(d, rides_before=i % 4) for i, d in enumerate(base.drivers)),
            base.riders,
        )
        a = solve(p, params, seed=3)
        b = solve(p, params, seed=3)
        assert check(p, a) == []
        assert a.assignments == b.assignments
        assert a.objective == b.objective


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="fairness_weight"):
        SolveParams(fairness_weight=-1)
    with pytest.raises(ValueError, match="rides_before"):
        Driver("d", "p", 0, 1, 0, 0, 100, 1, rides_before=-1)
