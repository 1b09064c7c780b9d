"""KPIs of a small, hand-checked day (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maas.domain import kpi
from maas.domain.kpi import RequestFact, TripFact

T = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def request(
    rid: str,
    *,
    direct: float,
    wait_min: float | None = None,
    driver: str | None = None,
    village: str = "A",
    x_m: float = 0.0,
    y_m: float = 0.0,
) -> RequestFact:
    served = wait_min is not None
    return RequestFact(
        id=rid,
        requested_at=T,
        direct_km=direct,
        served=served,
        pickup_at=T + timedelta(minutes=wait_min) if wait_min is not None else None,
        driver_id=driver,
        village=village,
        x_m=x_m,
        y_m=y_m,
    )


# Five requests: three served (waits 0, 10, 20 min) by two drivers, two unmet (one in A,
# one in B); two trips with detours of 2 km and 0 km (the second drove less than the
# estimate: clamped to 0).
DAY = [
    request("r1", direct=10.0, wait_min=0, driver="d1"),
    request("r2", direct=6.0, wait_min=10, driver="d1"),
    request("r3", direct=4.0, wait_min=20, driver="d2", village="B"),
    request("r4", direct=8.0, village="A", x_m=500_100, y_m=5_380_900),
    request("r5", direct=5.0, village="B", x_m=500_900, y_m=5_380_100),
]
TRIPS = [TripFact("d1", route_km=22.0, direct_km=20.0), TripFact("d2", 9.0, 9.5)]


def test_a_hand_checked_day() -> None:
    k = kpi.compute(DAY, TRIPS)
    assert (k.requests, k.served, k.served_share) == (5, 3, 0.6)
    assert k.wait_median_min == 10.0
    # nearest rank: ceil(0.9 × 3) = 3rd of (0, 10, 20)
    assert k.wait_p90_min == 20.0
    assert k.detour_mean_km == 1.0  # (2 + 0) / 2
    assert k.detour_p95_km == 2.0
    assert k.vehicle_km_alone == 20.0  # 10 + 6 + 4
    assert k.vehicle_km_saved == 18.0  # 20 − 2
    assert k.co2_saved_kg == round(18.0 * kpi.CO2_KG_PER_VEHICLE_KM, 2)
    assert k.volunteers == 2
    assert k.rides_per_volunteer == 1.5
    assert [(v.village, v.requests, v.served, v.served_share) for v in k.villages] == [
        ("A", 3, 2, 0.6667),
        ("B", 2, 1, 0.5),
    ]
    assert [r.id for r in k.unmet] == ["r4", "r5"]
    # both unmet starts fall into the same 1 km cell
    assert k.grid == (kpi.GridCell(500_000, 5_380_000, 2),)


def test_an_empty_period_has_no_shares() -> None:
    k = kpi.compute([], [])
    assert k.requests == 0
    assert k.served_share is None
    assert k.wait_median_min is None
    assert k.rides_per_volunteer is None
    assert k.vehicle_km_saved == 0.0


def test_waiting_never_counts_below_zero_and_routes_without_geometry_are_skipped() -> None:
    early = RequestFact("e", T, 3.0, True, pickup_at=T - timedelta(minutes=5), driver_id="d")
    k = kpi.compute([early], [TripFact("d", None, 3.0)])
    assert k.wait_median_min == 0.0
    assert k.detour_mean_km is None
    assert k.vehicle_km_saved == 3.0


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 90, 4), ([5], 95, 5), ([], 90, None)],
)
def test_percentile_is_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert kpi.percentile(values, pct) == expected


def test_comparison_side_by_side() -> None:
    a = kpi.compute(DAY, TRIPS)
    b = kpi.compute(DAY[:2], TRIPS[:1])
    rows = {r["kpi"]: r for r in kpi.comparison(a, b)}
    assert rows["served"] == {"kpi": "served", "candidate": 3, "reference": 2, "difference": 1.0}
    assert rows["served_share"]["reference"] == 1.0


def test_line_and_haversine_lengths() -> None:
    # one degree of latitude is about 111.2 km
    assert kpi.haversine_km(8.0, 48.0, 8.0, 49.0) == pytest.approx(111.2, abs=0.1)
    assert kpi.line_km([(8.0, 48.0), (8.0, 48.5), (8.0, 49.0)]) == pytest.approx(111.2, abs=0.1)
    assert kpi.direct_km(10.0) == pytest.approx(13.0)
