"""Mutation tests: :func:`matching.check` must catch every way of breaking a valid result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from matching_testkit import driver, metric_matrix, rider, solve_checked

from matching import (
    Driver,
    InvalidResultError,
    Problem,
    Result,
    Rider,
    Route,
    Stop,
    StopKind,
    UnservedReason,
    ViolationKind,
    assert_valid,
    check,
)

M = metric_matrix([(float(i), 0.0) for i in range(11)] + [(5.0, 2.0)])


def _problem(**overrides: object) -> Problem:
    drivers = [
        driver("d1", 0, 10, seats=2),
        driver("d2", 1, 10, seats=2, confirmed_rider_ids=("c",)),
    ]
    riders = [
        rider("a", 1, 9, board_s=30),
        rider("b", 2, 8),
        rider("c", 3, 7),
    ]
    for key, value in overrides.items():
        kind, name, field = key.split("__")
        if kind == "driver":
            i = next(k for k, d in enumerate(drivers) if d.id == name)
            drivers[i] = dataclasses.replace(drivers[i], **{field: value})
        else:
            i = next(k for k, r in enumerate(riders) if r.id == name)
            riders[i] = dataclasses.replace(riders[i], **{field: value})
    return Problem(M, tuple(drivers), tuple(riders))


@pytest.fixture(scope="module")
def base() -> tuple[Problem, Result]:
    p = _problem()
    res = solve_checked(p)
    assert res.num_served == 3
    return p, res


def _route_with(res: Result, rider_id: str) -> tuple[int, Route]:
    for i, r in enumerate(res.routes):
        if any(s.rider_id == rider_id for s in r.stops):
            return i, r
    raise AssertionError(rider_id)


def _replace_route(res: Result, i: int, route: Route) -> Result:
    routes = list(res.routes)
    routes[i] = route
    return dataclasses.replace(res, routes=tuple(routes))


def _shift_stop(res: Result, rider_id: str, kind: StopKind, delta: int) -> Result:
    i, route = _route_with(res, rider_id)
    stops = [
        dataclasses.replace(s, arrival_s=s.arrival_s + delta, departure_s=s.departure_s + delta)
        if s.rider_id == rider_id and s.kind is kind
        else s
        for s in route.stops
    ]
    return _replace_route(res, i, dataclasses.replace(route, stops=tuple(stops)))


def kinds(p: Problem, res: Result) -> set[ViolationKind]:
    return {v.kind for v in check(p, res)}


def test_valid_result_passes(base: tuple[Problem, Result]) -> None:
    p, res = base
    assert check(p, res) == []
    assert_valid(p, res)


def test_drop_before_pickup(base: tuple[Problem, Result]) -> None:
    p, res = base
    i, route = _route_with(res, "a")
    stops = list(route.stops)
    pi = next(k for k, s in enumerate(stops) if s.rider_id == "a" and s.kind is StopKind.PICKUP)
    di = next(k for k, s in enumerate(stops) if s.rider_id == "a" and s.kind is StopKind.DROPOFF)
    stops[pi], stops[di] = stops[di], stops[pi]
    bad = _replace_route(res, i, dataclasses.replace(route, stops=tuple(stops)))
    assert ViolationKind.ORDER in kinds(p, bad)


def test_missing_dropoff(base: tuple[Problem, Result]) -> None:
    p, res = base
    i, route = _route_with(res, "b")
    stops = tuple(s for s in route.stops if not (s.rider_id == "b" and s.kind is StopKind.DROPOFF))
    bad = _replace_route(res, i, dataclasses.replace(route, stops=stops))
    assert ViolationKind.ORDER in kinds(p, bad)


def test_seats(base: tuple[Problem, Result]) -> None:
    _, res = base
    p = _problem(driver__d1__seats=0, driver__d2__seats=0)
    assert ViolationKind.SEATS in kinds(p, res)


def test_too_fast_travel(base: tuple[Problem, Result]) -> None:
    p, res = base
    bad = _shift_stop(res, "b", StopKind.DROPOFF, -400)
    assert ViolationKind.TRAVEL_TIME in kinds(p, bad)


def test_dwell_skipped(base: tuple[Problem, Result]) -> None:
    p, res = base
    i, route = _route_with(res, "a")
    stops = tuple(
        dataclasses.replace(s, departure_s=s.arrival_s) if s.rider_id == "a" else s
        for s in route.stops
    )
    bad = _replace_route(res, i, dataclasses.replace(route, stops=stops))
    assert ViolationKind.DWELL in kinds(p, bad)


def test_time_windows(base: tuple[Problem, Result]) -> None:
    _, res = base
    pick = res.assignments["b"].pickup_s
    p = _problem(rider__b__earliest_pickup_s=pick + 1)
    assert ViolationKind.TIME_WINDOW in kinds(p, res)
    drop = res.assignments["b"].dropoff_s
    p2 = _problem(rider__b__latest_dropoff_s=drop - 1)
    assert ViolationKind.TIME_WINDOW in kinds(p2, res)
    p3 = _problem(rider__b__latest_pickup_s=pick - 1)
    assert ViolationKind.TIME_WINDOW in kinds(p3, res)


def test_departure_window_and_late_arrival(base: tuple[Problem, Result]) -> None:
    _, res = base
    i, route = _route_with(res, "a")
    did = route.driver_id
    p = _problem(**{f"driver__{did}__latest_arrival_s": route.end_s - 1})
    assert ViolationKind.LATE_ARRIVAL in kinds(p, res)
    p2 = _problem()
    bad = _replace_route(res, i, dataclasses.replace(route, start_s=-1))
    assert ViolationKind.DEPARTURE_WINDOW in kinds(p2, bad)


def test_detour_limit(base: tuple[Problem, Result]) -> None:
    _, res = base
    # Stretch the route: leave on time but arrive 1000 s later than planned.
    i, route = _route_with(res, "a")
    p = _problem()
    bad = _replace_route(res, i, dataclasses.replace(route, end_s=route.end_s + 1000))
    assert ViolationKind.DETOUR in kinds(p, bad)


def test_ride_time(base: tuple[Problem, Result]) -> None:
    _, res = base
    ride = res.assignments["a"].ride_s
    p = _problem(rider__a__max_ride_s=ride - 1)
    assert ViolationKind.RIDE_TIME in kinds(p, res)


def test_needs(base: tuple[Problem, Result]) -> None:
    _, res = base
    p = _problem(rider__b__needs=frozenset({"wheelchair"}))
    assert ViolationKind.NEEDS in kinds(p, res)


def test_self_match(base: tuple[Problem, Result]) -> None:
    _, res = base
    did = res.assignments["b"].driver_id
    p = _problem(rider__b__person_id=f"person-{did}")
    assert ViolationKind.SELF_MATCH in kinds(p, res)


def test_confirmed_rider_moved_or_dropped(base: tuple[Problem, Result]) -> None:
    p, res = base
    i, route = _route_with(res, "c")
    stops = tuple(s for s in route.stops if s.rider_id != "c")
    assignments = {k: v for k, v in res.assignments.items() if k != "c"}
    bad = dataclasses.replace(
        _replace_route(res, i, dataclasses.replace(route, stops=stops)),
        assignments=assignments,
        unserved={
            **res.unserved,
            "c": UnservedReason.NOT_CHOSEN,
        },
    )
    assert ViolationKind.CONFIRMED in kinds(p, bad)


def test_rider_served_twice(base: tuple[Problem, Result]) -> None:
    p, res = base
    i, route = _route_with(res, "a")
    j = 1 - i
    other = res.routes[j]
    extra = tuple(s for s in route.stops if s.rider_id == "a")
    bad = _replace_route(res, j, dataclasses.replace(other, stops=other.stops + extra))
    assert ViolationKind.DUPLICATE in kinds(p, bad)


def test_wrong_location(base: tuple[Problem, Result]) -> None:
    p, res = base
    i, route = _route_with(res, "b")
    stops = tuple(
        dataclasses.replace(s, location=5) if s.rider_id == "b" and s.kind is StopKind.PICKUP else s
        for s in route.stops
    )
    bad = _replace_route(res, i, dataclasses.replace(route, stops=stops))
    assert ViolationKind.BAD_LOCATION in kinds(p, bad)


def test_unknown_rider_and_driver(base: tuple[Problem, Result]) -> None:
    p, res = base
    route = res.routes[0]
    ghost = Stop("ghost", StopKind.PICKUP, 1, route.start_s + 60, route.start_s + 60)
    bad = _replace_route(res, 0, dataclasses.replace(route, stops=(ghost, *route.stops)))
    assert ViolationKind.UNKNOWN_RIDER in kinds(p, bad)
    bad2 = _replace_route(res, 0, dataclasses.replace(route, driver_id="nobody"))
    assert {ViolationKind.UNKNOWN_DRIVER, ViolationKind.MISSING_ROUTE} <= kinds(p, bad2)


def test_bookkeeping(base: tuple[Problem, Result]) -> None:
    p, res = base
    bad = dataclasses.replace(res, total_added_driving_s=res.total_added_driving_s + 1)
    assert ViolationKind.INCONSISTENT in kinds(p, bad)
    a = res.assignments["a"]
    bad2 = dataclasses.replace(
        res, assignments={**res.assignments, "a": dataclasses.replace(a, pickup_s=a.pickup_s + 1)}
    )
    assert ViolationKind.INCONSISTENT in kinds(p, bad2)
    i, route = _route_with(res, "a")
    bad3 = _replace_route(res, i, dataclasses.replace(route, driving_s=route.driving_s - 1))
    assert ViolationKind.INCONSISTENT in kinds(p, bad3)
    bad4 = dataclasses.replace(
        res, assignments={k: v for k, v in res.assignments.items() if k != "a"}
    )
    assert ViolationKind.INCONSISTENT in kinds(p, bad4)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: _shift_stop(r, "a", StopKind.PICKUP, -10_000),
        lambda r: _shift_stop(r, "c", StopKind.DROPOFF, -10_000),
    ],
)
def test_assert_valid_raises(
    base: tuple[Problem, Result], mutate: Callable[[Result], Result]
) -> None:
    p, res = base
    with pytest.raises(InvalidResultError) as info:
        assert_valid(p, mutate(res))
    assert info.value.violations


def test_types_are_exported() -> None:
    assert Driver.__name__ == "Driver"
    assert Rider.__name__ == "Rider"
