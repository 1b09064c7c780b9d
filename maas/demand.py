"""A seeded generator of one realistic service day of rural ride demand.

:func:`generate_day` takes a loaded :class:`~maas.roads.RoadNetwork`, the region's villages and
a seed and returns a :class:`DemandDay`: ride requests and driver offers with addresses snapped
to the road network, time windows as aware datetimes (Europe/Berlin) and the product's default
limits. It does no I/O and is deterministic per ``(network, villages, params, seed)``. The
benchmark ``bench/rural_day.py`` uses it, and so can the operator's "what-if on a generated day".

Model
-----
**Places.** Every village is weighted by its population (OSM ``population``); a population value
shared by several places (a municipality's figure tagged on each of its Ortsteile, as Gäufelden
on Nebringen, Öschelbronn and Tailfingen) is split evenly between them; places without one get
:data:`DEFAULT_POPULATION` by ``kind``. Towns (``place=town|city``; if there is none, the largest
place) are where the jobs, doctors and shops are.

**Addresses.** An address is drawn uniformly from the village polygon intersected with a disk
around the place point whose radius grows with the square root of the population (about 2 km
for a town of 30,000, 600 m for a village of 1,500): the built-up core rather than the forest of
a Voronoi cell. It must snap to a drivable road within ``snap_max_distance_m`` (houses are near
roads), otherwise another point is drawn. Destinations are shared places as in real life: per
town a few *centre* points (doctor, pharmacy, supermarket, station) near the place point, and
*workplaces* in towns and larger villages (one per ~1,000 inhabitants, 2–25 per place).

**Requests** come as *tours* of one person: an outward trip and, with probability
``return_share``, the trip back. Purposes (shares of tours):

* ``commute`` — home (a village; towns count with ``town_home_factor`` of their population) to a
  workplace in another place, arrival wanted 06:30–08:30 (peak 07:30); back 16:00–18:00;
* ``errand`` — doctor or shopping in a town centre, appointment 09:00–13:00; back 1–2.5 h later;
* ``village`` — to a random address in another village within ``village_trip_max_km``,
  departure 08:00–17:00; back 1–3 h later.

A trip anchored at an arrival (commute and errand outward) wants to arrive within ``±window``
of the wanted time (``window`` drawn from ``window_min``, default 15–30 min); its earliest
departure allows the longest permitted ride. A trip anchored at a departure (every return, the
village trips) leaves within ``±window`` and must arrive at most ``max_ride_s`` after the latest
departure. ``max_ride_s`` follows the product rule ``1.5 × direct + 10 min``. Passengers: 1, or
2 with ``two_passenger_share``; a few riders need a wheelchair place or a child seat.

**Offers** (``offers_per_request`` × requests, rounded): drivers' own trips — commutes to work
06:00–08:30 (arrival) and back 15:30–18:00, and some midday errands to a town. Free seats 1–4
(:data:`SEAT_WEIGHTS`), departure window ``±driver_window_min``, detour limits
``DEFAULT_MAX_DETOUR_S`` / ``DEFAULT_MAX_DETOUR_PCT`` for most drivers and a varied pair for
``detour_variation_share`` of them, a few cars with a wheelchair place or child seat, and most
offers marked weekly (the generator still produces one service day).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from maas.errors import InputError
from maas.roads.arrays import to_metric, to_wgs84
from maas.roads.network import RoadNetwork, Snap
from matching.model import DEFAULT_MAX_DETOUR_PCT, DEFAULT_MAX_DETOUR_S, default_max_ride_s

__all__ = [
    "DEFAULT_POPULATION",
    "SEAT_WEIGHTS",
    "Address",
    "DemandDay",
    "DemandParams",
    "GeneratedOffer",
    "GeneratedRequest",
    "Purpose",
    "VillageLike",
    "generate_day",
    "place_weights",
]

#: Assumed population of a place without an OSM ``population`` tag, by ``place=*`` kind.
DEFAULT_POPULATION: Final[dict[str, int]] = {
    "city": 50_000,
    "town": 10_000,
    "village": 1_500,
    "suburb": 1_500,
    "quarter": 1_000,
    "hamlet": 100,
    "isolated_dwelling": 10,
}
#: Relative frequency of 1, 2, 3 and 4 free seats in an offer.
SEAT_WEIGHTS: Final[tuple[float, float, float, float]] = (0.25, 0.35, 0.25, 0.15)
#: Varied (max_detour_s, max_detour_pct) pairs for drivers who do not keep the defaults.
DETOUR_VARIANTS: Final[tuple[tuple[int, float], ...]] = (
    (300, 30.0),
    (600, 40.0),
    (600, 50.0),
    (1200, 50.0),
    (1200, 75.0),
    (1800, 100.0),
)
_TOWN_KINDS: Final = frozenset({"town", "city"})
_WORK_KINDS: Final = frozenset({"town", "city", "village"})


class VillageLike(Protocol):
    """What the generator needs of a village (:class:`maas.roads.villages.Village` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def population(self) -> int | None: ...
    @property
    def point(self) -> Point: ...
    @property
    def geometry(self) -> BaseGeometry: ...


class Purpose(StrEnum):
    """Why a trip is made."""

    COMMUTE = "commute"
    COMMUTE_HOME = "commute_home"
    ERRAND = "errand"
    ERRAND_HOME = "errand_home"
    VILLAGE = "village"
    VILLAGE_HOME = "village_home"


@dataclass(frozen=True, slots=True)
class Address:
    """A generated point (WGS84) with its village and its snap onto the road network."""

    lon: float
    lat: float
    village: str
    snap: Snap


@dataclass(frozen=True, slots=True)
class GeneratedRequest:
    """A ride request of one trip.

    ``earliest_departure`` .. ``latest_departure`` bound the pickup (``latest_departure`` is
    ``None`` for trips anchored at an arrival); ``earliest_arrival`` (``None`` for trips anchored
    at a departure) .. ``latest_arrival`` bound the drop-off. ``direct_s`` is the road travel
    time, ``max_ride_s`` the product limit ``1.5 × direct + 10 min``.
    """

    id: str
    person_id: str
    purpose: Purpose
    origin: Address
    destination: Address
    earliest_departure: datetime
    latest_departure: datetime | None
    earliest_arrival: datetime | None
    latest_arrival: datetime
    direct_s: float
    max_ride_s: int
    passengers: int
    needs: frozenset[str]


@dataclass(frozen=True, slots=True)
class GeneratedOffer:
    """A driver's offer of free seats on a trip made anyway."""

    id: str
    person_id: str
    purpose: Purpose
    origin: Address
    destination: Address
    earliest_departure: datetime
    latest_departure: datetime
    latest_arrival: datetime
    direct_s: float
    seats: int
    max_detour_s: int
    max_detour_pct: float
    features: frozenset[str]
    weekly: bool

    @property
    def detour_budget_s(self) -> int:
        """``min(max_detour_s, max_detour_pct % of the direct time)``, in seconds."""
        return min(self.max_detour_s, math.floor(self.max_detour_pct * self.direct_s / 100.0))


def _check(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{name}: {message}")


@dataclass(frozen=True, slots=True)
class DemandParams:
    """Parameters of :func:`generate_day` (validated on construction).

    Parameters
    ----------
    num_requests
        Number of ride requests (trips) to generate.
    offers_per_request
        Offers as a share of requests (default 0.4).
    service_date
        The day; times are aware datetimes in ``timezone``.
    timezone
        IANA zone of the region (default Europe/Berlin).
    commute_share, errand_share, village_share
        Shares of request tours by purpose (normalised).
    return_share
        Probability that a commute or errand tour includes the trip back.
    village_return_share
        The same for village-to-village tours.
    window_min
        Range of a rider's ``±`` flexibility around the wanted time, minutes.
    driver_window_min
        Range of a driver's ``±`` flexibility around the departure, minutes.
    two_passenger_share
        Share of requests for two passengers (the rest are for one).
    wheelchair_request_share, child_seat_request_share
        Share of requests needing a wheelchair place / child seat.
    wheelchair_offer_share, child_seat_offer_share
        Share of offers whose car has one.
    detour_variation_share
        Share of drivers with a detour limit from :data:`DETOUR_VARIANTS` instead of the default.
    weekly_offer_share
        Share of offers that recur weekly.
    driver_commute_share, driver_return_share
        Shares of offers that are morning commutes / afternoon trips home (the rest: errands).
    town_home_factor
        Weight of a town's population as a home of riders and drivers (rural service: < 1).
    village_trip_max_km
        Farthest village-to-village trip (straight line, km).
    snap_max_distance_m
        An address must lie this close to a drivable road.
    ride_factor, ride_extra_s
        The ride-time rule ``ride_factor × direct + ride_extra_s``.
    """

    num_requests: int
    offers_per_request: float = 0.4
    service_date: date = date(2026, 3, 17)
    timezone: str = "Europe/Berlin"
    commute_share: float = 0.4
    errand_share: float = 0.4
    village_share: float = 0.2
    return_share: float = 0.75
    village_return_share: float = 0.5
    window_min: tuple[int, int] = (15, 30)
    driver_window_min: tuple[int, int] = (5, 20)
    two_passenger_share: float = 0.12
    wheelchair_request_share: float = 0.02
    child_seat_request_share: float = 0.03
    wheelchair_offer_share: float = 0.04
    child_seat_offer_share: float = 0.12
    detour_variation_share: float = 0.35
    weekly_offer_share: float = 0.7
    driver_commute_share: float = 0.5
    driver_return_share: float = 0.35
    town_home_factor: float = 0.25
    village_trip_max_km: float = 12.0
    snap_max_distance_m: float = 150.0
    ride_factor: float = 1.5
    ride_extra_s: int = 600
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check(self.num_requests >= 0, "num_requests", "must be >= 0")
        _check(self.offers_per_request >= 0, "offers_per_request", "must be >= 0")
        shares = (self.commute_share, self.errand_share, self.village_share)
        _check(min(shares) >= 0 and sum(shares) > 0, "commute_share", "shares must be >= 0, > 0")
        for name in (
            "return_share",
            "village_return_share",
            "two_passenger_share",
            "wheelchair_request_share",
            "child_seat_request_share",
            "wheelchair_offer_share",
            "child_seat_offer_share",
            "detour_variation_share",
            "weekly_offer_share",
            "driver_commute_share",
            "driver_return_share",
        ):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, name, "must be within [0, 1]")
        _check(
            self.driver_commute_share + self.driver_return_share <= 1.0,
            "driver_return_share",
            "driver_commute_share + driver_return_share must be <= 1",
        )
        for name in ("window_min", "driver_window_min"):
            lo, hi = getattr(self, name)
            _check(0 <= lo <= hi, name, "must be (low, high) with 0 <= low <= high")
        _check(self.town_home_factor >= 0, "town_home_factor", "must be >= 0")
        _check(self.village_trip_max_km > 0, "village_trip_max_km", "must be > 0")
        _check(self.snap_max_distance_m > 0, "snap_max_distance_m", "must be > 0")
        _check(self.ride_factor >= 1.0, "ride_factor", "must be >= 1")
        _check(self.ride_extra_s >= 0, "ride_extra_s", "must be >= 0")
        try:
            tz = ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"timezone: unknown zone {self.timezone!r}") from exc
        object.__setattr__(self, "_tz", tz)

    @property
    def num_offers(self) -> int:
        """Number of offers generated."""
        return round(self.offers_per_request * self.num_requests)

    def at(self, seconds_of_day: float) -> datetime:
        """The aware datetime ``seconds_of_day`` after local midnight of the service date."""
        midnight = datetime.combine(self.service_date, time(0), tzinfo=self._tz)
        return midnight + timedelta(seconds=round(seconds_of_day))


