"""Solution objects returned by :func:`matching.solve` and :func:`matching.insert_cheapest`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Assignment",
    "Result",
    "Route",
    "SolveStatus",
    "Stop",
    "StopKind",
    "UnservedReason",
]


class StopKind(StrEnum):
    """Whether a stop picks a rider up or drops them off."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"


class UnservedReason(StrEnum):
    """Why a rider is not served.

    The first five are derived from the pruning stage, per rider, from the
    driver that got *furthest* through the tests (in this order: needs,
    seats, time windows, corridor, detour/ride time):

    * ``NEEDS_NOT_MET`` - no driver (other than the rider themself) has the
      required features;
    * ``NO_FREE_SEAT`` - drivers with the features all have fewer seats than
      the rider's passengers;
    * ``NO_DRIVER_IN_TIME_WINDOW`` - no suitable driver can reach pickup and
      drop-off within the windows (also when there is no driver at all);
    * ``OUTSIDE_EVERY_CORRIDOR`` - time-compatible drivers exist, but for all of
      them the pure driving detour start->pickup->dropoff->end exceeds the
      driver's detour budget (the "ellipse" test);
    * ``DETOUR_TOO_LARGE`` - the geometric detour fits some driver, but with
      dwell and unavoidable waiting the trip duration limit or the rider's
      ride-time limit cannot be met, even with this rider alone in the car;
    * ``NOT_CHOSEN`` - the rider could be served alone by some driver, but the
      optimiser served others (or the search ran out of time).
    """

    NO_DRIVER_IN_TIME_WINDOW = "no_driver_in_time_window"
    DETOUR_TOO_LARGE = "detour_too_large"
    NO_FREE_SEAT = "no_free_seat"
    NEEDS_NOT_MET = "needs_not_met"
    OUTSIDE_EVERY_CORRIDOR = "outside_every_corridor"
    NOT_CHOSEN = "not_chosen"


class SolveStatus(StrEnum):
    """Outcome of a solve."""

    #: A solution was found (possibly stopped by a time or solution limit).
    FEASIBLE = "feasible"
    #: The search proved optimality (rare for routing).
    OPTIMAL = "optimal"
    #: No rider could reach the solver (all pruned, or no riders): trivial result.
    TRIVIAL = "trivial"
    #: The solver found no solution within its limits.
    NO_SOLUTION = "no_solution"
    #: The model was rejected as invalid by OR-Tools.
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Stop:
    """One stop of a driver's route.

    Parameters
    ----------
    rider_id
        The rider boarding or alighting.
    kind
        Pickup or drop-off.
    location
        Location index of the stop.
    arrival_s
        Time the vehicle is at the stop and boarding/alighting starts.
    departure_s
        ``arrival_s`` plus the dwell time (the vehicle may wait longer before
        driving on; the next arrival is at least ``departure_s`` + travel).
    """

    rider_id: str
    kind: StopKind
    location: int
    arrival_s: int
    departure_s: int


@dataclass(frozen=True, slots=True)
class Route:
    """The schedule of one driver.

    Parameters
    ----------
    driver_id
        The driver.
    start_s
        Departure from the driver's start location.
    end_s
        Arrival at the driver's end location.
    stops
        Ordered pickups and drop-offs (empty if the driver takes nobody).
    driving_s
        Pure driving time of the route according to the matrix.
    added_driving_s
        ``driving_s`` minus the driver's direct driving time.
    """

    driver_id: str
    start_s: int
    end_s: int
    stops: tuple[Stop, ...]
    driving_s: int
    added_driving_s: int

    @property
    def duration_s(self) -> int:
        """Trip duration (end minus start), including dwell and waiting."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where and when a served rider rides.

    Parameters
    ----------
    rider_id, driver_id
        Who rides with whom.
    pickup_location, dropoff_location
        The chosen candidates (location indices).
    pickup_s, dropoff_s
        Vehicle arrival times at those stops.
    """

    rider_id: str
    driver_id: str
    pickup_location: int
    dropoff_location: int
    pickup_s: int
    dropoff_s: int

    @property
    def ride_s(self) -> int:
        """Ride time (drop-off minus pickup)."""
        return self.dropoff_s - self.pickup_s


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`matching.solve`.

    Parameters
    ----------
    routes
        One route per driver, in the order of ``problem.drivers``.
    assignments
        Served riders by rider id.
    unserved
        Unserved riders by rider id with the reason.
    objective
        Penalties of unserved riders (also those pruned before the solver) +
        ``arc_cost_weight`` x driving of every driver whose start differs from
        its end (empty routes included) + fixed costs + the fairness cost
        (:func:`matching.fairness.fairness_cost` of each driver's riders with
        the effective ``fairness_weight``; 0 when the weight is off).
        Comparable between runs on the same problem and parameters.
    total_added_driving_s
        Sum of :attr:`Route.added_driving_s` over all drivers.
    wall_time_s
        Time spent in :func:`~matching.solve` (model build + search).
    status
        Solver status.
    """

    routes: tuple[Route, ...]
    assignments: Mapping[str, Assignment]
    unserved: Mapping[str, UnservedReason]
    objective: int
    total_added_driving_s: int
    wall_time_s: float
    status: SolveStatus

    @property
    def num_served(self) -> int:
        """Number of served riders."""
        return len(self.assignments)

    @property
    def num_used_drivers(self) -> int:
        """Number of drivers with at least one stop."""
        return sum(1 for r in self.routes if r.stops)

    def route_of(self, driver_id: str) -> Route:
        """Return the route of a driver by id."""
        for r in self.routes:
            if r.driver_id == driver_id:
                return r
        raise KeyError(driver_id)
