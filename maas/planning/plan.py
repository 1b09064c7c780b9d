"""What a matching run hands to a worker process and gets back, and the pure translation to
and from :class:`matching.Problem`.

Everything here is plain, picklable data; times are whole seconds from the run's ``t0`` (an
aware UTC datetime), so the worker never needs a clock or a database.

Locations are the distinct snapped points of the run: every driver's start and end and every
candidate place of every rider (the rider's own point, and meeting points within walking
distance). Ids are strings in the problem: an offer occurrence is ``"<offer id>/<date>"``, a
rider is the request id.

Riders already held on an occurrence (in a match someone accepted) are *confirmed* riders of
that driver: they keep their driver, their seats and, within :data:`HELD_SLACK_S`, their
planned times, so the stops already shown to them stay true while new riders join the car.
A rider never meets again a driver occurrence they or its driver declined: every other driver
gets a feature ``ok:<request id>`` that the rider needs.

Fair load: each occurrence carries ``rides_before``, the rides its driver already gives in the
occurrence's ISO week outside this run (see :func:`maas.planning.service.read_input`); it
becomes :attr:`matching.Driver.rides_before`, which the fairness weight
(``MatchingParams.fairness_weight``) turns into a cost that grows with every further ride.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

import matching
from maas.planning.params import MatchingParams
from maas.roads.network import UNREACHABLE_INT

HELD_SLACK_S = 300
"""How far a held rider's pickup and drop-off may move from the planned times (5 min)."""

VEHICLE_FEATURES = ("wheelchair", "child_seat", "luggage")

# Reasons the service adds to matching.UnservedReason.
REASON_NOT_ON_ROAD = "not_on_road"
REASON_ONLY_DECLINED = "only_declined_drivers"
REASON_CHANGED = "changed_during_run"


@dataclass(frozen=True, slots=True)
class Place:
    """A point where a rider can get in or out, with the walk to it from their own point."""

    lon: float
    lat: float
    walk_s: int = 0
    meeting_point_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class OccurrenceIn:
    """One trip of an offer (a one-off offer has one; a weekly one, one per day)."""

    offer_id: uuid.UUID
    occurrence_date: date
    person_id: uuid.UUID
    origin: Place
    destination: Place
    earliest_s: int
    latest_s: int
    seats: int
    max_detour_s: int
    max_detour_pct: float
    features: frozenset[str]
    held_request_ids: tuple[uuid.UUID, ...] = ()
    held_match_ids: tuple[uuid.UUID, ...] = ()
    rides_before: int = 0

    @property
    def key(self) -> str:
        return occurrence_key(self.offer_id, self.occurrence_date)


def occurrence_key(offer_id: uuid.UUID, occurrence_date: date) -> str:
    return f"{offer_id}/{occurrence_date.isoformat()}"


@dataclass(frozen=True, slots=True)
class RequestIn:
    """A rider to place: an open request, or a held rider (``held_on`` names the occurrence
    key and the pickup/drop-off are the planned places, pinned near the planned times)."""

    id: uuid.UUID
    person_id: uuid.UUID
    pickups: tuple[Place, ...]
    dropoffs: tuple[Place, ...]
    earliest_pickup_s: int
    latest_dropoff_s: int
    passengers: int
    needs: frozenset[str]
    needs_help: bool = False
    held_on: str | None = None
    latest_pickup_s: int | None = None
    excluded_occurrences: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PlanInput:
    network_path: Path | None
    snap_max_distance_m: float
    t0: datetime
    params: MatchingParams
    occurrences: tuple[OccurrenceIn, ...]
    requests: tuple[RequestIn, ...]


@dataclass(frozen=True, slots=True)
class PlannedStop:
    request_id: uuid.UUID
    kind: str
    place: Place
    arrival_s: int


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    """A driver occurrence's new schedule; ``stops`` holds only the newly proposed riders'
    stops (held riders keep the stops of their match), ``coordinates`` the whole drive."""

    offer_id: uuid.UUID
    occurrence_date: date
    start_s: int
    end_s: int
    stops: tuple[PlannedStop, ...]
    request_ids: tuple[uuid.UUID, ...]
    coordinates: tuple[tuple[float, float], ...]
    held_request_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanOutput:
    routes: tuple[PlannedRoute, ...]
    unserved: dict[uuid.UUID, str]
    objective: int
    solver_status: str
    violations: tuple[str, ...]
    timings_s: dict[str, float] = field(default_factory=dict)
    locations: int = 0


@dataclass(frozen=True, slots=True)
class Located:
    """The problem built from an input: which location index each place got."""

    problem: matching.Problem
    unplaceable: dict[uuid.UUID, str]
    places: dict[int, Place]


def driver_budget_s(occ: OccurrenceIn, direct_s: int) -> int:
    return min(occ.max_detour_s, math.floor(occ.max_detour_pct * direct_s / 100.0))


