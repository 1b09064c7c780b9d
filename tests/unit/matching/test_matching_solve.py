"""Small hand-made instances with known answers for :func:`matching.solve`."""

from __future__ import annotations

import numpy as np
import pytest
from matching_testkit import FAST, driver, metric_matrix, random_problem, rider, solve_checked

from matching import (
    Problem,
    SolveParams,
    Solver,
    SolveStatus,
    StopKind,
    UnservedReason,
    check,
    solve,
)

# Locations 0..10 on a line, 60 s apart; 11 = (5, 2) and 12 = (5, 8) off the line.
POINTS = [(float(i), 0.0) for i in range(11)] + [(5.0, 2.0), (5.0, 8.0)]
M = metric_matrix(POINTS)


def test_one_seat_two_riders_one_is_served() -> None:
    p = Problem(
        M,
        (driver("d", 0, 10, seats=1),),
        (rider("a", 1, 9), rider("b", 2, 8)),
    )
    res = solve_checked(p)
    assert res.num_served == 1
    assert len(res.unserved) == 1
    (reason,) = res.unserved.values()
    assert reason is UnservedReason.NOT_CHOSEN
    assert res.total_added_driving_s == 0
    assert res.status in {SolveStatus.FEASIBLE, SolveStatus.OPTIMAL}


def test_priority_decides_who_gets_the_seat() -> None:
    for prio_a, prio_b, winner in [(1, 2, "b"), (2, 1, "a")]:
        p = Problem(
            M,
            (driver("d", 0, 10, seats=1),),
            (rider("a", 1, 9, priority=prio_a), rider("b", 2, 8, priority=prio_b)),
        )
        res = solve_checked(p)
        assert set(res.assignments) == {winner}


def test_sequential_riders_share_one_seat() -> None:
    p = Problem(M, (driver("d", 0, 10, seats=1),), (rider("a", 1, 4), rider("b", 5, 9)))
    res = solve_checked(p)
    assert res.num_served == 2
    kinds = [(s.rider_id, s.kind) for s in res.routes[0].stops]
    assert kinds == [
        ("a", StopKind.PICKUP),
        ("a", StopKind.DROPOFF),
        ("b", StopKind.PICKUP),
        ("b", StopKind.DROPOFF),
    ]


def test_seat_count_and_no_free_seat_reason() -> None:
    p = Problem(M, (driver("d", 0, 10, seats=2),), (rider("big", 1, 9, passengers=3),))
    res = solve_checked(p)
    assert res.unserved == {"big": UnservedReason.NO_FREE_SEAT}
    p2 = Problem(M, (driver("d", 0, 10, seats=3),), (rider("big", 1, 9, passengers=3),))
    assert solve_checked(p2).num_served == 1


def test_detour_limit_binding() -> None:
    # Pickup at (5, 2): detour 2 * ceil(60 * sqrt(29)) - 600 = 48 s... use (5, 8).
    detour = int(M[0, 12] + M[12, 10] - M[0, 10])
    p_tight = Problem(M, (driver("d", 0, 10, max_detour_s=detour - 1),), (rider("r", 12, 10),))
    res = solve_checked(p_tight)
    assert res.unserved == {"r": UnservedReason.OUTSIDE_EVERY_CORRIDOR}
    p_ok = Problem(
        M,
        (driver("d", 0, 10, max_detour_s=detour, max_detour_pct=None),),
        (rider("r", 12, 10),),
    )
    res = solve_checked(p_ok)
    assert res.num_served == 1
    assert res.routes[0].added_driving_s == detour
    # The percentage bound also binds (50 % of 600 s direct = 300 s < detour).
    p_pct = Problem(M, (driver("d", 0, 10, max_detour_s=10_000),), (rider("r", 12, 10),))
    assert detour > 300
    assert solve_checked(p_pct).num_served == 0