@dataclass(frozen=True)
class DemandDay:
    """One generated service day: requests and offers (see the module docstring)."""

    params: DemandParams
    seed: int
    requests: tuple[GeneratedRequest, ...]
    offers: tuple[GeneratedOffer, ...]

    @property
    def midnight(self) -> datetime:
        """Local midnight of the service date (the origin of ``seconds`` times)."""
        return self.params.at(0)

    def seconds(self, moment: datetime) -> int:
        """Whole seconds from local midnight of the service date to ``moment``."""
        return round((moment - self.midnight).total_seconds())


def place_weights(villages: Sequence[VillageLike]) -> np.ndarray:
    """Population weight of every village (shared values split, defaults by kind).

    Parameters
    ----------
    villages
        The region's villages.

    Returns
    -------
    numpy.ndarray
        float64 weights, one per village, all > 0.
    """
    shared: dict[int, int] = {}
    for v in villages:
        if v.population is not None and v.population > 0:
            shared[v.population] = shared.get(v.population, 0) + 1
    out = np.empty(len(villages))
    for i, v in enumerate(villages):
        if v.population is not None and v.population > 0:
            out[i] = v.population / shared[v.population]
        else:
            out[i] = DEFAULT_POPULATION.get(v.kind, 10)
    return out


# ---- the generator's state -------------------------------------------------------------------


