"""The timetable tables (migration 0008): replace a feed, and find direct trips between stops.

A feed is keyed by its region and name; storing it again deletes the old rows and writes the
new ones in one transaction, so a reader sees the old timetable or the new one, never a mix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg

from maas.domain.models import Point
from maas.gtfs.feed import Feed
from maas.gtfs.timetable import DayWindow, ServiceCalendar
from maas.store.common import from_geom, to_geom

SQL_REGION_ID: Final = "SELECT id FROM region WHERE name = $1"
SQL_FEED_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('maas.gtfs:' || $1 || ':' || $2))"
SQL_STOPS_INSIDE: Final = """
SELECT count(*) FROM unnest($2::float8[], $3::float8[]) AS s(lon, lat), region r
WHERE r.id = $1 AND ST_Covers(r.service_area, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326))
"""
SQL_DELETE_FEED: Final = "DELETE FROM gtfs_feed WHERE region_id = $1 AND name = $2 RETURNING id"
SQL_INSERT_FEED: Final = """
INSERT INTO gtfs_feed (region_id, name, timezone, source_name, source_sha256, service_from,
                       service_until, max_time_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""
SQL_INSERT_STOPS: Final = """
INSERT INTO gtfs_stop (feed_id, stop_id, name, position)
SELECT $1, s.stop_id, s.name, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)
FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[]) AS s(stop_id, name, lon, lat)
"""

SQL_COMMUNITY_FEEDS: Final = """
SELECT f.id, f.name, f.timezone, f.max_time_s
FROM community c JOIN region r ON r.name = c.region JOIN gtfs_feed f ON f.region_id = r.id
WHERE c.id = $1
ORDER BY f.name
"""
SQL_CALENDARS: Final = """
SELECT service_id, weekdays, start_date, end_date FROM gtfs_calendar
WHERE feed_id = $1 AND start_date <= $3 AND end_date >= $2
"""
SQL_CALENDAR_DATES: Final = """
SELECT service_id, day, added FROM gtfs_calendar_date WHERE feed_id = $1 AND day BETWEEN $2 AND $3
"""
# The direct trip that gets the rider to the destination earliest (then: lets them leave home
# latest, then walk least): boarding at a stop within $9 m (straight line) of the origin $2
# no earlier than the rider can walk there after the day window's start, alighting later in
# the same trip at a stop within $9 m of the destination $3. Walking time = distance × $10
# (detour factor) / $11 (speed). $4..$8 are the service days, one row per running service.
# The CTEs are MATERIALIZED so the search always starts from the few stops near the origin
# and their departures, whatever the statistics of a just-imported feed say.
SQL_NEXT_TRIP: Final = """
WITH days AS MATERIALIZED (
    SELECT * FROM unnest($4::date[], $5::timestamptz[], $6::text[], $7::int[], $8::int[])
        AS d(day, start_at, service_id, from_s, until_s)
), board AS MATERIALIZED (
    SELECT stop_id, name, position, distance_m, ceil(distance_m * $10 / $11)::int AS walk_s
    FROM (
        SELECT stop_id, name, position,
               ST_Distance(position::geography, ($2::geometry)::geography) AS distance_m
        FROM gtfs_stop
        WHERE feed_id = $1 AND ST_DWithin(position::geography, ($2::geometry)::geography, $9)
    ) s
), alight AS MATERIALIZED (
    SELECT stop_id, name, position, distance_m, ceil(distance_m * $10 / $11)::int AS walk_s
    FROM (
        SELECT stop_id, name, position,
               ST_Distance(position::geography, ($3::geometry)::geography) AS distance_m
        FROM gtfs_stop
        WHERE feed_id = $1 AND ST_DWithin(position::geography, ($3::geometry)::geography, $9)
    ) s
), boarding AS MATERIALIZED (
    SELECT d.start_at, d.from_s, b.stop_id, b.name, b.position, b.distance_m, b.walk_s,
           sb.trip_id, sb.stop_sequence, sb.departure_s, t.route_id, t.headsign
    FROM board b
    JOIN gtfs_stop_time sb ON sb.feed_id = $1 AND sb.stop_id = b.stop_id AND sb.pickup
                          AND sb.departure_s BETWEEN (SELECT min(from_s) FROM days)
                                                 AND (SELECT max(until_s) FROM days)
    JOIN gtfs_trip t ON t.feed_id = $1 AND t.trip_id = sb.trip_id
    JOIN days d ON d.service_id = t.service_id
    WHERE sb.departure_s - b.walk_s >= d.from_s AND sb.departure_s <= d.until_s
)
SELECT x.trip_id, r.short_name, r.long_name, x.headsign,
       x.stop_id AS board_stop_id, x.name AS board_name, x.position AS board_position,
       x.distance_m AS board_distance_m,
       x.start_at + make_interval(secs => x.departure_s) AS departs_at,
       a.stop_id AS alight_stop_id, a.name AS alight_name, a.position AS alight_position,
       a.distance_m AS alight_distance_m,
       x.start_at + make_interval(secs => sa.arrival_s) AS arrives_at
FROM boarding x
JOIN gtfs_stop_time sa ON sa.feed_id = $1 AND sa.trip_id = x.trip_id
                      AND sa.stop_sequence > x.stop_sequence
JOIN alight a ON a.stop_id = sa.stop_id
JOIN gtfs_route r ON r.feed_id = $1 AND r.route_id = x.route_id
WHERE sa.drop_off AND sa.arrival_s IS NOT NULL AND sa.stop_id <> x.stop_id
ORDER BY x.start_at + make_interval(secs => sa.arrival_s + a.walk_s),
         x.departure_s - x.walk_s - x.from_s DESC, x.distance_m + a.distance_m, x.trip_id
LIMIT 1
"""
SQL_ANALYZE: Final = """
ANALYZE gtfs_stop, gtfs_route, gtfs_trip, gtfs_stop_time, gtfs_calendar, gtfs_calendar_date
"""


@dataclass(frozen=True, slots=True)
class StoredFeed:
    id: int
    name: str
    timezone: ZoneInfo
    max_time_s: int


@dataclass(frozen=True, slots=True)
class TripLeg:
    """One direct ride on a trip, between a stop near the origin and one near the destination."""

    trip_id: str
    route_short_name: str
    route_long_name: str
    headsign: str | None
    board_stop_id: str
    board_name: str
    board_position: Point
    board_distance_m: float
    departs_at: datetime
    alight_stop_id: str
    alight_name: str
    alight_position: Point
    alight_distance_m: float
    arrives_at: datetime


async def region_id(conn: asyncpg.Connection, region: str) -> int | None:
    value: int | None = await conn.fetchval(SQL_REGION_ID, region)
    return value


async def stops_inside(conn: asyncpg.Connection, region_id: int, feed: Feed) -> int:
    """How many of the feed's stops lie in the region's service area."""
    count: int = await conn.fetchval(
        SQL_STOPS_INSIDE, region_id, [s.lon for s in feed.stops], [s.lat for s in feed.stops]
    )
    return count


async def replace_feed(
    conn: asyncpg.Connection, region_id: int, region: str, name: str, feed: Feed
) -> bool:
    """Store the feed under its name, replacing an earlier import of that name (in the
    caller's transaction); True if one was replaced."""
    await conn.execute(SQL_FEED_LOCK, region, name)
    replaced = await conn.fetchval(SQL_DELETE_FEED, region_id, name) is not None
    service_from, service_until = feed.service_period
    feed_id = await conn.fetchval(
        SQL_INSERT_FEED,
        region_id,
        name,
        feed.timezone,
        feed.path.name,
        feed.sha256,
        service_from,
        service_until,
        feed.max_time_s,
    )
    await conn.execute(
        SQL_INSERT_STOPS,
        feed_id,
        [s.stop_id for s in feed.stops],
        [s.name for s in feed.stops],
        [s.lon for s in feed.stops],
        [s.lat for s in feed.stops],
    )
    await conn.copy_records_to_table(
        "gtfs_route",
        columns=("feed_id", "route_id", "short_name", "long_name", "route_type"),
        records=[(feed_id, r.route_id, r.short_name, r.long_name, r.route_type)
                 for r in feed.routes],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "gtfs_trip",
        columns=("feed_id", "trip_id", "route_id", "service_id", "headsign"),
        records=[(feed_id, t.trip_id, t.route_id, t.service_id, t.headsign) for t in feed.trips],
    )
    await conn.copy_records_to_table(
        "gtfs_stop_time",
        columns=("feed_id", "trip_id", "stop_sequence", "stop_id", "arrival_s", "departure_s",
                 "pickup", "drop_off"),
        records=[(feed_id, st.trip_id, st.stop_sequence, st.stop_id, st.arrival_s,
                  st.departure_s, st.pickup, st.drop_off) for st in feed.stop_times],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "gtfs_calendar",
        columns=("feed_id", "service_id", "weekdays", "start_date", "end_date"),
        records=[(feed_id, sid, list(c.weekdays), c.start, c.end)
                 for sid, c in feed.calendars.items()],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "gtfs_calendar_date",
        columns=("feed_id", "service_id", "day", "added"),
        records=[(feed_id, sid, day, added) for (sid, day), added in feed.exceptions.items()],
    )
    return replaced


async def analyze(conn: asyncpg.Connection) -> None:
    """Fresh planner statistics after an import (a new feed can be many times the old)."""
    await conn.execute(SQL_ANALYZE)


async def community_feeds(conn: asyncpg.Connection, community_id: uuid.UUID) -> list[StoredFeed]:
    """The timetables of the community's region."""
    rows = await conn.fetch(SQL_COMMUNITY_FEEDS, community_id)
    return [StoredFeed(r["id"], r["name"], ZoneInfo(r["timezone"]), r["max_time_s"]) for r in rows]


async def calendars(
    conn: asyncpg.Connection, feed_id: int, first: date, last: date
) -> tuple[dict[str, ServiceCalendar], dict[tuple[str, date], bool]]:
    """The feed's calendar rows and exceptions that touch the days ``first``–``last``."""
    cals = {
        r["service_id"]: ServiceCalendar(tuple(r["weekdays"]), r["start_date"], r["end_date"])
        for r in await conn.fetch(SQL_CALENDARS, feed_id, first, last)
    }
    exceptions = {
        (r["service_id"], r["day"]): r["added"]
        for r in await conn.fetch(SQL_CALENDAR_DATES, feed_id, first, last)
    }
    return cals, exceptions


async def next_trip(
    conn: asyncpg.Connection,
    feed_id: int,
    *,
    origin: Point,
    destination: Point,
    days: list[tuple[DayWindow, str]],
    max_straight_m: float,
    walk_factor: float,
    walk_speed_m_s: float,
) -> TripLeg | None:
    """The feed's direct trip arriving first (see :data:`SQL_NEXT_TRIP`); ``days`` pairs each
    service day window with a service id running on it."""
    row = await conn.fetchrow(
        SQL_NEXT_TRIP,
        feed_id,
        to_geom(origin),
        to_geom(destination),
        [w.day for w, _ in days],
        [w.start for w, _ in days],
        [sid for _, sid in days],
        [w.from_s for w, _ in days],
        [w.until_s for w, _ in days],
        max_straight_m,
        walk_factor,
        walk_speed_m_s,
    )
    if row is None:
        return None
    return TripLeg(
        row["trip_id"],
        row["short_name"],
        row["long_name"],
        row["headsign"],
        row["board_stop_id"],
        row["board_name"],
        from_geom(row["board_position"]),
        row["board_distance_m"],
        row["departs_at"],
        row["alight_stop_id"],
        row["alight_name"],
        from_geom(row["alight_position"]),
        row["alight_distance_m"],
        row["arrives_at"],
    )
