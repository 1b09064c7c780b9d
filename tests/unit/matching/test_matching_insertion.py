"""Cheapest insertion of a new rider into an existing plan."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from matching_testkit import FAST, driver, metric_matrix, random_problem, rider, solve_checked

from matching import (
    Assignment,
    Insertion,
    Problem,
    Result,
    Rider,
    Solver,
    Stop,
    StopKind,
    UnservedReason,
    apply_insertion,
    check,
    insert_cheapest,
    remove_riders,
)
from matching._schedule import SeqStop, route_times
from matching.insertion import _sequence


def _brute_force(problem: Problem, current: Result, new: Rider) -> int | None:
    """Minimum added driving over all feasible insertions (exhaustive)."""
    m = problem.travel_time_s
    best: int | None = None
    for route in current.routes:
        d = problem.drivers[problem.driver_index(route.driver_id)]
        if d.person_id == new.person_id or not new.needs <= d.features:
            continue
        seq = _sequence(problem, route)
        for pc in new.pickups:
            for dc in new.dropoffs:
                for i in range(len(seq) + 1):
                    for j in range(i, len(seq) + 1):
                        s2: list[SeqStop] = [
                            *seq[:i],
                            (new, StopKind.PICKUP, pc),
                            *seq[i:j],
                            (new, StopKind.DROPOFF, dc),
                            *seq[j:],
                        ]
                        load, ok = 0, True
                        for r, k, _ in s2:
                            load += r.passengers if k is StopKind.PICKUP else -r.passengers
                            ok = ok and load <= d.seats
                        if not ok or route_times(problem, d, s2) is None:
                            continue
                        locs = [d.start, *(c.location for _, _, c in s2), d.end]
                        driving = sum(int(m[a, b]) for a, b in itertools.pairwise(locs))
                        delta = driving - route.driving_s
                        best = delta if best is None else min(best, delta)
    return best


def _apply(problem: Problem, current: Result, new: Rider, ins: Insertion) -> tuple[Problem, Result]:
    """The plan and problem after accepting the insertion."""
    routes = tuple(ins.route if r.driver_id == ins.driver_id else r for r in current.routes)
    assignments = {k: v for k, v in current.assignments.items() if v.driver_id != ins.driver_id}
    picks: dict[str, Stop] = {}
    for s in ins.route.stops:
        if s.kind is StopKind.PICKUP:
            picks[s.rider_id] = s
        else:
            p = picks[s.rider_id]
            assignments[s.rider_id] = Assignment(
                s.rider_id, ins.driver_id, p.location, s.location, p.arrival_s, s.arrival_s
            )
    p2 = Problem(problem.travel_time_s, problem.drivers, (*problem.riders, new))
    res2 = dataclasses.replace(
        current,
        routes=routes,
        assignments=assignments,
        total_added_driving_s=sum(r.added_driving_s for r in routes),
    )
    return p2, res2


@pytest.mark.parametrize("seed", range(10))
def test_insertion_is_cheapest_and_valid(seed: int) -> None:
    full = random_problem(200 + seed, n_drivers=3, n_riders=7)
    new = full.riders[-1]
    base = Problem(full.travel_time_s, full.drivers, full.riders[:-1])
    current = solve_checked(base, FAST)
    ins = insert_cheapest(base, current, new)
    expected = _brute_force(base, current, new)
    if expected is None:
        assert ins is None
        return
    assert ins is not None
    assert ins.added_driving_s == expected
    assert ins.route.stops[ins.pickup_index].rider_id == new.id
    assert ins.route.stops[ins.dropoff_index].kind is StopKind.DROPOFF
    p2, res2 = _apply(base, current, new, ins)
    assert check(p2, res2) == []


def test_insertion_into_empty_plan_and_rejections() -> None:
    m = metric_matrix([(float(i), 0.0) for i in range(11)])
    p = Problem(m, (driver("d", 0, 10, seats=1),), ())
    empty = solve_checked(p, FAST)
    ins = insert_cheapest(p, empty, rider("n", 2, 8, board_s=60))
    assert ins is not None
    assert ins.added_driving_s == 0
    assert (ins.pickup_location, ins.dropoff_location) == (2, 8)
    assert ins.dropoff_s - ins.pickup_s == 60 + 360
    # Needs not met, too many passengers, or the driver themself: nothing.
    assert insert_cheapest(p, empty, rider("w", 2, 8, needs=frozenset({"wheelchair"}))) is None
    assert insert_cheapest(p, empty, rider("big", 2, 8, passengers=2)) is None
    assert insert_cheapest(p, empty, rider("me", 2, 8, person_id="person-d")) is None


def test_insertion_respects_seats_over_time() -> None:
    m = metric_matrix([(float(i), 0.0) for i in range(11)])
    p = Problem(m, (driver("d", 0, 10, seats=1, max_detour_s=0),), (rider("a", 2, 5),))
    current = solve_checked(p, FAST)
    # Overlapping ride needs a second seat: impossible.
    assert insert_cheapest(p, current, rider("x", 3, 8)) is None
    # A ride after "a" got off fits the single seat.
    ins = insert_cheapest(p, current, rider("y", 6, 9))
    assert ins is not None
    assert [s.rider_id for s in ins.route.stops] == ["a", "a", "y", "y"]


def test_already_served_rider_is_rejected() -> None:
    m = metric_matrix([(float(i), 0.0) for i in range(11)])
    p = Problem(m, (driver("d", 0, 10),), (rider("a", 2, 5),))
    current = solve_checked(p, FAST)
    with pytest.raises(ValueError, match="rider"):
        insert_cheapest(p, current, p.riders[0])


def test_remove_then_reinsert_round_trip() -> None:
    p = random_problem(7, n_drivers=3, n_riders=7)
    current = solve_checked(p, FAST)
    assert current.assignments
    rid = sorted(current.assignments)[0]
    without = remove_riders(p, current, [rid])
    assert check(p, without) == []
    assert without.unserved[rid] is UnservedReason.NOT_CHOSEN
    assert rid not in without.assignments
    assert without.total_added_driving_s <= current.total_added_driving_s
    ins = insert_cheapest(p, without, p.riders[p.rider_index(rid)])
    assert ins is not None
    again = apply_insertion(without, ins)
    assert check(p, again) == []
    assert rid in again.assignments
    assert rid not in again.unserved
    assert again.total_added_driving_s <= current.total_added_driving_s


def test_solver_can_search_repeatedly() -> None:
    p = random_problem(9, n_drivers=3, n_riders=7)
    solver = Solver(p, FAST)
    first = solver.solve()
    assert check(p, first) == []
    rid = sorted(first.assignments)[0] if first.assignments else None
    partial = remove_riders(p, first, [rid] if rid else [])
    second = solver.solve(partial, solution_limit=50, local_search_metaheuristic="GREEDY_DESCENT")
    assert check(p, second) == []
    assert second.num_served >= partial.num_served
