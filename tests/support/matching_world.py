"""Rides on the demo region (Herrenberg) for matching tests, written through the repositories.

Every test makes its own community (the same large area), so runs of different tests never
see each other's rides; rows are committed (runs use their own connections and locks).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import shapely
from shapely.geometry import box

from maas.domain.models import Endpoint, Point
from maas.domain.recurrence import WeeklyRule
from maas.domain.rides import OfferDraft, RequestDraft
from maas.planning.service import RunRequest, day_horizon
from maas.store import communities, people, rides
from maas.store.planning import MatchingRun

# Village centres of the demo extract (OSM place points, snapped within metres of a road).
GAERTRINGEN = Point(8.9031632, 48.6419208)
NUFRINGEN = Point(8.8881021, 48.6224388)
HERRENBERG = Point(8.8674715, 48.595557)
KUPPINGEN = Point(8.8431229, 48.610752)
AFFSTAETT = Point(8.858334, 48.6060318)
GUELTSTEIN = Point(8.8794268, 48.5752062)
NAGOLD = Point(8.7234942, 48.5512399)
AREA = (8.65, 48.50, 9.00, 48.70)


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """Tomorrow at a Berlin wall-clock time, as UTC."""
    zone = ZoneInfo("Europe/Berlin")
    day = (datetime.now(zone) + timedelta(days=1)).date()
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def soon_at() -> datetime:
    """The first of 07:30, 12:00 and 17:30 (Berlin wall clock) three hours or more from now,
    as UTC. It lies within the next 23 hours at any hour, so within a scheduler run's horizon
    (the next 24 hours) whenever the test runs."""
    zone = ZoneInfo("Europe/Berlin")
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    for day in (today, today + timedelta(days=1)):
        for clock in (time(7, 30), time(12, 0), time(17, 30)):
            t = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
            if t >= now + timedelta(hours=3):
                return t
    raise AssertionError("unreachable: tomorrow 17:30 is always three hours away or more")


@dataclass
class World:
    """One community with helpers to add people and rides to it."""

    conn: asyncpg.Connection
    community_id: uuid.UUID

    async def person(self, name: str, *, rider: bool = True, driver: bool = True) -> uuid.UUID:
        p = await people.create_person(
            self.conn,
            name=name,
            home_community_id=self.community_id,
            is_rider=rider,
            is_driver=driver,
        )
        return p.id

    async def offer(
        self,
        person_id: uuid.UUID,
        origin: Point,
        destination: Point,
        earliest: datetime | None = None,
        *,
        window_min: int = 15,
        seats: int = 3,
        weekly: WeeklyRule | None = None,
        wheelchair: bool = False,
        max_detour_min: int = 15,
        max_detour_pct: int = 50,
    ) -> uuid.UUID:
        draft = OfferDraft(
            origin=Endpoint(origin, None, None),
            destination=Endpoint(destination, None, None),
            depart_earliest=None if weekly else earliest,
            depart_latest=None
            if weekly or earliest is None
            else earliest + timedelta(minutes=window_min),
            weekly=weekly,
            seats=seats,
            max_detour_min=max_detour_min,
            max_detour_pct=max_detour_pct,
            wheelchair=wheelchair,
            child_seat=False,
            luggage=False,
            note=None,
        )
        created = await rides.create_offer(self.conn, person_id, self.community_id, draft)
        return created.id

    async def request(
        self,
        person_id: uuid.UUID,
        origin: Point,
        destination: Point,
        earliest: datetime,
        *,
        window_min: int = 60,
        passengers: int = 1,
        wheelchair: bool = False,
        max_walk_m: int = 500,
        origin_meeting_point: uuid.UUID | None = None,
    ) -> uuid.UUID:
        draft = RequestDraft(
            origin=Endpoint(origin, None, origin_meeting_point),
            destination=Endpoint(destination, None, None),
            depart_earliest=earliest,
            arrive_latest=earliest + timedelta(minutes=window_min),
            passengers=passengers,
            needs_wheelchair=wheelchair,
            needs_child_seat=False,
            needs_help_getting_in=False,
            max_walk_m=max_walk_m,
            note=None,
        )
        created = await rides.create_request(self.conn, person_id, self.community_id, draft)
        return created.id

    async def meeting_point(self, name: str, at: Point) -> uuid.UUID:
        mp = await communities.create_meeting_point(
            self.conn, community_id=self.community_id, name=name, kind="mitfahrbank", position=at
        )
        return mp.id


async def new_world(
    conn: asyncpg.Connection, region: str = "herrenberg", **settings: object
) -> World:
    community = await communities.create_community(
        conn,
        region=region,
        name=f"Matching test {uuid.uuid4().hex[:8]}",
        area=shapely.set_srid(box(*AREA), 4326),
        settings=dict(settings),
    )
    return World(conn, community.id)


def weekly_on(day: date, hour: int, minute: int = 0, window_min: int = 15) -> WeeklyRule:
    """Every week on ``day``'s weekday, from ``day`` on."""
    start = time(hour, minute)
    end_minutes = hour * 60 + minute + window_min
    return WeeklyRule(
        weekdays=(day.isoweekday(),),
        local_depart_earliest=start,
        local_depart_latest=time(end_minutes // 60, end_minutes % 60),
        valid_from=day - timedelta(days=7),
    )


def tomorrow_run(world: World) -> RunRequest:
    day = tomorrow_at(12).astimezone(ZoneInfo("Europe/Berlin")).date()
    return RunRequest(world.community_id, horizon=day_horizon(day), trigger="test")


async def matches_of(conn: asyncpg.Connection, run: MatchingRun) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, offer_id, occurrence_date, status, params_version, route, departure_at "
        "FROM match WHERE run_id = $1 ORDER BY departure_at",
        run.id,
    )
    return rows


async def stops_of(conn: asyncpg.Connection, match_id: object) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT seq, kind::text AS kind, request_id, planned_at, position, meeting_point_id "
        "FROM match_stop WHERE match_id = $1 ORDER BY seq",
        match_id,
    )
    return rows