@dataclass(slots=True)
class _Place:
    index: int
    name: str
    kind: str
    weight: float
    point_xy: tuple[float, float]
    core_xy: BaseGeometry  # polygon ∩ disk, EPSG:25832
    bounds: tuple[float, float, float, float]


class _Generator:
    def __init__(
        self,
        network: RoadNetwork,
        villages: Sequence[VillageLike],
        params: DemandParams,
        rng: np.random.Generator,
    ) -> None:
        self.network = network
        self.params = params
        self.rng = rng
        self.fwd = to_metric()
        self.back = to_wgs84()
        weights = place_weights(villages)
        places: list[_Place] = []
        for i, v in enumerate(villages):
            geom = _project(v.geometry, self.fwd)
            if geom.is_empty or geom.area <= 0:
                continue
            px, py = self.fwd.transform(v.point.x, v.point.y)
            radius = min(2500.0, 250.0 + 10.0 * math.sqrt(weights[i]))
            core = geom.intersection(Point(px, py).buffer(radius))
            if core.is_empty or core.area < 1.0:
                core = geom
            shapely.prepare(core)
            places.append(_Place(i, v.name, v.kind, float(weights[i]), (px, py), core, core.bounds))
        if len(places) < 2:
            raise ValueError("villages: need at least two villages with an area")
        self.places = places
        towns = [p for p in places if p.kind in _TOWN_KINDS]
        self.towns = towns or [max(places, key=lambda p: p.weight)]
        home = np.array(
            [p.weight * (params.town_home_factor if p.kind in _TOWN_KINDS else 1.0) for p in places]
        )
        self.home_p = home / home.sum()
        work_places = [p for p in places if p.kind in _WORK_KINDS] or self.towns
        self.work_places = work_places
        # Jobs concentrate in towns: twice their weight.
        jobs = np.array([p.weight * (2.0 if p.kind in _TOWN_KINDS else 0.5) for p in work_places])
        self.work_p = jobs / jobs.sum()
        self.workplaces: dict[int, list[Address]] = {}
        self.centres: dict[int, list[Address]] = {}

    # ---- addresses -------------------------------------------------------------------------

    def address(self, place: _Place, radius_m: float | None = None) -> Address:
        """A random address in the place's core (or within ``radius_m`` of its point)."""
        region = place.core_xy
        if radius_m is not None:
            disk = Point(*place.point_xy).buffer(radius_m)
            small = region.intersection(disk)
            if not small.is_empty and small.area > 1.0:
                region = small
                shapely.prepare(region)
        x0, y0, x1, y1 = region.bounds
        for _ in range(200):
            x = float(self.rng.uniform(x0, x1))
            y = float(self.rng.uniform(y0, y1))
            if not shapely.contains_xy(region, x, y):
                continue
            lon, lat = self.back.transform(x, y)
            try:
                snap = self.network.snap(lon, lat, max_distance_m=self.params.snap_max_distance_m)
            except InputError:
                continue
            return Address(float(lon), float(lat), place.name, snap)
        # A place without roads near its core: its point, snapped with the network's own limit.
        lon, lat = self.back.transform(*place.point_xy)
        return Address(float(lon), float(lat), place.name, self.network.snap(lon, lat))

    def workplace(self, place: _Place) -> Address:
        pool = self.workplaces.get(place.index)
        if pool is None:
            count = int(min(25, max(2, round(place.weight / 1000))))
            pool = [self.address(place) for _ in range(count)]
            self.workplaces[place.index] = pool
        return pool[int(self.rng.integers(len(pool)))]

    def centre(self, place: _Place) -> Address:
        pool = self.centres.get(place.index)
        if pool is None:
            count = 6 if place.kind in _TOWN_KINDS else 2
            pool = [self.address(place, radius_m=600.0) for _ in range(count)]
            self.centres[place.index] = pool
        return pool[int(self.rng.integers(len(pool)))]

    # ---- choices ---------------------------------------------------------------------------

    def home_place(self) -> _Place:
        return self.places[int(self.rng.choice(len(self.places), p=self.home_p))]

    def work_place(self, home: _Place) -> _Place:
        for _ in range(50):
            p = self.work_places[int(self.rng.choice(len(self.work_places), p=self.work_p))]
            if p.index != home.index:
                return p
        return next(p for p in self.places if p.index != home.index)

    def errand_place(self, home: _Place) -> _Place:
        towns = [t for t in self.towns if t.index != home.index] or self.towns
        w = np.array([t.weight for t in towns])
        return towns[int(self.rng.choice(len(towns), p=w / w.sum()))]

    def neighbour_place(self, home: _Place) -> _Place:
        hx, hy = home.point_xy
        limit_m = 1000.0 * self.params.village_trip_max_km
        near = [
            p
            for p in self.places
            if p.index != home.index
            and p.kind not in _TOWN_KINDS
            and math.hypot(p.point_xy[0] - hx, p.point_xy[1] - hy) <= limit_m
        ] or [p for p in self.places if p.index != home.index]
        w = np.array([p.weight for p in near])
        return near[int(self.rng.choice(len(near), p=w / w.sum()))]

    def minutes(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi)) * 60.0

    def window_s(self, bounds: tuple[int, int]) -> int:
        return 60 * int(self.rng.integers(bounds[0], bounds[1] + 1))