def build_problem(
    inp: PlanInput,
    location_of: dict[tuple[float, float], int],
    travel_time_s: np.ndarray,
) -> Located:
    """The :class:`matching.Problem` of an input, given each snapped point's location index
    (points missing from ``location_of`` could not be snapped) and the integer matrix."""
    p = inp.params
    places: dict[int, Place] = {}

    def loc(place: Place) -> int | None:
        index = location_of.get((place.lon, place.lat))
        if index is not None:
            places.setdefault(index, place)
        return index

    drivers: list[matching.Driver] = []
    placed_occurrences: set[str] = set()
    for o in inp.occurrences:
        start, end = loc(o.origin), loc(o.destination)
        if start is None or end is None:
            continue
        direct = int(travel_time_s[start, end])
        budget = driver_budget_s(o, direct)
        drivers.append(
            matching.Driver(
                id=o.key,
                person_id=str(o.person_id),
                start=start,
                end=end,
                earliest_departure_s=o.earliest_s,
                latest_departure_s=o.latest_s,
                latest_arrival_s=o.latest_s + direct + budget,
                seats=o.seats,
                max_detour_s=o.max_detour_s,
                max_detour_pct=o.max_detour_pct,
                features=o.features,
                rides_before=o.rides_before,
            )
        )
        placed_occurrences.add(o.key)
    riders: list[matching.Rider] = []
    unplaceable: dict[uuid.UUID, str] = {}
    held_by: dict[str, list[str]] = {}
    for r in inp.requests:
        pickups = _candidates(r.pickups, loc)
        dropoffs = _candidates(r.dropoffs, loc)
        if not pickups or not dropoffs:
            if r.held_on is None:
                unplaceable[r.id] = REASON_NOT_ON_ROAD
            continue
        if r.held_on is not None and r.held_on not in placed_occurrences:
            continue
        direct = min(int(travel_time_s[a.location, b.location]) for a in pickups for b in dropoffs)
        max_ride = None
        if direct < UNREACHABLE_INT:
            max_ride = math.floor(p.ride_time_factor * direct) + p.ride_time_extra_min * 60
        needs = set(r.needs)
        if r.excluded_occurrences:
            needs.add(f"ok:{r.id}")
        riders.append(
            matching.Rider(
                id=str(r.id),
                person_id=str(r.person_id),
                pickups=pickups,
                dropoffs=dropoffs,
                earliest_pickup_s=r.earliest_pickup_s,
                latest_dropoff_s=r.latest_dropoff_s,
                passengers=r.passengers,
                needs=frozenset(needs),
                max_ride_s=max_ride,
                board_s=p.help_board_s if r.needs_help else p.board_s,
                alight_s=p.alight_s,
                latest_pickup_s=r.latest_pickup_s,
            )
        )
        if r.held_on is not None:
            held_by.setdefault(r.held_on, []).append(str(r.id))
    # Exclusions: every driver but the excluded ones offers "ok:<rider>".
    tokens: dict[str, set[str]] = {d.id: set() for d in drivers}
    for r in inp.requests:
        if r.excluded_occurrences:
            for d in drivers:
                if d.id not in r.excluded_occurrences:
                    tokens[d.id].add(f"ok:{r.id}")
    drivers = [_with_riders(d, tokens[d.id], tuple(held_by.get(d.id, ()))) for d in drivers]
    problem = matching.Problem(
        travel_time_s=travel_time_s.astype(np.int64), drivers=tuple(drivers), riders=tuple(riders)
    )
    return Located(problem, unplaceable, places)


def _candidates(
    places: Sequence[Place], loc: Callable[[Place], int | None]
) -> tuple[matching.Candidate, ...]:
    out: dict[int, matching.Candidate] = {}
    for place in places:
        index = loc(place)
        if index is None:
            continue
        # Two places on the same road point: keep the shorter walk.
        if index not in out or place.walk_s < out[index].walk_s:
            out[index] = matching.Candidate(index, place.walk_s)
    return tuple(out.values())


def _with_riders(d: matching.Driver, tokens: set[str], held: tuple[str, ...]) -> matching.Driver:
    if not tokens and not held:
        return d
    return matching.Driver(
        id=d.id,
        person_id=d.person_id,
        start=d.start,
        end=d.end,
        earliest_departure_s=d.earliest_departure_s,
        latest_departure_s=d.latest_departure_s,
        latest_arrival_s=d.latest_arrival_s,
        seats=d.seats,
        max_detour_s=d.max_detour_s,
        max_detour_pct=d.max_detour_pct,
        features=d.features | frozenset(tokens),
        confirmed_rider_ids=held,
        rides_before=d.rides_before,
    )


def read_result(
    inp: PlanInput,
    located: Located,
    result: matching.Result,
    coordinates: dict[str, tuple[tuple[float, float], ...]],
) -> tuple[list[PlannedRoute], dict[uuid.UUID, str]]:
    """The routes with at least one newly proposed rider, and every unserved open request
    with its reason."""
    requests = {str(r.id): r for r in inp.requests}
    occurrences = {o.key: o for o in inp.occurrences}
    routes: list[PlannedRoute] = []
    for route in result.routes:
        new_stops = [
            PlannedStop(
                request_id=uuid.UUID(s.rider_id),
                kind=str(s.kind),
                place=located.places[s.location],
                arrival_s=s.arrival_s,
            )
            for s in route.stops
            if requests[s.rider_id].held_on is None
        ]
        if not new_stops:
            continue
        occ = occurrences[route.driver_id]
        routes.append(
            PlannedRoute(
                offer_id=occ.offer_id,
                occurrence_date=occ.occurrence_date,
                start_s=route.start_s,
                end_s=route.end_s,
                stops=tuple(new_stops),
                request_ids=tuple(dict.fromkeys(s.request_id for s in new_stops)),
                coordinates=coordinates.get(route.driver_id, ()),
                held_request_ids=occ.held_request_ids,
            )
        )
    unserved: dict[uuid.UUID, str] = dict(located.unplaceable)
    for rider_id, reason in result.unserved.items():
        r = requests[rider_id]
        if r.held_on is not None:
            continue
        text = str(reason)
        if (
            reason is matching.UnservedReason.NEEDS_NOT_MET
            and r.excluded_occurrences
            and r.needs <= _all_features(inp)
        ):
            text = REASON_ONLY_DECLINED
        unserved[r.id] = text
    return routes, unserved


def _all_features(inp: PlanInput) -> frozenset[str]:
    out: set[str] = set()
    for o in inp.occurrences:
        out |= o.features
    return frozenset(out)
