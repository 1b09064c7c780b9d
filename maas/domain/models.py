"""The API's domain objects: what repositories return and handlers render."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS84 position."""

    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Community:
    id: uuid.UUID
    region: str
    name: str
    village_id: int | None
    area: BaseGeometry
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MeetingPoint:
    id: uuid.UUID
    community_id: uuid.UUID
    name: str
    kind: str
    position: Point
    step_free: bool
    bench: bool
    shelter: bool
    lit: bool
    source: str
    source_ref: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    name: str | None
    phone: str | None
    email: str | None
    home_community_id: uuid.UUID | None
    is_rider: bool
    is_driver: bool
    is_admin: bool
    operator_of: tuple[uuid.UUID, ...]
    created_at: datetime
    deleted_at: datetime | None

    @property
    def roles(self) -> list[str]:
        roles = []
        if self.is_rider:
            roles.append("rider")
        if self.is_driver:
            roles.append("driver")
        if self.operator_of:
            roles.append("operator")
        if self.is_admin:
            roles.append("admin")
        return roles


@dataclass(frozen=True, slots=True)
class Token:
    id: uuid.UUID
    person_id: uuid.UUID
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may touch."""

    person_id: uuid.UUID
    home_community_id: uuid.UUID | None
    is_rider: bool
    is_driver: bool
    is_admin: bool
    operator_of: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def is_operator(self) -> bool:
        return bool(self.operator_of)

    def operates(self, community_id: uuid.UUID | None) -> bool:
        """Staff rights over a community: its operators, and every admin."""
        return self.is_admin or (community_id is not None and community_id in self.operator_of)

    def may_manage_person(self, person: Person) -> bool:
        """The person themself, their home community's operators, or an admin."""
        return person.id == self.person_id or self.operates(person.home_community_id)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a ride: the given point, the road point it snapped to, a meeting point."""

    point: Point
    snapped: Point | None
    meeting_point_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Offer:
    id: uuid.UUID
    person_id: uuid.UUID
    community_id: uuid.UUID
    status: str
    origin: Endpoint
    destination: Endpoint
    depart_earliest: datetime | None
    depart_latest: datetime | None
    weekdays: tuple[int, ...] | None
    local_depart_earliest: time | None
    local_depart_latest: time | None
    valid_from: date | None
    valid_until: date | None
    exception_dates: tuple[date, ...]
    time_zone: str
    seats: int
    max_detour_min: int
    max_detour_pct: int
    wheelchair: bool
    child_seat: bool
    luggage: bool
    note: str | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class RideRequest:
    id: uuid.UUID
    person_id: uuid.UUID
    community_id: uuid.UUID
    status: str
    origin: Endpoint
    destination: Endpoint
    depart_earliest: datetime
    arrive_latest: datetime
    passengers: int
    needs_wheelchair: bool
    needs_child_seat: bool
    needs_help_getting_in: bool
    max_walk_m: int
    note: str | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class MatchStop:
    seq: int
    request_id: uuid.UUID
    rider_id: uuid.UUID
    kind: str
    position: Point
    meeting_point_id: uuid.UUID | None
    meeting_point_position: Point | None
    planned_at: datetime


@dataclass(frozen=True, slots=True)
class MatchRider:
    request_id: uuid.UUID
    person_id: uuid.UUID
    status: str
    passengers: int = 1
    needs_wheelchair: bool = False
    needs_child_seat: bool = False
    needs_help_getting_in: bool = False
    note: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    id: uuid.UUID
    offer_id: uuid.UUID
    driver_id: uuid.UUID
    occurrence_date: date
    departure_at: datetime
    community_id: uuid.UUID
    status: str
    driver_status: str
    params_version: int
    route: BaseGeometry | None
    created_at: datetime
    updated_at: datetime
    riders: tuple[MatchRider, ...]
    stops: tuple[MatchStop, ...]
    vehicle_wheelchair: bool = False
    vehicle_child_seat: bool = False
    vehicle_luggage: bool = False
    driver_name: str | None = None
    driver_phone: str | None = None

    def participants(self) -> set[uuid.UUID]:
        return {self.driver_id, *(r.person_id for r in self.riders)}
