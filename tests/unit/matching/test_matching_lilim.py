"""Li & Lim adapter: parse lc101 and solve it briefly."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching import SolveParams, check, lilim, solve

DATA = Path(__file__).resolve().parents[3] / "bench" / "data" / "lilim" / "instances" / "pdp_100"


@pytest.fixture(scope="module")
def lc101() -> lilim.LiLimInstance:
    return lilim.parse((DATA / "lc101.txt").read_text())


def test_parse_lc101(lc101: lilim.LiLimInstance) -> None:
    p = lc101.problem
    assert lc101.num_vehicles == 25
    assert lc101.capacity == 200
    assert len(p.drivers) == 25
    assert len(p.riders) == 53
    assert p.num_locations == 107
    # Node 3 (40, 66)... line "3 42 66 10 65 146 90 0 75": pickup of 10 delivered at 75.
    r3 = p.riders[p.rider_index("r3")]
    assert r3.pickups[0].location == 3
    assert r3.dropoffs[0].location == 75
    assert r3.passengers == 10
    assert (r3.earliest_pickup_s, r3.latest_pickup_s) == (65_000, 146_000)
    assert r3.board_s == 90_000
    d = p.drivers[0]
    assert (d.start, d.end, d.seats, d.latest_arrival_s) == (0, 0, 200, 1_236_000)
    assert d.max_detour_s is None
    assert d.max_detour_pct is None
    assert r3.max_ride_s is None
    # Matrix: scaled, rounded Euclidean distance; depot (40, 50) to node 3 (42, 66).
    assert p.travel_time_s[0, 3] == round(1000 * (2**2 + 16**2) ** 0.5)


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="text"):
        lilim.parse("")
    with pytest.raises(ValueError, match="text"):
        lilim.parse("2 10 1\n0 0 0 0 0 100 0 0 0\n1 1 1 5 0 100")
    with pytest.raises(ValueError, match="scale"):
        lilim.parse("2 10 1\n0 0 0 0 0 100 0 0 0", scale=0)


def test_short_solve_serves_everyone(lc101: lilim.LiLimInstance) -> None:
    params = SolveParams(time_limit_s=20.0, solution_limit=30, vehicle_fixed_cost=100_000)
    res = solve(lc101.problem, params)
    assert check(lc101.problem, res) == []
    assert res.num_served == 53
    dist = lilim.distance(lc101, res)
    # Best known: 10 vehicles, 828.94.
    assert res.num_used_drivers >= 10
    assert dist >= 828.9