def _project(geom: BaseGeometry, transformer: object) -> BaseGeometry:
    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])  # type: ignore[attr-defined]
        return np.column_stack([x, y])

    return shapely.transform(geom, apply)


def _hours(h: float) -> float:
    return h * 3600.0


# ---- trips -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Trip:
    person: str
    purpose: Purpose
    origin: Address
    destination: Address
    anchor: str  # "arrival" | "departure"
    wanted_s: float  # wanted arrival or departure, seconds of day
    # For a trip back: the outward trip whose arrival it must follow.
    after: _Trip | None = None


def _request_tours(gen: _Generator, count: int) -> list[_Trip]:
    p = gen.params
    rng = gen.rng
    shares = np.array([p.commute_share, p.errand_share, p.village_share])
    shares = shares / shares.sum()
    trips: list[_Trip] = []
    person = 0
    while len(trips) < count:
        person += 1
        pid = f"rider-{person:05d}"
        kind = int(rng.choice(3, p=shares))
        home_place = gen.home_place()
        home = gen.address(home_place)
        if kind == 0:
            dest = gen.workplace(gen.work_place(home_place))
            arrive = _hours(float(rng.triangular(6.5, 7.5, 8.5)))
            out = _Trip(pid, Purpose.COMMUTE, home, dest, "arrival", arrive)
            back_s = _hours(float(rng.uniform(16.0, 18.0)))
            back_purpose, back_share = Purpose.COMMUTE_HOME, p.return_share
        elif kind == 1:
            dest = gen.centre(gen.errand_place(home_place))
            arrive = _hours(float(rng.uniform(9.0, 13.0)))
            out = _Trip(pid, Purpose.ERRAND, home, dest, "arrival", arrive)
            back_s = arrive + gen.minutes(60.0, 150.0)
            back_purpose, back_share = Purpose.ERRAND_HOME, p.return_share
        else:
            dest = gen.address(gen.neighbour_place(home_place))
            leave = _hours(float(rng.uniform(8.0, 17.0)))
            out = _Trip(pid, Purpose.VILLAGE, home, dest, "departure", leave)
            back_s = leave + gen.minutes(60.0, 180.0)
            back_purpose, back_share = Purpose.VILLAGE_HOME, p.village_return_share
        trips.append(out)
        if len(trips) < count and rng.random() < back_share:
            trips.append(_Trip(pid, back_purpose, dest, home, "departure", back_s, after=out))
    return trips


