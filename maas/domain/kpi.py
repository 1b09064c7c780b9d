"""Key figures of a service period, computed from plain facts (no I/O).

The same functions judge what actually ran (facts read from PostGIS by :mod:`maas.store.kpis`)
and a what-if replay (facts built from a plan), so the two are comparable.

Definitions
-----------
* **Requests** are the ride requests of the period that were not cancelled; a request is
  **served** when it holds a place in a proposed, accepted, confirmed or completed match
  (its rider's part neither declined nor cancelled).
* **Wait** is the planned pickup time minus the requested (earliest departure) time, in
  minutes, never below zero. **Median** is the middle value (mean of the two middle ones);
  **p90**/**p95** are nearest-rank percentiles (the smallest value with at least 90 % / 95 %
  of the values at or below it).
* **Detour** is a driver's extra distance per trip with riders: the driven route's length
  minus the driver's direct distance, never below zero.
* **Vehicle-km saved**: every served request would otherwise have been one car driving alone
  over the rider's direct distance; the drivers' detours are subtracted.
  ``vehicle_km_saved = Σ direct km of served requests − Σ detour km``.
* **Direct distances** are estimated as straight-line distance × :data:`ROAD_CIRCUITY`
  (roads are not straight; a router per request would be too slow for a dashboard).
  Route lengths are the drawn routes along the roads.
* **CO2 saved** = vehicle-km saved × :data:`CO2_KG_PER_VEHICLE_KM`.
* **Rides per volunteer**: served requests per driver who carried at least one rider.
* **Load across drivers** (fair load): the *active drivers* are the drivers who offered at
  least one trip in the period, and any driver who carried someone; each one's *rides* are the
  served requests they carry (0 for those who took nobody). ``rides_gini`` is the Gini
  coefficient of these counts (0 = every active driver gives as many rides; towards 1 = one
  driver gives them all; ``None`` without rides), ``rides_top20_share`` the share of the
  rides given by the busiest 20 % of the active drivers (the ``ceil(0.2 n)`` busiest of ``n``;
  with an even load it is ``ceil(0.2 n) / n``, e.g. 0.2 for 10 drivers). Matching's
  ``fairness_weight`` aims to lower both.
* **Fairness**: requests and the share served per village of the rider's origin.
* **Unmet demand**: origins of the requests not served, and their count per
  :data:`GRID_CELL_M` grid cell in EPSG:25832 (ETRS89 / UTM 32N).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

ROAD_CIRCUITY = 1.3
"""Road distance per straight-line distance. Rural road networks typically show 1.2–1.4
(e.g. Ballou, Rahardja & Sakai, 2002, *Selected country circuity factors for road travel
distance estimation*, Transportation Research A 36: Germany ≈ 1.3 is within that range)."""

CO2_KG_PER_VEHICLE_KM = 0.232
"""Greenhouse gases (CO2 equivalents, including fuel supply) of an average German passenger
car per vehicle-km. Source: Umweltbundesamt (UBA), "Vergleich der durchschnittlichen
Emissionen einzelner Verkehrsmittel im Personenverkehr in Deutschland", reference year 2022
(TREMOD 6.x, published 2023): passenger car 166 g CO2e per passenger-km at an average
occupancy of 1.4 persons per car, i.e. 166 g × 1.4 ≈ 232 g per vehicle-km."""

GRID_CELL_M = 1000
"""Side of a heat-grid cell (EPSG:25832 metres)."""


@dataclass(frozen=True, slots=True)
class RequestFact:
    """One request of the period and what became of it."""

    id: str
    requested_at: datetime
    direct_km: float
    served: bool
    pickup_at: datetime | None = None
    driver_id: str | None = None
    village: str | None = None
    lon: float = 0.0
    """Where the rider starts (approximate, for the map of unmet demand)."""
    lat: float = 0.0
    x_m: float = 0.0
    """The start in EPSG:25832 (for the heat grid)."""
    y_m: float = 0.0


@dataclass(frozen=True, slots=True)
class TripFact:
    """One driver's trip with riders: driven and direct distance."""

    driver_id: str
    route_km: float | None
    direct_km: float


@dataclass(frozen=True, slots=True)
class VillageShare:
    village: str
    requests: int
    served: int
    served_share: float | None


@dataclass(frozen=True, slots=True)
class GridCell:
    """A heat-grid cell by its lower-left corner (EPSG:25832) and its unmet requests."""

    x_m: int
    y_m: int
    unmet: int


