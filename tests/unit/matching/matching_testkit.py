"""Helpers shared by the matching unit tests (builders for small instances)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matching import (
    Candidate,
    Driver,
    Problem,
    Result,
    Rider,
    SolveParams,
    check,
    solve,
)

#: Fast, deterministic parameters for tiny instances (stopped by solution count).
FAST = SolveParams(time_limit_s=3.0, solution_limit=200)


def metric_matrix(
    points: Sequence[tuple[float, float]], s_per_unit: float = 60.0
) -> npt.NDArray[np.int64]:
    """Euclidean travel times rounded *up* (ceil keeps the triangle inequality)."""
    p = np.asarray(points, dtype=np.float64)
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=2)) * s_per_unit
    out: npt.NDArray[np.int64] = np.ceil(d - 1e-9).astype(np.int64)
    return out


def driver(
    did: str,
    start: int,
    end: int,
    *,
    seats: int = 3,
    ed: int = 0,
    ld: int = 0,
    la: int = 100_000,
    **kw: object,
) -> Driver:
    """A driver with permissive defaults."""
    return Driver(
        id=did,
        person_id=str(kw.pop("person_id", f"person-{did}")),
        start=start,
        end=end,
        earliest_departure_s=ed,
        latest_departure_s=ld,
        latest_arrival_s=la,
        seats=seats,
        **kw,  # type: ignore[arg-type]
    )


def rider(
    rid: str,
    pick: int | Sequence[tuple[int, int]],
    drop: int | Sequence[tuple[int, int]],
    *,
    ep: int = 0,
    ldrop: int = 100_000,
    **kw: object,
) -> Rider:
    """A rider; ``pick``/``drop`` are a location or a list of (location, walk_s)."""

    def cands(x: int | Sequence[tuple[int, int]]) -> tuple[Candidate, ...]:
        if isinstance(x, int):
            return (Candidate(x),)
        return tuple(Candidate(loc, w) for loc, w in x)

    return Rider(
        id=rid,
        person_id=str(kw.pop("person_id", f"person-{rid}")),
        pickups=cands(pick),
        dropoffs=cands(drop),
        earliest_pickup_s=ep,
        latest_dropoff_s=ldrop,
        **kw,  # type: ignore[arg-type]
    )


def solve_checked(problem: Problem, params: SolveParams = FAST, *, seed: int = 0) -> Result:
    """Solve and assert that the independent checker accepts the result."""
    result = solve(problem, params, seed=seed)
    violations = check(problem, result)
    assert violations == [], violations
    return result


def random_problem(seed: int, n_drivers: int = 4, n_riders: int = 7) -> Problem:
    """A small random metric instance with windows, seats, detours and needs.

    Riders are placed near a random driver's path with matching times, so a
    good share of them can be served and the constraints interact.
    """
    rng = np.random.default_rng(seed)
    ends = rng.uniform(0, 20, size=(n_drivers, 2, 2))
    pts: list[tuple[float, float]] = []
    for s, e in ends:
        pts += [(float(s[0]), float(s[1])), (float(e[0]), float(e[1]))]
    base = len(pts)
    rider_specs = []
    for _ in range(n_riders):
        v = int(rng.integers(0, n_drivers))
        s, e = ends[v]
        t0 = float(rng.uniform(0.0, 0.6))
        t1 = min(1.0, t0 + float(rng.uniform(0.2, 0.5)))
        for t in (t0, t1, t0):
            q = s + t * (e - s) + rng.normal(0.0, 1.5, size=2)
            pts.append((float(q[0]), float(q[1])))
        rider_specs.append((v, t0))
    m = metric_matrix(pts)
    drivers = []
    for i in range(n_drivers):
        ed = int(rng.integers(0, 1200))
        drivers.append(
            Driver(
                id=f"d{i}",
                person_id=f"p{i}",
                start=2 * i,
                end=2 * i + 1,
                earliest_departure_s=ed,
                latest_departure_s=ed + int(rng.integers(0, 900)),
                latest_arrival_s=ed + int(m[2 * i, 2 * i + 1]) + 4000,
                seats=int(rng.integers(1, 4)),
                max_detour_s=int(rng.integers(300, 1500)),
                max_detour_pct=float(rng.choice([50.0, 100.0, 200.0])),
                features=frozenset({"wheelchair"}) if rng.random() < 0.3 else frozenset(),
            )
        )
    riders = []
    for j, (v, t0) in enumerate(rider_specs):
        p = base + 3 * j
        pick_c = [Candidate(p, 0)]
        if rng.random() < 0.5:
            pick_c.append(Candidate(p + 2, int(rng.integers(60, 400))))
        direct_v = int(m[2 * v, 2 * v + 1])
        ep = drivers[v].earliest_departure_s + int(t0 * direct_v) + int(rng.integers(-600, 600))
        direct = int(m[p, p + 1])
        riders.append(
            Rider(
                id=f"r{j}",
                person_id=f"p{j}" if rng.random() < 0.1 else f"q{j}",
                pickups=tuple(pick_c),
                dropoffs=(Candidate(p + 1, 0),),
                earliest_pickup_s=max(0, ep),
                latest_dropoff_s=max(0, ep) + direct + int(rng.integers(300, 2400)),
                passengers=int(rng.integers(1, 3)),
                needs=frozenset({"wheelchair"}) if rng.random() < 0.15 else frozenset(),
                max_ride_s=int(1.5 * direct) + 600,
                priority=int(rng.integers(1, 3)),
                board_s=int(rng.choice([0, 30, 60])),
            )
        )
    return Problem(m, tuple(drivers), tuple(riders))