def _offer_trips(gen: _Generator, count: int) -> list[_Trip]:
    p = gen.params
    rng = gen.rng
    trips: list[_Trip] = []
    for k in range(count):
        pid = f"driver-{k + 1:05d}"
        home_place = gen.home_place()
        home = gen.address(home_place)
        u = rng.random()
        if u < p.driver_commute_share:
            work = gen.workplace(gen.work_place(home_place))
            arrive = _hours(float(rng.triangular(6.0, 7.25, 8.5)))
            trips.append(_Trip(pid, Purpose.COMMUTE, home, work, "arrival", arrive))
        elif u < p.driver_commute_share + p.driver_return_share:
            work = gen.workplace(gen.work_place(home_place))
            leave = _hours(float(rng.uniform(15.5, 18.0)))
            trips.append(_Trip(pid, Purpose.COMMUTE_HOME, work, home, "departure", leave))
        else:
            town = gen.centre(gen.errand_place(home_place))
            leave = _hours(float(rng.uniform(8.5, 14.5)))
            if rng.random() < 0.5:
                trips.append(_Trip(pid, Purpose.ERRAND, home, town, "departure", leave))
            else:
                trips.append(_Trip(pid, Purpose.ERRAND_HOME, town, home, "departure", leave))
    return trips


def _direct_times(network: RoadNetwork, trips: Sequence[_Trip]) -> np.ndarray:
    """Road travel time of every trip (one Dijkstra per distinct origin)."""
    if not trips:
        return np.zeros(0)
    origins: dict[tuple[int, float], int] = {}
    dests: dict[tuple[int, float], int] = {}
    o_snaps: list[Snap] = []
    d_snaps: list[Snap] = []
    rows = []
    cols = []
    for t in trips:
        ko = (t.origin.snap.piece, t.origin.snap.fraction)
        kd = (t.destination.snap.piece, t.destination.snap.fraction)
        if ko not in origins:
            origins[ko] = len(o_snaps)
            o_snaps.append(t.origin.snap)
        if kd not in dests:
            dests[kd] = len(d_snaps)
            d_snaps.append(t.destination.snap)
        rows.append(origins[ko])
        cols.append(dests[kd])
    matrix = network.travel_time_matrix(o_snaps, d_snaps)
    out: np.ndarray = matrix[np.asarray(rows), np.asarray(cols)]
    return out


