"""The process-pool side of a matching run (the aiohttp-demos imagetagger ``worker.py``
pattern): :func:`warm` opens the region's road network once per worker process, memory-mapped
from its cache directory; :func:`plan` takes plain data and returns plain data.

:func:`plan` snaps every place, computes the travel-time matrix (cut off at the longest trip any
driver may make: no leg of a feasible route is longer), builds the :class:`matching.Problem`,
solves it, verifies the result with :func:`matching.check` and draws each driver's route along
the roads. It never touches the database.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from pathlib import Path

import numpy as np

import matching
from maas.errors import InputError
from maas.logs import configure_logging
from maas.planning.params import MatchingParams
from maas.planning.plan import (
    Located,
    PlanInput,
    PlanOutput,
    build_problem,
    driver_budget_s,
    read_result,
)
from maas.roads.network import RoadNetwork, Snap, to_int_seconds

log = logging.getLogger("maas.planning.worker")

# Per worker process: the networks opened so far, by cache directory (normally one; a new one
# after the region is re-imported). This is process state, not shared between processes.
_networks: dict[Path, RoadNetwork] = {}


def warm(network_path: Path | None, log_level: str | None = None) -> None:
    """Pool initializer: log like the service (JSON lines), open (and index) the road network
    and load the compiled search kernel before the first run arrives."""
    if log_level is not None:
        configure_logging(log_level)
    if network_path is not None:
        _network(network_path)
    # Large days are searched by the compiled kernel: load it (or compile it, once per
    # installation, about 20 s) now rather than in the first run's time budget.
    seconds = matching.lns.warm_up()
    log.info("matching kernel ready in %.1f s", seconds)


def _network(path: Path) -> RoadNetwork:
    network = _networks.get(path)
    if network is None:
        network = RoadNetwork.open(path).prepare()
        _networks[path] = network
    return network


def plan(inp: PlanInput) -> PlanOutput:
    """Solve one run's input (see the module docstring)."""
    if inp.network_path is None:
        raise RuntimeError("no road network to plan on")
    network = _network(inp.network_path)
    return plan_on(network, inp)


def locate(
    network: RoadNetwork, inp: PlanInput, timings: dict[str, float]
) -> tuple[list[Snap], Located]:
    """Snap every place, compute the travel-time matrix and build the problem."""
    t = time.perf_counter()
    points = points_of(inp)
    snaps, location_of = snap_points(network, inp.snap_max_distance_m, points)
    timings["snap_s"] = time.perf_counter() - t

    t = time.perf_counter()
    matrix = _matrix(network, inp, snaps, location_of)
    timings["matrix_s"] = time.perf_counter() - t

    located = build_problem(inp, location_of, matrix)
    return snaps, located


def points_of(inp: PlanInput) -> list[tuple[float, float]]:
    """The distinct points of an input: drivers' starts and ends, then riders' places."""
    points: list[tuple[float, float]] = []
    seen: set[tuple[float, float]] = set()
    for o in inp.occurrences:
        for place in (o.origin, o.destination):
            if (place.lon, place.lat) not in seen:
                seen.add((place.lon, place.lat))
                points.append((place.lon, place.lat))
    for r in inp.requests:
        for place in (*r.pickups, *r.dropoffs):
            if (place.lon, place.lat) not in seen:
                seen.add((place.lon, place.lat))
                points.append((place.lon, place.lat))
    return points


def snap_points(
    network: RoadNetwork, snap_max_distance_m: float, points: list[tuple[float, float]]
) -> tuple[list[Snap], dict[tuple[float, float], int]]:
    """The snapped points (those off the roads left out) and each one's index."""
    snaps: list[Snap] = []
    location_of: dict[tuple[float, float], int] = {}
    for lon, lat in points:
        try:
            snap = network.snap(lon, lat, "point", snap_max_distance_m)
        except InputError:
            continue  # a meeting point off the roads is simply not a candidate
        location_of[(lon, lat)] = len(snaps)
        snaps.append(snap)
    return snaps, location_of


def plan_on(network: RoadNetwork, inp: PlanInput) -> PlanOutput:
    timings: dict[str, float] = {}
    snaps, located = locate(network, inp, timings)
    t = time.perf_counter()
    problem, frozen = _without_stuck_holds(located.problem)
    timings["holds_s"] = time.perf_counter() - t
    if frozen:
        log.warning(
            "%d occurrence(s) whose held riders no longer fit take no new riders: %s",
            len(frozen),
            ", ".join(sorted(frozen)[:10]),
        )
        located = dataclasses.replace(located, problem=problem)
    t = time.perf_counter()
    params = solve_params(inp.params)
    result = matching.solve(problem, params, seed=inp.params.seed)
    timings["solve_s"] = time.perf_counter() - t
    # Cheapest insertion then tries every rider still unserved, held riders first: the search
    # may stop before it has placed everyone it could. It only adds riders, so the plan never
    # gets worse.
    t = time.perf_counter()
    result = _insert_greedily(problem, result, params)
    timings["repair_s"] = time.perf_counter() - t
    violations = matching.check(problem, result)
    if violations:
        return PlanOutput(
            routes=(),
            unserved={},
            objective=result.objective,
            solver_status=str(result.status),
            violations=tuple(
                f"{v.kind}: {v.message} ({v.driver_id}, {v.rider_id})" for v in violations
            ),
            timings_s=timings,
            locations=len(snaps),
        )

    t = time.perf_counter()
    coordinates = _geometries(network, located, result, snaps)
    timings["routes_s"] = time.perf_counter() - t
    routes, unserved = read_result(inp, located, result, coordinates)
    return PlanOutput(
        routes=tuple(routes),
        unserved=unserved,
        objective=result.objective,
        solver_status=str(result.status),
        violations=(),
        timings_s=timings,
        locations=len(snaps),
    )


