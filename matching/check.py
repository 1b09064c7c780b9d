"""Independent verification of a :class:`~matching.result.Result`.

:func:`check` re-derives every rule from the problem data and the travel-time
matrix alone - it shares no code with the solver - and returns the list of
violations (empty when the result is valid).  :func:`assert_valid` raises
:class:`InvalidResultError` listing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from matching.model import Problem, Rider
from matching.result import Result, Route, StopKind

__all__ = [
    "InvalidResultError",
    "Violation",
    "ViolationKind",
    "assert_valid",
    "check",
    "check_route",
]


class ViolationKind(StrEnum):
    """Category of a rule violation."""

    UNKNOWN_DRIVER = "unknown_driver"
    MISSING_ROUTE = "missing_route"
    UNKNOWN_RIDER = "unknown_rider"
    BAD_LOCATION = "bad_location"
    ORDER = "order"
    SEATS = "seats"
    TIME_WINDOW = "time_window"
    TRAVEL_TIME = "travel_time"
    DWELL = "dwell"
    DEPARTURE_WINDOW = "departure_window"
    LATE_ARRIVAL = "late_arrival"
    DETOUR = "detour"
    RIDE_TIME = "ride_time"
    NEEDS = "needs"
    CONFIRMED = "confirmed"
    SELF_MATCH = "self_match"
    DUPLICATE = "duplicate"
    INCONSISTENT = "inconsistent"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule.

    Parameters
    ----------
    kind
        Category.
    message
        Human-readable description.
    driver_id, rider_id
        The driver / rider concerned, when applicable.
    """

    kind: ViolationKind
    message: str
    driver_id: str | None = None
    rider_id: str | None = None


