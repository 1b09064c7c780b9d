"""The load across drivers: Gini coefficient and the busiest 20 %'s share of the rides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maas.domain import kpi
from maas.domain.kpi import RequestFact

T = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def served_by(driver: str | None, rid: str) -> RequestFact:
    return RequestFact(
        id=rid,
        requested_at=T,
        direct_km=5.0,
        served=driver is not None,
        pickup_at=None if driver is None else T + timedelta(minutes=5),
        driver_id=driver,
    )


def test_gini_of_hand_checked_counts() -> None:
    assert kpi.gini([1, 1, 1, 1]) == 0.0
    # (2 · (1·0 + 2·0 + 3·3)) / (3 · 3) − 4/3 = 2 − 4/3
    assert kpi.gini([0, 0, 3]) == pytest.approx(2 / 3)
    # 2 · (1·0 + 2·1 + 3·2 + 4·3) / (4 · 6) − 5/4
    assert kpi.gini([3, 0, 2, 1]) == pytest.approx(40 / 24 - 5 / 4)
    assert kpi.gini([5]) == 0.0
    assert kpi.gini([]) is None
    assert kpi.gini([0, 0]) is None


def test_top_share_takes_the_busiest_fifth_at_least_one() -> None:
    assert kpi.top_share([4, 0, 0]) == 1.0  # ceil(0.6) = 1 driver
    assert kpi.top_share([1] * 10) == pytest.approx(0.2)  # 2 of 10
    assert kpi.top_share([3, 1, 1, 1, 1, 1]) == pytest.approx(4 / 8)  # ceil(1.2) = 2 drivers
    assert kpi.top_share([]) is None
    assert kpi.top_share([0, 0]) is None


def test_active_drivers_include_those_who_offered_and_took_nobody() -> None:
    day = [
        served_by("d1", "r1"),
        served_by("d1", "r2"),
        served_by("d2", "r3"),
        served_by(None, "r4"),
    ]
    k = kpi.compute(day, [], offering=["d1", "d2", "d3", "d4"])
    assert k.active_drivers == 4
    assert k.volunteers == 2
    # rides (2, 1, 0, 0): Gini = 2 · (3·1 + 4·2) / (4 · 3) − 5/4 = 22/12 − 15/12
    assert k.rides_gini == round(7 / 12, 4)
    assert k.rides_top20_share == round(2 / 3, 4)  # ceil(0.8) = 1 driver of 4
    summary = k.summary()
    assert (summary["active_drivers"], summary["rides_top20_share"]) == (4, 0.6667)
    # A driver who carried someone counts even without an offer in the period.
    assert kpi.compute(day, [], offering=["d3"]).active_drivers == 3


def test_an_even_load_is_zero_and_no_rides_is_none() -> None:
    even = [served_by("d1", "r1"), served_by("d2", "r2")]
    k = kpi.compute(even, [], offering=["d1", "d2"])
    assert (k.rides_gini, k.rides_top20_share) == (0.0, 0.5)
    none = kpi.compute([served_by(None, "r1")], [], offering=["d1"])
    assert (none.active_drivers, none.rides_gini, none.rides_top20_share) == (1, None, None)
