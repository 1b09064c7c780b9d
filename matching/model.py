"""Problem model: drivers, riders, the travel-time matrix and solver parameters.

Every class here is a frozen dataclass that validates itself on construction and
raises :class:`ValueError` naming the offending field.  All times are integer
seconds measured from one common origin (e.g. midnight of the service day);
all locations are indices into the square travel-time matrix of the
:class:`Problem`.

Conventions
-----------
* A *time window* constrains the moment the vehicle is **at** a stop (the start
  of boarding or alighting).  Walking shifts the rider's windows: a pickup at a
  candidate with walking time ``w`` may not happen before
  ``earliest_pickup_s + w``, and a drop-off at a candidate with walking time
  ``w`` must happen no later than ``latest_dropoff_s - w``.
* ``board_s`` / ``alight_s`` are dwell times spent at the pickup / drop-off stop.
* Ride time is ``dropoff time - pickup time`` (it includes the boarding dwell).
* A driver's detour limit bounds the whole trip duration (arrival at the end
  minus departure from the start, i.e. driving + dwell + waiting) by
  ``direct + min(max_detour_s, max_detour_pct/100 * direct)``.  This is the
  driver's *added time*; it is never smaller than the added driving time, so the
  product rule "added driving time <= budget" is always respected.
* The matrix is assumed to satisfy the triangle inequality (road shortest-path
  times do); the pruning stage relies on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MAX_DETOUR_PCT",
    "DEFAULT_MAX_DETOUR_S",
    "Candidate",
    "Driver",
    "Problem",
    "Rider",
    "default_max_ride_s",
]

#: Default absolute detour budget of a driver (15 minutes).
DEFAULT_MAX_DETOUR_S = 900
#: Default relative detour budget of a driver, in percent of the direct time.
DEFAULT_MAX_DETOUR_PCT = 50.0

IntMatrix = npt.NDArray[np.int64]


def default_max_ride_s(direct_s: int, factor: float = 1.5, extra_s: int = 600) -> int:
    """Return the default maximum ride time for a rider.

    Product rule: ride time <= 1.5 x direct time + 10 minutes.

    Parameters
    ----------
    direct_s
        Direct (non-stop) travel time from pickup to drop-off, in seconds.
    factor
        Multiplier on the direct time (default 1.5).
    extra_s
        Constant allowance in seconds (default 600).

    Returns
    -------
    int
        The maximum ride time in seconds (rounded down).
    """
    if direct_s < 0:
        raise ValueError("direct_s must be >= 0")
    return math.floor(factor * direct_s) + extra_s


def _require(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{name}: {message}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place where a rider can board or alight.

    Parameters
    ----------
    location
        Location index in the travel-time matrix.
    walk_s
        Walking time between the rider's own address and this place, in seconds.
    """

    location: int
    walk_s: int = 0

    def __post_init__(self) -> None:
        _require(self.location >= 0, "location", "must be >= 0")
        _require(self.walk_s >= 0, "walk_s", "must be >= 0")


@dataclass(frozen=True, slots=True)
class Driver:
    """A volunteer driver offering free seats on a trip.

    Parameters
    ----------
    id
        Unique identifier of the offer.
    person_id
        Identifier of the person driving; never matched with a rider of the
        same person.
    start, end
        Location indices of the trip's origin and destination.
    earliest_departure_s, latest_departure_s
        Departure window at ``start``.
    latest_arrival_s
        Latest arrival at ``end``.
    seats
        Free seats (riders' passenger counts are charged against them).
    max_detour_s
        Absolute bound on added trip time in seconds; ``None`` = unlimited.
    max_detour_pct
        Relative bound in percent of the direct time; ``None`` = unlimited.
        The effective budget is the minimum of the two bounds.
    features
        Vehicle features such as ``"wheelchair"``, ``"child_seat"``, ``"luggage"``.
    confirmed_rider_ids
        Riders already confirmed with this driver; they are kept on this
        driver and must be served.
    rides_before
        Rides this driver already gave in the current period (e.g. this
        week) before this plan; each one makes every further rider more
        expensive when :attr:`~matching.SolveParams.fairness_weight` is set
        (see :mod:`matching.fairness`).  Confirmed riders of this plan are
        counted by the plan, not here.
    """

    id: str
    person_id: str
    start: int
    end: int
    earliest_departure_s: int
    latest_departure_s: int
    latest_arrival_s: int
    seats: int
    max_detour_s: int | None = DEFAULT_MAX_DETOUR_S
    max_detour_pct: float | None = DEFAULT_MAX_DETOUR_PCT
    features: frozenset[str] = frozenset()
    confirmed_rider_ids: tuple[str, ...] = ()
    rides_before: int = 0

    def __post_init__(self) -> None:
        _require(self.start >= 0, "start", "must be >= 0")
        _require(self.rides_before >= 0, "rides_before", "must be >= 0")
        _require(self.end >= 0, "end", "must be >= 0")
        _require(
            self.latest_departure_s >= self.earliest_departure_s,
            "latest_departure_s",
            "must be >= earliest_departure_s",
        )
        _require(
            self.latest_arrival_s >= self.earliest_departure_s,
            "latest_arrival_s",
            "must be >= earliest_departure_s",
        )
        _require(self.seats >= 0, "seats", "must be >= 0")
        _require(
            self.max_detour_s is None or self.max_detour_s >= 0, "max_detour_s", "must be >= 0"
        )
        _require(
            self.max_detour_pct is None
            or (math.isfinite(self.max_detour_pct) and self.max_detour_pct >= 0),
            "max_detour_pct",
            "must be a finite number >= 0",
        )
        _require(isinstance(self.features, frozenset), "features", "must be a frozenset")
        _require(
            len(set(self.confirmed_rider_ids)) == len(self.confirmed_rider_ids),
            "confirmed_rider_ids",
            "must not contain duplicates",
        )

    def detour_budget_s(self, direct_s: int) -> int | None:
        """Return the allowed added trip time for a direct time, ``None`` if unlimited.

        Parameters
        ----------
        direct_s
            Direct travel time from ``start`` to ``end`` in seconds.

        Returns
        -------
        int or None
            ``min(max_detour_s, floor(max_detour_pct / 100 * direct_s))`` over the
            bounds that are set.
        """
        bounds: list[int] = []
        if self.max_detour_s is not None:
            bounds.append(self.max_detour_s)
        if self.max_detour_pct is not None:
            bounds.append(math.floor(self.max_detour_pct * direct_s / 100.0))
        return min(bounds) if bounds else None