class InvalidResultError(AssertionError):
    """Raised by :func:`assert_valid`; ``violations`` holds the details."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "\n".join(f"- {v.kind}: {v.message}" for v in violations[:20])
        super().__init__(f"{len(violations)} violation(s):\n{lines}")


def _rider(problem: Problem, rider_id: str, extra: dict[str, Rider]) -> Rider | None:
    if problem.has_rider(rider_id):
        return problem.riders[problem.rider_index(rider_id)]
    return extra.get(rider_id)


def check_route(
    problem: Problem, route: Route, extra_riders: dict[str, Rider] | None = None
) -> list[Violation]:
    """Verify one driver's route.

    Parameters
    ----------
    problem
        The problem.
    route
        The route to verify.
    extra_riders
        Riders that are not part of ``problem`` but may appear in the route
        (used to verify a tentative insertion of a new rider).

    Returns
    -------
    list of Violation
        Empty if the route is valid.
    """
    extra = extra_riders or {}
    out: list[Violation] = []
    did = route.driver_id
    if not any(d.id == did for d in problem.drivers):
        return [Violation(ViolationKind.UNKNOWN_DRIVER, f"unknown driver {did!r}", did)]
    d = problem.drivers[problem.driver_index(did)]
    m = problem.travel_time_s
    n = problem.num_locations

    def add(kind: ViolationKind, msg: str, rid: str | None = None) -> None:
        out.append(Violation(kind, msg, did, rid))

    if not d.earliest_departure_s <= route.start_s <= d.latest_departure_s:
        add(ViolationKind.DEPARTURE_WINDOW, f"departure {route.start_s} outside window")
    load = 0
    prev_loc, prev_dep = d.start, route.start_s
    driving = 0
    picked: dict[str, int] = {}
    dropped: set[str] = set()
    for s in route.stops:
        r = _rider(problem, s.rider_id, extra)
        if r is None:
            add(ViolationKind.UNKNOWN_RIDER, f"unknown rider {s.rider_id!r}", s.rider_id)
            continue
        rid = r.id
        if not 0 <= s.location < n:
            add(ViolationKind.BAD_LOCATION, f"location {s.location} out of range", rid)
            continue
        travel = int(m[prev_loc, s.location])
        driving += travel
        if s.arrival_s < prev_dep + travel:
            add(
                ViolationKind.TRAVEL_TIME,
                f"arrival {s.arrival_s} at {s.location} before {prev_dep} + travel {travel}",
                rid,
            )
        if s.kind is StopKind.PICKUP:
            cands = {c.location: c for c in r.pickups}
            dwell = r.board_s
        else:
            cands = {c.location: c for c in r.dropoffs}
            dwell = r.alight_s
        if s.departure_s < s.arrival_s + dwell:
            add(ViolationKind.DWELL, f"departure {s.departure_s} before arrival + dwell", rid)
        cand = cands.get(s.location)
        if cand is None:
            add(ViolationKind.BAD_LOCATION, f"{s.kind} at non-candidate {s.location}", rid)
        if s.kind is StopKind.PICKUP:
            if rid in picked or rid in dropped:
                add(ViolationKind.DUPLICATE, "picked up twice", rid)
            picked[rid] = s.arrival_s
            load += r.passengers
            if cand is not None and s.arrival_s < r.earliest_pickup_s + cand.walk_s:
                add(ViolationKind.TIME_WINDOW, f"pickup {s.arrival_s} too early", rid)
            if r.latest_pickup_s is not None and s.arrival_s > r.latest_pickup_s:
                add(ViolationKind.TIME_WINDOW, f"pickup {s.arrival_s} too late", rid)
            if not r.needs <= d.features:
                add(ViolationKind.NEEDS, f"needs {sorted(r.needs - d.features)} not met", rid)
            if r.person_id == d.person_id:
                add(ViolationKind.SELF_MATCH, "rider is the driver", rid)
        else:
            if rid not in picked:
                add(ViolationKind.ORDER, "drop-off without earlier pickup", rid)
            elif rid in dropped:
                add(ViolationKind.DUPLICATE, "dropped off twice", rid)
            else:
                ride = s.arrival_s - picked[rid]
                if r.max_ride_s is not None and ride > r.max_ride_s:
                    add(ViolationKind.RIDE_TIME, f"ride {ride} > {r.max_ride_s}", rid)
                load -= r.passengers
            dropped.add(rid)
            if cand is not None and s.arrival_s > r.latest_dropoff_s - cand.walk_s:
                add(ViolationKind.TIME_WINDOW, f"drop-off {s.arrival_s} too late", rid)
            if r.earliest_dropoff_s is not None and s.arrival_s < r.earliest_dropoff_s:
                add(ViolationKind.TIME_WINDOW, f"drop-off {s.arrival_s} too early", rid)
        if load > d.seats:
            add(ViolationKind.SEATS, f"load {load} > seats {d.seats}", rid)
        prev_loc, prev_dep = s.location, s.departure_s
    for rid in picked:
        if rid not in dropped:
            add(ViolationKind.ORDER, "picked up but never dropped off", rid)
    travel = int(m[prev_loc, d.end])
    driving += travel
    if route.end_s < prev_dep + travel:
        add(ViolationKind.TRAVEL_TIME, f"end {route.end_s} before {prev_dep} + travel {travel}")
    if route.end_s > d.latest_arrival_s:
        add(ViolationKind.LATE_ARRIVAL, f"arrival {route.end_s} > {d.latest_arrival_s}")
    direct = int(m[d.start, d.end])
    budget = d.detour_budget_s(direct)
    if budget is not None and route.end_s - route.start_s > direct + budget:
        add(
            ViolationKind.DETOUR,
            f"trip {route.end_s - route.start_s} s > direct {direct} + budget {budget}",
        )
    if route.driving_s != driving or route.added_driving_s != driving - direct:
        add(ViolationKind.INCONSISTENT, "driving time does not match the matrix")
    return out


def check(problem: Problem, result: Result) -> list[Violation]:
    """Verify a result against every rule of the problem.

    Checked: every driver has exactly one route; stops use the rider's
    candidate places; pickup before drop-off on the same vehicle; seats at
    every moment; rider time windows (with walking); arrival >= previous
    departure + travel; dwell times; departure window and latest arrival;
    trip duration (detour) limit; ride-time limit; needs vs features;
    confirmed riders served by their driver; no self match; each rider at most
    once; assignments, unserved set and totals consistent with the routes.

    Parameters
    ----------
    problem
        The problem the result claims to solve.
    result
        The result.

    Returns
    -------
    list of Violation
        Empty if the result is valid.
    """
    out: list[Violation] = []
    seen_drivers: set[str] = set()
    served_by: dict[str, str] = {}
    for route in result.routes:
        if route.driver_id in seen_drivers:
            out.append(Violation(ViolationKind.DUPLICATE, "driver has two routes", route.driver_id))
        seen_drivers.add(route.driver_id)
        out.extend(check_route(problem, route))
        for s in route.stops:
            if s.kind is StopKind.PICKUP:
                if s.rider_id in served_by:
                    out.append(
                        Violation(
                            ViolationKind.DUPLICATE,
                            "rider served by two drivers",
                            route.driver_id,
                            s.rider_id,
                        )
                    )
                served_by[s.rider_id] = route.driver_id
    for d in problem.drivers:
        if d.id not in seen_drivers:
            out.append(Violation(ViolationKind.MISSING_ROUTE, "driver has no route", d.id))
        for rid in d.confirmed_rider_ids:
            if served_by.get(rid) != d.id:
                out.append(
                    Violation(
                        ViolationKind.CONFIRMED,
                        f"confirmed rider served by {served_by.get(rid)!r}",
                        d.id,
                        rid,
                    )
                )
    # Bookkeeping consistency.
    for rid, a in result.assignments.items():
        if served_by.get(rid) != a.driver_id:
            out.append(
                Violation(ViolationKind.INCONSISTENT, "assignment not in routes", a.driver_id, rid)
            )
            continue
        stops = [s for s in result.route_of(a.driver_id).stops if s.rider_id == rid]
        pick = [s for s in stops if s.kind is StopKind.PICKUP]
        drop = [s for s in stops if s.kind is StopKind.DROPOFF]
        if (
            len(pick) != 1
            or len(drop) != 1
            or (pick[0].location, pick[0].arrival_s, drop[0].location, drop[0].arrival_s)
            != (a.pickup_location, a.pickup_s, a.dropoff_location, a.dropoff_s)
        ):
            out.append(
                Violation(
                    ViolationKind.INCONSISTENT, "assignment differs from route", a.driver_id, rid
                )
            )
    incons = ViolationKind.INCONSISTENT
    for rid in served_by:
        if rid not in result.assignments:
            out.append(Violation(incons, "served rider lacks assignment", None, rid))
        if rid in result.unserved:
            out.append(Violation(incons, "served rider marked unserved", None, rid))
    for r in problem.riders:
        if r.id not in served_by and r.id not in result.unserved:
            out.append(Violation(incons, "rider neither served nor unserved", None, r.id))
    if result.total_added_driving_s != sum(r.added_driving_s for r in result.routes):
        out.append(Violation(ViolationKind.INCONSISTENT, "total added driving mismatch"))
    return out


def assert_valid(problem: Problem, result: Result) -> None:
    """Raise :class:`InvalidResultError` if :func:`check` finds violations.

    Parameters
    ----------
    problem
        The problem.
    result
        The result to verify.
    """
    violations = check(problem, result)
    if violations:
        raise InvalidResultError(violations)