@dataclass(frozen=True, slots=True)
class Kpis:
    requests: int
    served: int
    served_share: float | None
    wait_median_min: float | None
    wait_p90_min: float | None
    detour_mean_km: float | None
    detour_p95_km: float | None
    vehicle_km_alone: float
    """What the served riders would have driven alone."""
    vehicle_km_saved: float
    co2_saved_kg: float
    volunteers: int
    rides_per_volunteer: float | None
    villages: tuple[VillageShare, ...] = ()
    unmet: tuple[RequestFact, ...] = field(default=(), repr=False)
    grid: tuple[GridCell, ...] = ()
    active_drivers: int = 0
    rides_gini: float | None = None
    rides_top20_share: float | None = None

    def summary(self) -> dict[str, float | int | None]:
        """The scalar figures (for tables, CSV and comparisons)."""
        return {
            "requests": self.requests,
            "served": self.served,
            "served_share": self.served_share,
            "wait_median_min": self.wait_median_min,
            "wait_p90_min": self.wait_p90_min,
            "detour_mean_km": self.detour_mean_km,
            "detour_p95_km": self.detour_p95_km,
            "vehicle_km_alone": self.vehicle_km_alone,
            "vehicle_km_saved": self.vehicle_km_saved,
            "co2_saved_kg": self.co2_saved_kg,
            "volunteers": self.volunteers,
            "rides_per_volunteer": self.rides_per_volunteer,
            "active_drivers": self.active_drivers,
            "rides_gini": self.rides_gini,
            "rides_top20_share": self.rides_top20_share,
        }


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance on a sphere of radius 6371 km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def line_km(coordinates: Sequence[tuple[float, float]]) -> float:
    """Length of a WGS84 polyline."""
    return sum(haversine_km(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(coordinates))


def direct_km(straight_km: float) -> float:
    """Estimated road distance of a trip from its straight-line distance."""
    return straight_km * ROAD_CIRCUITY


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def gini(values: Sequence[int]) -> float | None:
    """Gini coefficient of non-negative counts; ``None`` for none or an all-zero list."""
    total = sum(values)
    if not values or total == 0:
        return None
    n = len(values)
    ranked = sum(i * x for i, x in enumerate(sorted(values), start=1))
    return 2.0 * ranked / (n * total) - (n + 1) / n


def top_share(values: Sequence[int], fraction: float = 0.2) -> float | None:
    """Share of the total held by the largest ``fraction`` of the values (at least one)."""
    total = sum(values)
    if not values or total == 0:
        return None
    k = max(1, math.ceil(fraction * len(values) - 1e-9))
    return sum(sorted(values, reverse=True)[:k]) / total


def compute(
    requests: Sequence[RequestFact], trips: Sequence[TripFact], offering: Sequence[str] = ()
) -> Kpis:
    """The key figures of a period (see the module docstring); ``offering`` are the drivers
    who offered a trip in the period (for the load across drivers)."""
    served = [r for r in requests if r.served]
    waits = [
        max(0.0, (r.pickup_at - r.requested_at).total_seconds() / 60.0)
        for r in served
        if r.pickup_at is not None
    ]
    detours = [max(0.0, t.route_km - t.direct_km) for t in trips if t.route_km is not None]
    alone = sum(r.direct_km for r in served)
    saved = alone - sum(detours)
    drivers = {r.driver_id for r in served if r.driver_id is not None}
    by_village: dict[str, list[RequestFact]] = {}
    for r in requests:
        by_village.setdefault(r.village or "—", []).append(r)
    villages = tuple(
        VillageShare(
            name,
            len(rs),
            sum(1 for r in rs if r.served),
            _round(sum(1 for r in rs if r.served) / len(rs), 4),
        )
        for name, rs in sorted(by_village.items())
    )
    unmet = tuple(r for r in requests if not r.served)
    rides = dict.fromkeys(sorted(set(offering) | drivers), 0)
    for r in served:
        if r.driver_id is not None:
            rides[r.driver_id] += 1
    load = list(rides.values())
    return Kpis(
        requests=len(requests),
        served=len(served),
        served_share=_round(len(served) / len(requests), 4) if requests else None,
        wait_median_min=_round(statistics.median(waits)) if waits else None,
        wait_p90_min=_round(percentile(waits, 90)),
        detour_mean_km=_round(statistics.fmean(detours)) if detours else None,
        detour_p95_km=_round(percentile(detours, 95)),
        vehicle_km_alone=round(alone, 2),
        vehicle_km_saved=round(saved, 2),
        co2_saved_kg=round(saved * CO2_KG_PER_VEHICLE_KM, 2),
        volunteers=len(drivers),
        rides_per_volunteer=_round(len(served) / len(drivers)) if drivers else None,
        villages=villages,
        unmet=unmet,
        grid=heat_grid(unmet),
        active_drivers=len(load),
        rides_gini=_round(gini(load), 4),
        rides_top20_share=_round(top_share(load), 4),
    )


def heat_grid(unmet: Sequence[RequestFact], cell_m: int = GRID_CELL_M) -> tuple[GridCell, ...]:
    """Unmet requests counted per grid cell (only cells with at least one)."""
    counts: dict[tuple[int, int], int] = {}
    for r in unmet:
        key = (math.floor(r.x_m / cell_m) * cell_m, math.floor(r.y_m / cell_m) * cell_m)
        counts[key] = counts.get(key, 0) + 1
    return tuple(GridCell(x, y, n) for (x, y), n in sorted(counts.items()))


def comparison(candidate: Kpis, reference: Kpis) -> list[dict[str, str | float | int | None]]:
    """Side by side: each scalar figure of both, and the difference (candidate − reference)."""
    a, b = candidate.summary(), reference.summary()
    rows: list[dict[str, str | float | int | None]] = []
    for key in a:
        x, y = a[key], b[key]
        diff = None if x is None or y is None else round(float(x) - float(y), 4)
        rows.append({"kpi": key, "candidate": x, "reference": y, "difference": diff})
    return rows