@dataclass(frozen=True, slots=True)
class Rider:
    """A request for a ride.

    Parameters
    ----------
    id
        Unique identifier of the request.
    person_id
        Identifier of the travelling person (never matched with own offer).
    pickups, dropoffs
        Candidate boarding / alighting places (the rider's own address, or the
        meeting points within walking distance).  Exactly one of each is used.
    earliest_pickup_s
        Earliest time the rider can leave; pickup at a candidate happens no
        earlier than this plus the walking time.
    latest_dropoff_s
        Latest time the rider must be at the destination; the drop-off at a
        candidate happens no later than this minus the walking time.
    passengers
        Number of seats needed.
    needs
        Required vehicle features; hard constraint (subset of driver features).
    max_ride_s
        Maximum ride time in seconds (``None`` = unlimited); see
        :func:`default_max_ride_s` for the product default.
    priority
        Weight >= 1 of serving this rider; the drop penalty is multiplied by it.
    board_s, alight_s
        Dwell time at the pickup / drop-off stop in seconds.
    latest_pickup_s
        Optional latest pickup time (vehicle at the pickup place).
    earliest_dropoff_s
        Optional earliest drop-off time (vehicle at the drop-off place).
    """

    id: str
    person_id: str
    pickups: tuple[Candidate, ...]
    dropoffs: tuple[Candidate, ...]
    earliest_pickup_s: int
    latest_dropoff_s: int
    passengers: int = 1
    needs: frozenset[str] = frozenset()
    max_ride_s: int | None = None
    priority: int = 1
    board_s: int = 0
    alight_s: int = 0
    latest_pickup_s: int | None = None
    earliest_dropoff_s: int | None = None

    def __post_init__(self) -> None:
        _require(len(self.pickups) > 0, "pickups", "needs at least one candidate")
        _require(len(self.dropoffs) > 0, "dropoffs", "needs at least one candidate")
        _require(
            all(isinstance(c, Candidate) for c in self.pickups), "pickups", "must be Candidates"
        )
        _require(
            all(isinstance(c, Candidate) for c in self.dropoffs), "dropoffs", "must be Candidates"
        )
        _require(
            len({c.location for c in self.pickups}) == len(self.pickups),
            "pickups",
            "locations must be distinct",
        )
        _require(
            len({c.location for c in self.dropoffs}) == len(self.dropoffs),
            "dropoffs",
            "locations must be distinct",
        )
        _require(
            self.latest_dropoff_s >= self.earliest_pickup_s,
            "latest_dropoff_s",
            "must be >= earliest_pickup_s",
        )
        _require(self.passengers >= 1, "passengers", "must be >= 1")
        _require(isinstance(self.needs, frozenset), "needs", "must be a frozenset")
        _require(self.max_ride_s is None or self.max_ride_s >= 0, "max_ride_s", "must be >= 0")
        _require(self.priority >= 1, "priority", "must be >= 1")
        _require(self.board_s >= 0, "board_s", "must be >= 0")
        _require(self.alight_s >= 0, "alight_s", "must be >= 0")
        _require(
            self.latest_pickup_s is None or self.latest_pickup_s >= self.earliest_pickup_s,
            "latest_pickup_s",
            "must be >= earliest_pickup_s",
        )
        _require(
            self.earliest_dropoff_s is None or self.earliest_dropoff_s <= self.latest_dropoff_s,
            "earliest_dropoff_s",
            "must be <= latest_dropoff_s",
        )

    def pickup_window(self, c: Candidate) -> tuple[int, int | None]:
        """Return the (earliest, latest) vehicle time at pickup candidate ``c``."""
        return self.earliest_pickup_s + c.walk_s, self.latest_pickup_s

    def dropoff_window(self, c: Candidate) -> tuple[int | None, int]:
        """Return the (earliest, latest) vehicle time at drop-off candidate ``c``."""
        return self.earliest_dropoff_s, self.latest_dropoff_s - c.walk_s

    def direct_s(self, travel_time_s: IntMatrix) -> int:
        """Return the shortest direct time over all pickup/drop-off candidate pairs."""
        return min(
            int(travel_time_s[p.location, d.location]) for p in self.pickups for d in self.dropoffs
        )


