"""The fairness weight as a community parameter, and each driver's rides this week in the
problem a run builds."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime

import numpy as np
import pytest

import matching
from maas.domain import params as community_params
from maas.errors import InputError
from maas.planning.params import MatchingParams, params_from_settings
from maas.planning.plan import OccurrenceIn, Place, PlanInput, RequestIn, build_problem


def test_the_weight_defaults_to_a_minute_per_ride_and_can_be_switched_off() -> None:
    assert params_from_settings({}, time_limit_s=1.0).fairness_weight == 60
    assert params_from_settings({"fairness_weight": 0}, time_limit_s=1.0).fairness_weight == 0
    assert params_from_settings({"fairness_weight": 5000}, time_limit_s=1.0).fairness_weight == 60
    assert community_params.validate({})["fairness_weight"] == 60
    with pytest.raises(InputError) as err:
        community_params.validate({"fairness_weight": -1})
    assert err.value.field == "fairness_weight"


def _occ(rides_before: int) -> OccurrenceIn:
    return OccurrenceIn(
        offer_id=uuid.uuid4(),
        occurrence_date=date(2026, 12, 1),
        person_id=uuid.uuid4(),
        origin=Place(0.0, 0.0),
        destination=Place(3.0, 0.0),
        earliest_s=0,
        latest_s=600,
        seats=2,
        max_detour_s=900,
        max_detour_pct=50.0,
        features=frozenset(),
        rides_before=rides_before,
    )


def _rider(**kw: object) -> RequestIn:
    return RequestIn(
        id=uuid.uuid4(),
        person_id=uuid.uuid4(),
        pickups=(Place(1.0, 0.0),),
        dropoffs=(Place(2.0, 0.0),),
        earliest_pickup_s=0,
        latest_dropoff_s=3600,
        passengers=1,
        needs=frozenset(),
        **kw,  # type: ignore[arg-type]
    )


def _inp(occurrences: tuple[OccurrenceIn, ...], requests: tuple[RequestIn, ...]) -> PlanInput:
    return PlanInput(
        network_path=None,
        snap_max_distance_m=1000,
        t0=datetime(2026, 12, 1, 6, tzinfo=UTC),
        params=MatchingParams(time_limit_s=0.5),
        occurrences=occurrences,
        requests=requests,
    )


LOCATIONS = {(0.0, 0.0): 0, (1.0, 0.0): 1, (2.0, 0.0): 2, (3.0, 0.0): 3}
LINE = np.array([[abs(i - j) * 300 for j in range(4)] for i in range(4)])


def test_rides_before_reach_every_driver_also_with_exclusions_and_held_riders() -> None:
    busy, fresh = _occ(4), _occ(0)
    held = _rider(held_on=busy.key)
    declined = _rider(excluded_occurrences=frozenset({fresh.key}))
    problem = build_problem(_inp((busy, fresh), (held, declined)), LOCATIONS, LINE).problem
    by_id = {d.id: d for d in problem.drivers}
    assert by_id[busy.key].confirmed_rider_ids == (str(held.id),)
    assert (by_id[busy.key].rides_before, by_id[fresh.key].rides_before) == (4, 0)


def test_the_weight_sends_a_rider_to_the_driver_with_fewer_rides_this_week() -> None:
    riders = (_rider(), _rider())
    for busy_first in (True, False):
        occs = (_occ(3), _occ(0)) if busy_first else (_occ(0), _occ(3))
        problem = build_problem(_inp(occs, riders), LOCATIONS, LINE).problem
        params = matching.SolveParams(time_limit_s=1.0, solution_limit=50, fairness_weight=60)
        result = matching.solve(problem, params)
        assert not matching.check(problem, result)
        fresh = next(d.id for d in problem.drivers if d.rides_before == 0)
        assert {a.driver_id for a in result.assignments.values()} == {fresh}
        off = matching.solve(problem, dataclasses.replace(params, fairness_weight=0))
        assert off.num_served == result.num_served == 2
