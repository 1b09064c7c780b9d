"""Matching parameters from community settings, walking times and the problem a run builds."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import numpy as np
import pytest

import matching
from maas.errors import ConfigError
from maas.planning.params import MatchingParams, params_from_settings, walk_s
from maas.planning.plan import (
    REASON_NOT_ON_ROAD,
    OccurrenceIn,
    Place,
    PlanInput,
    RequestIn,
    build_problem,
)
from maas.settings import Settings


def test_defaults_and_overrides() -> None:
    p = params_from_settings({}, time_limit_s=2.0)
    assert (p.max_detour_min, p.max_detour_pct, p.max_walk_m) == (15, 50, 500)
    assert (p.ride_time_factor, p.ride_time_extra_min, p.horizon_h) == (1.5, 10, 24.0)
    assert p.time_limit_s == 2.0
    q = params_from_settings(
        {"max_detour_min": 10, "max_walk_m": 300, "fallback_phone": "0711", "horizon_h": 48},
        time_limit_s=1.0,
    )
    assert (q.max_detour_min, q.max_walk_m, q.horizon_h) == (10, 300, 48.0)


def test_bad_values_keep_the_default() -> None:
    p = params_from_settings(
        {"max_detour_min": "ten", "max_detour_pct": -5, "max_walk_m": True, "board_s": 1.5},
        time_limit_s=1.0,
    )
    assert p == MatchingParams(time_limit_s=1.0)


def test_walking_time_is_straight_line_times_1_3_at_1_2_m_s() -> None:
    assert walk_s(0) == 0
    assert walk_s(120) == 130
    assert walk_s(500) == 542


def test_settings_read_the_matching_variables() -> None:
    s = Settings.from_env(
        {
            "MAAS_DATABASE_URL": "postgresql://x@/y",
            "MAAS_MATCHING_INTERVAL_S": "300",
            "MAAS_MATCHING_TIME_LIMIT_S": "2.5",
        }
    )
    assert (s.matching_interval_s, s.matching_time_limit_s) == (300.0, 2.5)
    assert Settings(database_url="x").matching_interval_s == 300.0  # on unless switched off


def _occ(person: uuid.UUID, key_day: date = date(2026, 12, 1)) -> OccurrenceIn:
    return OccurrenceIn(
        offer_id=uuid.uuid4(),
        occurrence_date=key_day,
        person_id=person,
        origin=Place(0.0, 0.0),
        destination=Place(3.0, 0.0),
        earliest_s=0,
        latest_s=600,
        seats=2,
        max_detour_s=900,
        max_detour_pct=50.0,
        features=frozenset(),
    )


def test_problem_excludes_declined_pairs_and_unsnappable_riders() -> None:
    a, b = _occ(uuid.uuid4()), _occ(uuid.uuid4())
    declined = RequestIn(
        id=uuid.uuid4(),
        person_id=uuid.uuid4(),
        pickups=(Place(1.0, 0.0),),
        dropoffs=(Place(2.0, 0.0),),
        earliest_pickup_s=0,
        latest_dropoff_s=3600,
        passengers=1,
        needs=frozenset(),
        excluded_occurrences=frozenset({a.key}),
    )
    lost = RequestIn(
        id=uuid.uuid4(),
        person_id=uuid.uuid4(),
        pickups=(Place(9.0, 9.0),),  # not snapped
        dropoffs=(Place(2.0, 0.0),),
        earliest_pickup_s=0,
        latest_dropoff_s=3600,
        passengers=1,
        needs=frozenset(),
    )
    inp = PlanInput(
        network_path=None,
        snap_max_distance_m=1000,
        t0=datetime(2026, 12, 1, 6, tzinfo=UTC),
        params=MatchingParams(time_limit_s=0.2),
        occurrences=(a, b),
        requests=(declined, lost),
    )
    location_of = {(0.0, 0.0): 0, (1.0, 0.0): 1, (2.0, 0.0): 2, (3.0, 0.0): 3}
    line = np.array([[abs(i - j) * 300 for j in range(4)] for i in range(4)])
    located = build_problem(inp, location_of, line)
    assert located.unplaceable == {lost.id: REASON_NOT_ON_ROAD}
    problem = located.problem
    assert [r.id for r in problem.riders] == [str(declined.id)]
    rider = problem.riders[0]
    allowed = [d.id for d in problem.drivers if rider.needs <= d.features]
    assert allowed == [b.key]
    result = matching.solve(problem, matching.SolveParams(time_limit_s=0.2))
    assert not matching.check(problem, result)
    assert result.assignments[str(declined.id)].driver_id == b.key


def test_the_service_works_in_the_background_unless_switched_off() -> None:
    s = Settings.from_env({"MAAS_DATABASE_URL": "postgresql://x/y"})
    assert (s.matching_interval_s, s.webhook_interval_s, s.instant_answers) == (300.0, 5.0, True)
    off = Settings.from_env(
        {
            "MAAS_DATABASE_URL": "postgresql://x/y",
            "MAAS_MATCHING_INTERVAL_S": "0",
            "MAAS_WEBHOOK_INTERVAL_S": "0",
            "MAAS_INSTANT_ANSWERS": "off",
        }
    )
    assert (off.matching_interval_s, off.webhook_interval_s, off.instant_answers) == (
        0.0,
        0.0,
        False,
    )
    with pytest.raises(ConfigError, match="MAAS_INSTANT_ANSWERS='maybe' is not a yes/no value"):
        Settings.from_env(
            {"MAAS_DATABASE_URL": "postgresql://x/y", "MAAS_INSTANT_ANSWERS": "maybe"}
        )
