"""The next direct bus connection for a ride request, from the region's imported timetables.

Rules (decided here, documented in the README):

* **Direct trips only**: the rider boards and alights the same trip; no transfers.
* **Walking**: a boarding stop within the walking limit of the origin, an alighting stop within
  it of the destination. As in matching, the walk along streets is taken as 1.3 × the straight
  line at 1.2 m/s (:mod:`maas.planning.params`), so the limit is ``max_walk_m / 1.3`` straight.
* **When**: the rider leaves the origin no earlier than the request's ``depart_earliest`` (the
  bus departs after the walk to the stop) and the bus departs within :data:`LOOKAHEAD` of it.
  Of those, the connection **arriving earliest** at the destination (after the walk) is chosen,
  then the one that lets the rider leave home latest (less waiting at the stop), then the one
  with the least walking.
  ``arrives_in_window`` says whether it reaches the destination by ``arrive_latest``: the
  next bus is worth knowing even when it is later than the rider wished.
* **Calendar**: a trip runs on its service day by ``calendar.txt`` and ``calendar_dates.txt``;
  times past 24:00 belong to the previous service day; the feed's time zone is
  ``agency_timezone`` (:mod:`maas.gtfs.timetable`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from maas.domain.models import Point
from maas.gtfs import store
from maas.gtfs.timetable import active_services, day_windows
from maas.planning.params import WALK_DETOUR_FACTOR, WALK_SPEED_M_S, walk_s

LOOKAHEAD = timedelta(hours=24)
"""How long after the request's earliest departure a bus may leave and still be offered."""
FIRST_LOOK = timedelta(hours=2)
"""The departures searched first. A connection found there that reaches the destination
within it is the answer (any bus leaving later arrives later); otherwise all of
:data:`LOOKAHEAD` is searched. On a busy stop this reads a twelfth of the departures."""


@dataclass(frozen=True, slots=True)
class StopCall:
    """Where the rider gets on (``at`` = departure) or off (``at`` = arrival), and the walk
    between that stop and their own origin or destination."""

    stop_id: str
    name: str
    position: Point
    at: datetime
    walk_m: int

    def to_json(self, time_key: str) -> dict[str, Any]:
        return {
            "stop_id": self.stop_id,
            "name": self.name,
            "lon": round(self.position.lon, 7),
            "lat": round(self.position.lat, 7),
            time_key: _utc(self.at),
            "walk_m": self.walk_m,
        }


@dataclass(frozen=True, slots=True)
class Connection:
    """A direct bus connection: one trip of one route."""

    feed: str
    route: str
    route_long_name: str
    headsign: str | None
    board: StopCall
    alight: StopCall
    leaves_origin: datetime
    arrives_at_destination: datetime
    arrives_in_window: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "route": self.route,
            "route_long_name": self.route_long_name,
            "headsign": self.headsign,
            "board": self.board.to_json("departure"),
            "alight": self.alight.to_json("arrival"),
            "arrives_in_window": self.arrives_in_window,
        }


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def connection_from_leg(feed: str, leg: store.TripLeg, arrive_latest: datetime) -> Connection:
    """The rider's view of a trip leg: walking distances and arrival on foot at the end."""
    at_destination = leg.arrives_at + timedelta(seconds=walk_s(leg.alight_distance_m))
    leaves = leg.departs_at - timedelta(seconds=walk_s(leg.board_distance_m))
    return Connection(
        feed=feed,
        route=leg.route_short_name or leg.route_long_name,
        route_long_name=leg.route_long_name,
        headsign=leg.headsign,
        board=StopCall(
            leg.board_stop_id,
            leg.board_name,
            leg.board_position,
            leg.departs_at,
            round(leg.board_distance_m * WALK_DETOUR_FACTOR),
        ),
        alight=StopCall(
            leg.alight_stop_id,
            leg.alight_name,
            leg.alight_position,
            leg.arrives_at,
            round(leg.alight_distance_m * WALK_DETOUR_FACTOR),
        ),
        leaves_origin=leaves,
        arrives_at_destination=at_destination,
        arrives_in_window=at_destination <= arrive_latest,
    )


def best(connections: list[Connection]) -> Connection | None:
    """Earliest at the destination, then the latest time to leave home, then the least
    walking."""
    if not connections:
        return None
    return min(
        connections,
        key=lambda c: (
            c.arrives_at_destination,
            -c.leaves_origin.timestamp(),
            c.board.walk_m + c.alight.walk_m,
        ),
    )


async def next_connection(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    *,
    origin: Point,
    destination: Point,
    depart_earliest: datetime,
    arrive_latest: datetime,
    max_walk_m: int,
) -> Connection | None:
    """The next direct bus connection in the community's region's timetables, or None."""
    found: list[Connection] = []
    for feed in await store.community_feeds(conn, community_id):
        for look in (FIRST_LOOK, LOOKAHEAD):
            until = depart_earliest + look
            leg = await _next_trip(conn, feed, origin, destination, depart_earliest, until,
                                   max_walk_m)  # fmt: skip
            if leg is None:
                continue
            connection = connection_from_leg(feed.name, leg, arrive_latest)
            if connection.arrives_at_destination <= until or look == LOOKAHEAD:
                found.append(connection)
                break
    return best(found)


async def _next_trip(
    conn: asyncpg.Connection,
    feed: store.StoredFeed,
    origin: Point,
    destination: Point,
    earliest: datetime,
    latest: datetime,
    max_walk_m: int,
) -> store.TripLeg | None:
    """The feed's best trip departing in ``[earliest, latest]`` (after the walk)."""
    windows = list(day_windows(earliest, latest, feed.timezone, max_time_s=feed.max_time_s))
    if not windows:
        return None
    calendars, exceptions = await store.calendars(conn, feed.id, windows[0].day, windows[-1].day)
    days = [
        (w, sid) for w in windows for sid in sorted(active_services(w.day, calendars, exceptions))
    ]
    if not days:
        return None
    return await store.next_trip(
        conn,
        feed.id,
        origin=origin,
        destination=destination,
        days=days,
        max_straight_m=max_walk_m / WALK_DETOUR_FACTOR,
        walk_factor=WALK_DETOUR_FACTOR,
        walk_speed_m_s=WALK_SPEED_M_S,
    )