def test_waiting_counts_against_the_detour_budget() -> None:
    # On the way, no geometric detour, but the driver would wait 1700 s.
    p = Problem(M, (driver("d", 0, 10, ed=0, ld=0),), (rider("r", 5, 6, ep=2000),))
    res = solve_checked(p)
    assert res.unserved == {"r": UnservedReason.DETOUR_TOO_LARGE}
    # With a flexible departure the driver simply leaves later.
    p2 = Problem(M, (driver("d", 0, 10, ed=0, ld=3000),), (rider("r", 5, 6, ep=2000),))
    res2 = solve_checked(p2)
    assert res2.num_served == 1
    assert res2.routes[0].start_s == 2000 - 300
    assert res2.assignments["r"].pickup_s == 2000


def test_ride_time_limit_binding() -> None:
    # "a" rides 1 -> 9 directly in 480 s; picking "b" up at (5, 2) on the way costs
    # ``extra`` seconds; the detour budget rules out fetching "b" before "a".
    extra = int(M[1, 11] + M[11, 9] - M[1, 9])
    riders_loose = (rider("a", 1, 9), rider("b", 11, 9))
    p = Problem(
        M, (driver("d", 0, 10, max_detour_s=extra + 10, max_detour_pct=None),), riders_loose
    )
    assert solve_checked(p).num_served == 2
    riders_tight = (rider("a", 1, 9, max_ride_s=480 + extra - 1), rider("b", 11, 9))
    p2 = Problem(
        M, (driver("d", 0, 10, max_detour_s=extra + 10, max_detour_pct=None),), riders_tight
    )
    res = solve_checked(p2)
    assert res.num_served == 1
    riders_exact = (rider("a", 1, 9, max_ride_s=480 + extra), rider("b", 11, 9))
    p3 = Problem(
        M, (driver("d", 0, 10, max_detour_s=extra + 10, max_detour_pct=None),), riders_exact
    )
    assert solve_checked(p3).num_served == 2


def test_needs_are_hard_constraints() -> None:
    drivers = (
        driver("plain", 0, 10),
        driver("wc", 1, 10, features=frozenset({"wheelchair", "luggage"})),
    )
    p = Problem(M, drivers, (rider("r", 2, 9, needs=frozenset({"wheelchair"})),))
    res = solve_checked(p)
    assert res.assignments["r"].driver_id == "wc"
    p2 = Problem(M, drivers, (rider("r", 2, 9, needs=frozenset({"child_seat"})),))
    assert solve_checked(p2).unserved == {"r": UnservedReason.NEEDS_NOT_MET}


def test_confirmed_rider_stays_with_their_driver() -> None:
    drivers = (
        driver("near", 0, 10),
        driver("far", 11, 10, confirmed_rider_ids=("r",), max_detour_s=5000, max_detour_pct=None),
    )
    p = Problem(M, drivers, (rider("r", 1, 9), rider("s", 2, 8)))
    res = solve_checked(p)
    assert res.assignments["r"].driver_id == "far"
    assert res.assignments["s"].driver_id == "near"


def test_never_match_same_person() -> None:
    p = Problem(
        M,
        (driver("d", 0, 10, person_id="alice"),),
        (rider("r", 1, 9, person_id="alice"),),
    )
    res = solve_checked(p)
    assert res.num_served == 0
    assert res.unserved["r"] is UnservedReason.NO_DRIVER_IN_TIME_WINDOW
    assert res.status is SolveStatus.TRIVIAL


def test_time_window_reason() -> None:
    p = Problem(M, (driver("d", 0, 10, la=2000),), (rider("r", 1, 9, ep=5000),))
    assert solve_checked(p).unserved == {"r": UnservedReason.NO_DRIVER_IN_TIME_WINDOW}


def test_meeting_point_on_the_way_is_preferred_and_walk_shifts_window() -> None:
    # Home at (5, 8) is far off the route; the meeting point 5 is on it (walk 300 s).
    r = rider("r", [(12, 0), (5, 300)], [(9, 0)], ep=600)
    p = Problem(M, (driver("d", 0, 10, ld=5000),), (r,))
    res = solve_checked(p)
    a = res.assignments["r"]
    assert a.pickup_location == 5
    assert a.pickup_s >= 600 + 300
    assert res.routes[0].added_driving_s == 0