def generate_day(
    network: RoadNetwork,
    villages: Sequence[VillageLike],
    params: DemandParams,
    *,
    seed: int = 0,
) -> DemandDay:
    """Generate one service day of ride requests and driver offers.

    Parameters
    ----------
    network
        The region's road network; every address is snapped onto it.
    villages
        The region's villages (name, kind, population, place point and WGS84 polygon).
    params
        Sizes, shares and limits (see :class:`DemandParams`).
    seed
        Seed of the random generator: the same inputs and seed give the same day.

    Returns
    -------
    DemandDay
        ``params.num_requests`` requests and ``params.num_offers`` offers.

    Raises
    ------
    ValueError
        If fewer than two villages have an area, or a generated trip has no road connection.
    """
    rng = np.random.default_rng(seed)
    gen = _Generator(network, villages, params, rng)
    req_trips = _request_tours(gen, params.num_requests)
    off_trips = _offer_trips(gen, params.num_offers)
    direct = _direct_times(network, [*req_trips, *off_trips])
    if not np.isfinite(direct).all():
        raise ValueError("villages: a generated trip has no road connection")
    req_direct, off_direct = direct[: len(req_trips)], direct[len(req_trips) :]

    requests: list[GeneratedRequest] = []
    latest_arrival_of: dict[int, int] = {}
    for k, (trip, direct_s) in enumerate(zip(req_trips, req_direct, strict=True)):
        max_ride = default_max_ride_s(
            round(float(direct_s)), factor=params.ride_factor, extra_s=params.ride_extra_s
        )
        w = gen.window_s(params.window_min)
        passengers = 2 if rng.random() < params.two_passenger_share else 1
        needs: set[str] = set()
        if rng.random() < params.wheelchair_request_share:
            needs.add("wheelchair")
        if rng.random() < params.child_seat_request_share:
            needs.add("child_seat")
        wanted = round(trip.wanted_s)
        if trip.anchor == "arrival":
            earliest_arr = wanted - w
            latest_arr = wanted + w
            earliest_dep = earliest_arr - max_ride
            latest_dep: int | None = None
            earliest_arr_opt: int | None = earliest_arr
        else:
            if trip.after is not None:
                # Not before the outward trip can have arrived.
                before = latest_arrival_of.get(id(trip.after))
                if before is not None:
                    wanted = max(wanted, before + w)
            earliest_dep = wanted - w
            latest_dep = wanted + w
            latest_arr = latest_dep + max_ride
            earliest_arr_opt = None
        latest_arrival_of[id(trip)] = latest_arr
        requests.append(
            GeneratedRequest(
                id=f"req-{k + 1:05d}",
                person_id=trip.person,
                purpose=trip.purpose,
                origin=trip.origin,
                destination=trip.destination,
                earliest_departure=params.at(earliest_dep),
                latest_departure=None if latest_dep is None else params.at(latest_dep),
                earliest_arrival=None if earliest_arr_opt is None else params.at(earliest_arr_opt),
                latest_arrival=params.at(latest_arr),
                direct_s=float(direct_s),
                max_ride_s=max_ride,
                passengers=passengers,
                needs=frozenset(needs),
            )
        )

    offers: list[GeneratedOffer] = []
    for k, (trip, direct_s) in enumerate(zip(off_trips, off_direct, strict=True)):
        w = gen.window_s(params.driver_window_min)
        seats = 1 + int(rng.choice(4, p=np.asarray(SEAT_WEIGHTS) / sum(SEAT_WEIGHTS)))
        if rng.random() < params.detour_variation_share:
            max_detour_s, max_detour_pct = DETOUR_VARIANTS[int(rng.integers(len(DETOUR_VARIANTS)))]
        else:
            max_detour_s, max_detour_pct = DEFAULT_MAX_DETOUR_S, DEFAULT_MAX_DETOUR_PCT
        features: set[str] = set()
        if rng.random() < params.wheelchair_offer_share:
            features.add("wheelchair")
        if rng.random() < params.child_seat_offer_share:
            features.add("child_seat")
        weekly = bool(rng.random() < params.weekly_offer_share)
        direct_int = round(float(direct_s))
        leave = round(trip.wanted_s) - (direct_int if trip.anchor == "arrival" else 0)
        budget = min(max_detour_s, math.floor(max_detour_pct * float(direct_s) / 100.0))
        offers.append(
            GeneratedOffer(
                id=f"off-{k + 1:05d}",
                person_id=trip.person,
                purpose=trip.purpose,
                origin=trip.origin,
                destination=trip.destination,
                earliest_departure=params.at(leave - w),
                latest_departure=params.at(leave + w),
                latest_arrival=params.at(leave + w + direct_int + budget),
                direct_s=float(direct_s),
                seats=seats,
                max_detour_s=max_detour_s,
                max_detour_pct=max_detour_pct,
                features=frozenset(features),
                weekly=weekly,
            )
        )
    return DemandDay(params=params, seed=seed, requests=tuple(requests), offers=tuple(offers))
