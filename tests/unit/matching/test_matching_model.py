"""Validation of the model and parameter dataclasses, and product-rule helpers."""

from __future__ import annotations

import numpy as np
import pytest
from matching_testkit import driver, rider

from matching import Candidate, Driver, Problem, Rider, SolveParams, default_max_ride_s


def test_default_max_ride() -> None:
    assert default_max_ride_s(600) == 1500
    assert default_max_ride_s(0) == 600
    with pytest.raises(ValueError, match="direct_s"):
        default_max_ride_s(-1)


def test_detour_budget_is_the_smaller_bound() -> None:
    d = driver("d", 0, 1)
    assert d.max_detour_s == 900
    assert d.max_detour_pct == 50.0
    assert d.detour_budget_s(1000) == 500
    assert d.detour_budget_s(4000) == 900
    assert driver("d", 0, 1, max_detour_pct=None).detour_budget_s(1000) == 900
    assert driver("d", 0, 1, max_detour_s=None, max_detour_pct=None).detour_budget_s(10) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seats": -1}, "seats"),
        ({"ld": -5}, "latest_departure_s"),
        ({"la": -5}, "latest_arrival_s"),
        ({"max_detour_s": -1}, "max_detour_s"),
        ({"max_detour_pct": float("nan")}, "max_detour_pct"),
        ({"start": -1}, "start"),
        ({"confirmed_rider_ids": ("a", "a")}, "confirmed_rider_ids"),
    ],
)
def test_driver_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        driver("d", kwargs.pop("start", 0), 1, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"passengers": 0}, "passengers"),
        ({"priority": 0}, "priority"),
        ({"max_ride_s": -1}, "max_ride_s"),
        ({"board_s": -1}, "board_s"),
        ({"alight_s": -1}, "alight_s"),
        ({"ldrop": -1}, "latest_dropoff_s"),
        ({"latest_pickup_s": -1}, "latest_pickup_s"),
        ({"earliest_dropoff_s": 10**9}, "earliest_dropoff_s"),
    ],
)
def test_rider_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        rider("r", 0, 1, **kwargs)


def test_rider_candidates_validated() -> None:
    with pytest.raises(ValueError, match="pickups"):
        Rider("r", "p", (), (Candidate(1),), 0, 10)
    with pytest.raises(ValueError, match="pickups"):
        Rider("r", "p", (Candidate(1), Candidate(1, 5)), (Candidate(2),), 0, 10)
    with pytest.raises(ValueError, match="walk_s"):
        Candidate(1, -3)


def test_problem_validation() -> None:
    m = np.zeros((3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="travel_time_s"):
        Problem(np.zeros((2, 3), dtype=np.int64), (), ())
    with pytest.raises(ValueError, match="travel_time_s"):
        Problem(np.full((2, 2), 0.5), (), ())
    with pytest.raises(ValueError, match="travel_time_s"):
        Problem(-np.ones((2, 2), dtype=np.int64), (), ())
    with pytest.raises(ValueError, match="drivers"):
        Problem(m, (driver("d", 0, 1), driver("d", 0, 1)), ())
    with pytest.raises(ValueError, match="drivers"):
        Problem(m, (driver("d", 0, 7),), ())
    with pytest.raises(ValueError, match="riders"):
        Problem(m, (), (rider("r", 0, 1), rider("r", 0, 2)))
    with pytest.raises(ValueError, match="riders"):
        Problem(m, (), (rider("r", 0, 9),))
    with pytest.raises(ValueError, match="drivers"):
        Problem(m, (driver("d", 0, 1, confirmed_rider_ids=("x",)),), ())
    with pytest.raises(ValueError, match="drivers"):
        Problem(
            m,
            (
                driver("d", 0, 1, confirmed_rider_ids=("r",)),
                driver("e", 0, 1, confirmed_rider_ids=("r",)),
            ),
            (rider("r", 0, 1),),
        )
    slow = np.full((3, 3), 500, dtype=np.int64)
    with pytest.raises(ValueError, match="drivers"):
        Problem(slow, (driver("d", 0, 1, la=100),), ())


def test_problem_matrix_is_read_only_copy() -> None:
    src = np.ones((2, 2), dtype=np.int32)
    p = Problem(src, (), ())  # type: ignore[arg-type]  # an int32 matrix on purpose
    src[0, 0] = 99
    assert p.travel_time_s.dtype == np.int64
    assert p.travel_time_s[0, 0] == 1
    with pytest.raises(ValueError, match="read-only"):
        p.travel_time_s[0, 0] = 5
    assert p.num_locations == 2


def test_frozen() -> None:
    d = driver("d", 0, 1)
    with pytest.raises(AttributeError):
        d.seats = 5
    assert isinstance(d, Driver)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"time_limit_s": float("inf")}, "time_limit_s"),
        ({"solution_limit": 0}, "solution_limit"),
        ({"drop_penalty": 0}, "drop_penalty"),
        ({"confirmed_drop_penalty": 5}, "confirmed_drop_penalty"),
        ({"arc_cost_weight": -1}, "arc_cost_weight"),
        ({"vehicle_fixed_cost": -1}, "vehicle_fixed_cost"),
        ({"first_solution_strategy": "MAGIC"}, "first_solution_strategy"),
        ({"local_search_metaheuristic": "MAGIC"}, "local_search_metaheuristic"),
        ({"guided_local_search_lambda": 0.0}, "guided_local_search_lambda"),
    ],
)
def test_solve_params_validation(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SolveParams(**kwargs)  # type: ignore[arg-type]