def test_dwell_times_are_scheduled() -> None:
    p = Problem(M, (driver("d", 0, 10),), (rider("r", 1, 9, board_s=60, alight_s=30),))
    res = solve_checked(p)
    pick, drop = res.routes[0].stops
    assert pick.departure_s == pick.arrival_s + 60
    assert drop.arrival_s >= pick.departure_s + 480
    assert res.routes[0].end_s >= drop.arrival_s + 30 + 60


def test_empty_problems_are_trivial() -> None:
    p = Problem(M, (driver("d", 0, 10),), ())
    res = solve_checked(p)
    assert res.status is SolveStatus.TRIVIAL
    assert res.routes[0].stops == ()
    p2 = Problem(M, (), (rider("r", 1, 2),))
    res2 = solve_checked(p2)
    assert res2.unserved == {"r": UnservedReason.NO_DRIVER_IN_TIME_WINDOW}


@pytest.mark.parametrize("seed", [0, 3])
def test_deterministic_for_fixed_seed_and_solution_limit(seed: int) -> None:
    p = random_problem(11, n_drivers=4, n_riders=8)
    params = SolveParams(time_limit_s=30.0, solution_limit=60)
    a = solve_checked(p, params, seed=seed)
    b = solve_checked(p, params, seed=seed)
    assert a.routes == b.routes
    assert a.unserved == b.unserved
    assert a.objective == b.objective


def test_warm_start_from_previous_result() -> None:
    p = random_problem(5, n_drivers=3, n_riders=6)
    first = solve_checked(p)
    again = solve(p, FAST, initial=first)
    assert again.objective <= first.objective
    assert solve_checked(p).objective == first.objective


def test_random_instances_are_valid() -> None:
    for seed in range(6):
        p = random_problem(seed)
        res = solve_checked(p)
        assert res.num_served + len(res.unserved) == len(p.riders)
        assert all(isinstance(v, UnservedReason) for v in res.unserved.values())
        # Served riders' assignments match the matrix-based ride time.
        for a in res.assignments.values():
            assert a.ride_s >= 0


def test_served_count_dominates_driving() -> None:
    # Serving the far rider costs a lot of driving but is worth it.
    p = Problem(
        M, (driver("d", 0, 10, max_detour_s=None, max_detour_pct=None),), (rider("r", 12, 10),)
    )
    res = solve_checked(p)
    assert res.num_served == 1
    assert res.total_added_driving_s == int(M[0, 12] + M[12, 10] - M[0, 10])
    assert np.all(M >= 0)


def test_unusable_candidate_does_not_break_the_model() -> None:
    # Candidate 12 needs a 10 000 s walk: its window is empty, the other one works.
    r = rider("r", [(12, 10_000), (5, 0)], [(9, 0)], ep=0, latest_pickup_s=3000, ldrop=5000)
    p = Problem(M, (driver("d", 0, 10, ld=3000, la=6000),), (r,))
    res = solve_checked(p)
    assert res.assignments["r"].pickup_location == 5


def test_solver_model_is_reusable() -> None:
    p = random_problem(21, n_drivers=3, n_riders=6)
    solver = Solver(p, FAST)
    a = solver.solve()
    b = solver.solve(a)
    assert check(p, a) == []
    assert check(p, b) == []
    assert b.objective <= a.objective


@pytest.mark.parametrize("seed", range(3))
def test_insertion_construction_gives_valid_plans(seed: int) -> None:
    p = random_problem(40 + seed, n_drivers=4, n_riders=8)
    params = SolveParams(time_limit_s=3.0, solution_limit=100, construction="insertion")
    res = solve_checked(p, params)
    ortools = solve_checked(p)
    assert res.num_served + len(res.unserved) == len(p.riders)
    assert ortools.num_served + len(ortools.unserved) == len(p.riders)


def test_construction_is_validated() -> None:
    with pytest.raises(ValueError, match="construction"):
        SolveParams(construction="magic")
