"""From a solved plan to KPI facts: who got a ride, when, and each driver's detour."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from maas.domain import kpi
from maas.planning.params import MatchingParams
from maas.planning.plan import (
    OccurrenceIn,
    Place,
    PlanInput,
    PlannedRoute,
    PlannedStop,
    PlanOutput,
)
from maas.whatif import day_bounds, plan_facts

T0 = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)


def test_plan_facts_of_one_driver_and_two_riders() -> None:
    offer, driver = uuid.uuid4(), uuid.uuid4()
    served, unserved = uuid.uuid4(), uuid.uuid4()
    occ = OccurrenceIn(
        offer_id=offer,
        occurrence_date=date(2026, 3, 10),
        person_id=driver,
        origin=Place(8.90, 48.64),
        destination=Place(8.87, 48.60),
        earliest_s=7 * 3600,
        latest_s=7 * 3600 + 900,
        seats=3,
        max_detour_s=900,
        max_detour_pct=50.0,
        features=frozenset(),
    )
    inp = PlanInput(None, 1000.0, T0, MatchingParams(), (occ,), ())
    route = PlannedRoute(
        offer_id=offer,
        occurrence_date=occ.occurrence_date,
        start_s=7 * 3600,
        end_s=8 * 3600,
        stops=(
            PlannedStop(served, "pickup", Place(8.89, 48.62), 7 * 3600 + 600),
            PlannedStop(served, "dropoff", Place(8.87, 48.60), 7 * 3600 + 1500),
        ),
        request_ids=(served,),
        coordinates=((8.90, 48.64), (8.90, 48.60), (8.87, 48.60)),
    )
    output = PlanOutput((route,), {unserved: "no_driver"}, 0, "ok", ())
    meta = {
        rid: kpi.RequestFact(str(rid), T0 + timedelta(hours=7), 3.0, False)
        for rid in (served, unserved)
    }
    facts, trips = plan_facts(inp, output, meta)
    by_id = {f.id: f for f in facts}
    assert by_id[str(served)].served
    assert by_id[str(served)].pickup_at == T0 + timedelta(seconds=7 * 3600 + 600)
    assert by_id[str(served)].driver_id == str(driver)
    assert not by_id[str(unserved)].served
    [trip] = trips
    assert trip.route_km == kpi.line_km(route.coordinates)
    straight = kpi.haversine_km(8.90, 48.64, 8.87, 48.60)
    assert trip.direct_km == kpi.direct_km(straight)
    k = kpi.compute(facts, trips)
    assert (k.served, k.wait_median_min) == (1, 10.0)


def test_a_local_day_in_utc() -> None:
    start, end = day_bounds(date(2026, 3, 29))  # the clocks go forward: 23 hours
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)