def solve_params(p: MatchingParams) -> matching.SolveParams:
    """The library's parameters for a community's matching parameters (batch runs and instant
    answers weigh a plan the same way)."""
    return matching.SolveParams(
        time_limit_s=p.time_limit_s,
        drop_penalty=p.drop_penalty,
        arc_cost_weight=p.arc_cost_weight,
        fairness_weight=p.fairness_weight,
    )


def _without_stuck_holds(problem: matching.Problem) -> tuple[matching.Problem, set[str]]:
    """The problem without the driver occurrences whose held riders cannot all be served any
    more (the rules or the offer changed since they accepted, or overlapping proposals were
    accepted), with those riders. Such an occurrence takes no new riders and its matches stay
    as they are; without this, one stuck car would stop matching for the whole community."""
    stuck: set[str] = set()
    m = problem.travel_time_s
    for d in problem.drivers:
        if not d.confirmed_rider_ids:
            continue
        riders = [problem.riders[problem.rider_index(rid)] for rid in d.confirmed_rider_ids]
        # A small problem of just this car, on the few locations it uses.
        places = sorted(
            {d.start, d.end} | {c.location for r in riders for c in (*r.pickups, *r.dropoffs)}
        )
        index = {loc: i for i, loc in enumerate(places)}
        sub_matrix = m[np.ix_(places, places)]
        sub = matching.Problem(
            sub_matrix,
            (dataclasses.replace(d, start=index[d.start], end=index[d.end]),),
            tuple(
                dataclasses.replace(
                    r,
                    pickups=tuple(
                        dataclasses.replace(c, location=index[c.location]) for c in r.pickups
                    ),
                    dropoffs=tuple(
                        dataclasses.replace(c, location=index[c.location]) for c in r.dropoffs
                    ),
                )
                for r in riders
            ),
        )
        result = matching.solve(sub, matching.SolveParams(time_limit_s=0.5, solution_limit=1))
        if result.num_served < len(riders) or matching.check(sub, result):
            stuck.add(d.id)
    return without_drivers(problem, stuck), stuck


def without_drivers(problem: matching.Problem, stuck: set[str]) -> matching.Problem:
    """The problem without the named driver occurrences and the riders held on them."""
    if not stuck:
        return problem
    m = problem.travel_time_s
    gone = {rid for d in problem.drivers if d.id in stuck for rid in d.confirmed_rider_ids}
    return matching.Problem(
        m,
        tuple(d for d in problem.drivers if d.id not in stuck),
        tuple(r for r in problem.riders if r.id not in gone),
    )


def _insert_greedily(
    problem: matching.Problem, result: matching.Result, params: matching.SolveParams
) -> matching.Result:
    order = sorted(
        problem.riders,
        key=lambda r: (problem.locked_driver(r.id) is None, r.earliest_pickup_s, r.id),
    )
    for rider in order:
        if rider.id in result.assignments:
            continue
        insertion = matching.insert_cheapest(problem, result, rider, params=params)
        if insertion is not None:
            result = matching.apply_insertion(result, insertion)
    return result


def _matrix(
    network: RoadNetwork,
    inp: PlanInput,
    snaps: list[Snap],
    location_of: dict[tuple[float, float], int],
) -> np.ndarray:
    """The integer travel-time matrix, searched no farther than the longest allowed trip."""
    limit = matrix_limit(network, inp, snaps, location_of)
    if limit is None or not snaps:
        # Nothing to drive: the solver only needs the shape (every rider goes unserved).
        return np.zeros((len(snaps), len(snaps)), dtype=np.int64)
    full = network.travel_time_matrix(snaps, snaps, limit_s=limit)
    out = to_int_seconds(full).astype(np.int64)
    np.fill_diagonal(out, 0)
    return out


def matrix_limit(
    network: RoadNetwork,
    inp: PlanInput,
    snaps: list[Snap],
    location_of: dict[tuple[float, float], int],
) -> float | None:
    """How far the matrix is searched: the longest trip any placed driver may make (plus a
    second), or ``None`` when no driver could be placed (the matrix is then all zeros)."""
    starts: list[int] = []
    ends: list[int] = []
    placed = []
    for o in inp.occurrences:
        a = location_of.get((o.origin.lon, o.origin.lat))
        b = location_of.get((o.destination.lon, o.destination.lat))
        if a is not None and b is not None:
            starts.append(a)
            ends.append(b)
            placed.append(o)
    if not placed or not snaps:
        return None
    direct = network.travel_time_matrix([snaps[i] for i in starts], [snaps[i] for i in ends])
    longest = 0.0
    for k, o in enumerate(placed):
        d = float(direct[k, k])
        if np.isfinite(d):
            longest = max(longest, d + driver_budget_s(o, round(d)))
    return longest + 1.0


def _geometries(
    network: RoadNetwork, located: Located, result: matching.Result, snaps: list[Snap]
) -> dict[str, tuple[tuple[float, float], ...]]:
    """Each used driver's drive along the roads, start → stops → end."""
    out: dict[str, tuple[tuple[float, float], ...]] = {}
    problem = located.problem
    for route in result.routes:
        if not route.stops:
            continue
        d = problem.drivers[problem.driver_index(route.driver_id)]
        sequence = [d.start, *(s.location for s in route.stops), d.end]
        coords: list[tuple[float, float]] = []
        for a, b in itertools.pairwise(sequence):
            if a == b:
                continue
            leg = network.route(snaps[a], snaps[b])
            if leg is None:
                continue
            more = leg.coordinates
            if coords and more and coords[-1] == more[0]:
                more = more[1:]
            coords.extend(more)
        if len(coords) >= 2:
            out[route.driver_id] = tuple(coords)
    return out