@dataclass(frozen=True, eq=False)
class Problem:
    """A matching instance: drivers, riders and the travel-time matrix.

    Parameters
    ----------
    travel_time_s
        Square non-negative integer matrix of travel times in seconds between
        locations (converted to a read-only ``int64`` array).
    drivers
        The drivers (vehicles).
    riders
        The riders (requests), including riders already confirmed with a driver.

    Raises
    ------
    ValueError
        If any field is inconsistent (naming the field).
    """

    travel_time_s: IntMatrix
    drivers: tuple[Driver, ...]
    riders: tuple[Rider, ...]
    _driver_index: dict[str, int] = field(init=False, repr=False)
    _rider_index: dict[str, int] = field(init=False, repr=False)
    _locked: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m = np.asarray(self.travel_time_s)
        _require(m.ndim == 2 and m.shape[0] == m.shape[1], "travel_time_s", "must be square")
        _require(np.issubdtype(m.dtype, np.integer), "travel_time_s", "must have an integer dtype")
        _require(bool((m >= 0).all()), "travel_time_s", "must be non-negative")
        m = np.array(m, dtype=np.int64, copy=True, order="C")
        m.setflags(write=False)
        object.__setattr__(self, "travel_time_s", m)
        object.__setattr__(self, "drivers", tuple(self.drivers))
        object.__setattr__(self, "riders", tuple(self.riders))
        n = m.shape[0]
        d_index: dict[str, int] = {}
        for i, d in enumerate(self.drivers):
            _require(isinstance(d, Driver), "drivers", "must contain Driver objects")
            _require(d.id not in d_index, "drivers", f"duplicate driver id {d.id!r}")
            d_index[d.id] = i
            _require(d.start < n and d.end < n, "drivers", f"driver {d.id!r} location out of range")
            direct = int(m[d.start, d.end])
            _require(
                d.earliest_departure_s + direct <= d.latest_arrival_s,
                "drivers",
                f"driver {d.id!r} cannot reach its end by latest_arrival_s",
            )
        r_index: dict[str, int] = {}
        for i, r in enumerate(self.riders):
            _require(isinstance(r, Rider), "riders", "must contain Rider objects")
            _require(r.id not in r_index, "riders", f"duplicate rider id {r.id!r}")
            r_index[r.id] = i
            for c in (*r.pickups, *r.dropoffs):
                _require(c.location < n, "riders", f"rider {r.id!r} location out of range")
        locked: dict[str, int] = {}
        for i, d in enumerate(self.drivers):
            for rid in d.confirmed_rider_ids:
                _require(rid in r_index, "drivers", f"confirmed rider {rid!r} is not in riders")
                _require(rid not in locked, "drivers", f"rider {rid!r} confirmed twice")
                locked[rid] = i
        object.__setattr__(self, "_driver_index", d_index)
        object.__setattr__(self, "_rider_index", r_index)
        object.__setattr__(self, "_locked", locked)

    @property
    def num_locations(self) -> int:
        """Number of locations (rows of the matrix)."""
        return int(self.travel_time_s.shape[0])

    def driver_index(self, driver_id: str) -> int:
        """Return the position of a driver in :attr:`drivers`."""
        return self._driver_index[driver_id]

    def rider_index(self, rider_id: str) -> int:
        """Return the position of a rider in :attr:`riders`."""
        return self._rider_index[rider_id]

    def has_rider(self, rider_id: str) -> bool:
        """Return whether a rider id is part of the problem."""
        return rider_id in self._rider_index

    def locked_driver(self, rider_id: str) -> int | None:
        """Return the index of the driver a rider is confirmed with, if any."""
        return self._locked.get(rider_id)

    def direct_s(self, driver: Driver) -> int:
        """Return the direct travel time of a driver's trip."""
        return int(self.travel_time_s[driver.start, driver.end])

    def max_duration_s(self, driver: Driver) -> int | None:
        """Return the trip duration limit (direct + detour budget), ``None`` if unlimited."""
        direct = self.direct_s(driver)
        budget = driver.detour_budget_s(direct)
        return None if budget is None else direct + budget
