"""The next bus connection with "no driver found", from the real bundled GTFS feed (VVS town
bus 781, 2020) imported into PostGIS. Its stops lie in testland's west community."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from support.api_world import REGION, World, seed_world
from support.gtfs_feeds import (
    BUS_751,
    BUS_781,
    NEAR_STADTWERKE,
    NEAR_ZOB,
    altered_feed,
)

from maas import db, migrate
from maas.app import api_routes, create_app
from maas.domain import params as community_params
from maas.domain.models import Endpoint, Point
from maas.domain.rides import RequestDraft
from maas.errors import NotFoundError
from maas.gtfs.connections import Connection, next_connection
from maas.gtfs.importer import FeedOutsideRegionError, ensure_demo_timetable, import_timetable
from maas.http.openapi import build_document
from maas.meeting_point_import import ImportFileError
from maas.notify import event_json
from maas.planning import fallback
from maas.schemas import SchemaRegistry, format_checker
from maas.settings import Settings
from maas.store import events, params, rides
from maas.store import fallback as fallback_store

pytestmark = pytest.mark.db

BERLIN = ZoneInfo("Europe/Berlin")
SQL_COUNTS = """
SELECT (SELECT count(*) FROM gtfs_feed), (SELECT count(*) FROM gtfs_stop),
       (SELECT count(*) FROM gtfs_trip), (SELECT count(*) FROM gtfs_stop_time),
       (SELECT count(*) FROM gtfs_calendar), (SELECT count(*) FROM gtfs_calendar_date)
"""
SQL_FEED_ID = "SELECT id FROM gtfs_feed WHERE name = $1"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def z(text: str) -> str:
    """A local Berlin time as the API writes it (UTC, Z)."""
    return local(text).astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


async def find(
    conn: asyncpg.Connection,
    community: uuid.UUID,
    depart: str,
    *,
    origin: tuple[float, float] = NEAR_ZOB,
    destination: tuple[float, float] = NEAR_STADTWERKE,
    window_h: float = 1,
    max_walk_m: int = 500,
) -> Connection | None:
    return await next_connection(
        conn,
        community,
        origin=Point(*origin),
        destination=Point(*destination),
        depart_earliest=local(depart),
        arrive_latest=local(depart) + timedelta(hours=window_h),
        max_walk_m=max_walk_m,
    )


# ---- import -----------------------------------------------------------------------------------


async def test_import_stores_the_whole_timetable_and_a_second_import_replaces_it(
    api_conn: asyncpg.Connection, world: World
) -> None:
    report = await import_timetable(api_conn, BUS_781, REGION)
    assert (report.name, report.stops_inside, report.trips, report.stop_times) == (
        "only-bronntor-bus-stop",
        9,
        18,
        180,
    )
    assert (report.service_from, report.service_until) == (date(2020, 4, 27), date(2020, 12, 12))
    assert not report.replaced
    assert tuple(await api_conn.fetchrow(SQL_COUNTS)) == (1, 9, 18, 180, 1, 93)
    first_id = await api_conn.fetchval(SQL_FEED_ID, "only-bronntor-bus-stop")

    again = await import_timetable(api_conn, BUS_781, REGION)
    assert again.replaced
    assert "replaced" in str(again)
    assert tuple(await api_conn.fetchrow(SQL_COUNTS)) == (1, 9, 18, 180, 1, 93)  # not doubled
    assert await api_conn.fetchval(SQL_FEED_ID, "only-bronntor-bus-stop") != first_id

    # Under another name it is a second feed of the region.
    await import_timetable(api_conn, BUS_781, REGION, name="copy")
    assert (await api_conn.fetchrow(SQL_COUNTS))[0] == 2


async def test_a_broken_feed_changes_nothing(
    api_conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    await import_timetable(api_conn, BUS_781, REGION)
    before = tuple(await api_conn.fetchrow(SQL_COUNTS))
    feed_id = await api_conn.fetchval(SQL_FEED_ID, "only-bronntor-bus-stop")
    broken = altered_feed(
        tmp_path / "only-bronntor-bus-stop.gtfs.zip",
        append={"calendar_dates.txt": "T0#122,2020-12-01,1\n"},
    )
    with pytest.raises(ImportFileError, match=r"calendar_dates.txt line 95: date: "):
        await import_timetable(api_conn, broken, REGION)
    assert tuple(await api_conn.fetchrow(SQL_COUNTS)) == before
    assert await api_conn.fetchval(SQL_FEED_ID, "only-bronntor-bus-stop") == feed_id


async def test_a_feed_outside_the_region_or_for_no_region_is_refused(
    api_conn: asyncpg.Connection, world: World
) -> None:
    with pytest.raises(FeedOutsideRegionError, match="none of the 47 stops lies in the service"):
        await import_timetable(api_conn, BUS_751, REGION)
    with pytest.raises(NotFoundError, match="region 'atlantis' is not imported"):
        await import_timetable(api_conn, BUS_781, "atlantis")
    assert (await api_conn.fetchrow(SQL_COUNTS))[0] == 0


# ---- the next connection ----------------------------------------------------------------------


async def test_the_next_bus_on_a_school_day(api_conn: asyncpg.Connection, world: World) -> None:
    await import_timetable(api_conn, BUS_781, REGION)
    # Monday 7 September 2020, 08:00: the 08:09 from the ZOB reaches Stadtwerke at 08:13.
    found = await find(api_conn, world.west, "2020-09-07T08:00")
    assert found is not None
    assert found.to_json() == {
        "feed": "only-bronntor-bus-stop",
        "route": "781",
        "route_long_name": "Herrenb. ZOB Bahnhofstraße - Stadtwerke - Daimlerstr. - ZOB",
        "headsign": "Herrenb. ZOB Bahnhofstraße",
        "board": {
            "stop_id": "de:08115:4512:5:F",
            "name": "Herrenb. ZOB Bahnhofstraße",
            "lon": 8.864753,
            "lat": 48.594337,
            "departure": z("2020-09-07T08:09"),
            "walk_m": 7,
        },
        "alight": {
            "stop_id": "de:08115:7009:0:3",
            "name": "Herrenberg Stadtwerke",
            "lon": 8.874611,
            "lat": 48.604401,
            "arrival": z("2020-09-07T08:13"),
            "walk_m": 1,
        },
        "arrives_in_window": True,
    }
    # Leaving at 08:09:30 misses it: the next leaves at 08:39, too late for a 30-minute window
    # but still the next bus.
    later = await find(api_conn, world.west, "2020-09-07T08:09:30", window_h=0.5)
    assert later is not None
    assert later.board.at == local("2020-09-07T08:39")
    assert not later.arrives_in_window
    # The loop the other way round: from Stadtwerke (4th stop) back to the ZOB (10th).
    back = await find(
        api_conn, world.west, "2020-09-07T08:00", origin=NEAR_STADTWERKE, destination=NEAR_ZOB
    )
    assert back is not None
    assert (back.board.name, back.alight.name) == (
        "Herrenberg Stadtwerke",
        "Herrenb. ZOB Bahnhofstraße",
    )
    assert (back.board.at, back.alight.at) == (local("2020-09-07T08:13"), local("2020-09-07T08:21"))


async def test_the_calendar_decides_which_days_buses_run(
    api_conn: asyncpg.Connection, world: World
) -> None:
    await import_timetable(api_conn, BUS_781, REGION)
    # Wednesday 2 September 2020 is removed (school holidays): the next is Thursday's first.
    holiday = await find(api_conn, world.west, "2020-09-02T08:00")
    assert holiday is not None
    assert holiday.board.at == local("2020-09-03T06:09")
    assert not holiday.arrives_in_window
    # Saturday morning: Monday to Friday only, and Sunday is beyond the next 24 hours.
    assert await find(api_conn, world.west, "2020-09-05T08:00") is None
    # Outside the feed's validity (it ends on 12 December 2020).
    assert await find(api_conn, world.west, "2021-09-06T08:00") is None
    assert await find(api_conn, world.west, "2020-04-20T08:00") is None


async def test_walking_limits_and_stop_order(api_conn: asyncpg.Connection, world: World) -> None:
    await import_timetable(api_conn, BUS_781, REGION)
    # The ZOB is 5 m away in a straight line (7 m on foot): a 5 m limit leaves no stop.
    assert await find(api_conn, world.west, "2020-09-07T08:00", max_walk_m=5) is None
    # Benzstraße is the 3rd stop, Stadtwerke the 4th and no trip comes back to Benzstraße:
    # with only those two stops in reach, no direct trip goes from Stadtwerke to Benzstraße.
    benz = (8.87141, 48.599129)
    none = await find(
        api_conn, world.west, "2020-09-07T08:00", origin=NEAR_STADTWERKE, destination=benz,
        max_walk_m=50,
    )  # fmt: skip
    assert none is None
    forward = await find(api_conn, world.west, "2020-09-07T08:00", destination=benz, max_walk_m=50)
    assert forward is not None
    assert forward.alight.name == "Herrenberg Benzstraße"
    # A region without timetables, or a request far from any stop, gets none.
    assert await find(api_conn, world.east, "2020-09-07T08:00", origin=(8.93, 48.62)) is None


async def test_a_trip_past_midnight_belongs_to_the_previous_service_day(
    api_conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    trip = "31-781-j20-1,late,T0#122,Herrenb. ZOB Bahnhofstraße,0,shp_3_1596,0.0,0\n"
    stop_times = (
        "late,de:08115:4512:5:F,24:30:00,24:30:00,1,1,,0.0,-999,-999,-999.0,-999.0,0\n"
        "late,de:08115:7009:0:3,24:36:00,24:36:00,1,4,,0.0,-999,-999,-999.0,-999.0,0\n"
    )
    feed = altered_feed(
        tmp_path / "late.zip", append={"trips.txt": trip, "stop_times.txt": stop_times}
    )
    await import_timetable(api_conn, feed, REGION)
    # Saturday 12 September 00:15: Friday's timetable still has the 24:30 bus (00:30 Saturday).
    found = await find(api_conn, world.west, "2020-09-12T00:15")
    assert found is not None
    assert (found.board.at, found.alight.at) == (
        local("2020-09-12T00:30"),
        local("2020-09-12T00:36"),
    )
    # Friday 28 August is removed from the calendar (holidays): no such bus that night.
    assert await find(api_conn, world.west, "2020-08-29T00:15") is None


# ---- the notice ---------------------------------------------------------------------------------


async def _request(
    conn: asyncpg.Connection, person: uuid.UUID, community: uuid.UUID, depart: str
) -> uuid.UUID:
    draft = RequestDraft(
        origin=Endpoint(Point(*NEAR_ZOB), None, None),
        destination=Endpoint(Point(*NEAR_STADTWERKE), None, None),
        depart_earliest=local(depart),
        arrive_latest=local(depart) + timedelta(hours=1),
        passengers=1,
        needs_wheelchair=False,
        needs_child_seat=False,
        needs_help_getting_in=False,
        max_walk_m=500,
        note=None,
    )
    return (await rides.create_request(conn, person, community, draft)).id


async def test_the_notice_at_the_cut_off_carries_the_bus_and_the_phone(
    api_conn: asyncpg.Connection, world: World
) -> None:
    conn = api_conn
    await import_timetable(conn, BUS_781, REGION)
    chosen = community_params.validate(
        {"cutoff_min": 180, "fallback_phone": "+49 7032 1234", "fallback_text": "Rufbus: {phone}"}
    )
    await params.save(conn, world.west, chosen, changed_by=None, reason="test")
    rider = world["rider_west"].id
    monday = await _request(conn, rider, world.west, "2020-09-07T08:00")
    saturday = await _request(conn, rider, world.west, "2020-09-05T08:00")

    assert await fallback.tell_community(conn, world.west, local("2020-09-05T06:00")) == 1
    assert await fallback.tell_community(conn, world.west, local("2020-09-07T06:00")) == 1
    rows = await conn.fetch(
        "SELECT payload FROM event WHERE person_id = $1 AND kind = $2", rider, fallback.KIND
    )
    told = {p["request_id"]: p for p in (json.loads(r["payload"]) for r in rows)}
    bus = told[str(monday)]["fallback"]
    assert (bus["text"], bus["phone"]) == ("Rufbus: +49 7032 1234", "+49 7032 1234")
    assert bus["connection"]["route"] == "781"
    assert bus["connection"]["board"]["departure"] == z("2020-09-07T08:09")
    # No bus on Saturdays: the phone fallback alone, as before timetables.
    assert told[str(saturday)]["fallback"] == {
        "text": "Rufbus: +49 7032 1234",
        "phone": "+49 7032 1234",
        "connection": None,
    }
    # What the rider reads later is what was sent.
    kept = await fallback_store.told(conn, monday)
    assert kept is not None
    assert kept.fallback == bus
    assert await fallback_store.told(conn, uuid.uuid4()) is None


# ---- through the API ---------------------------------------------------------------------------


async def test_the_rider_reads_the_bus_in_the_request_outcome(
    fresh_database: Any, tmp_path: Path
) -> None:
    """Committed data in a database of its own: the timetable, a request past its cut-off, the
    scheduler's notice, then the rider's GET of the outcome and their event."""
    settings: Settings = dataclasses.replace(await fresh_database(), region=REGION, port=0)
    async with db.connection(settings) as conn:
        await migrate.migrate(conn)
        world = await seed_world(conn)
        await import_timetable(conn, BUS_781, REGION)
        rider = world["rider_west"]
        request_id = await _request(conn, rider.id, world.west, "2020-09-07T08:00")
        assert await fallback.tell_community(conn, world.west, local("2020-09-07T06:30")) == 1
        told = await events.committed_events(conn, events.Position(0, 0), person_id=rider.id)
        event = told.events[-1]  # the latest
    assert event.kind == "request.no_driver_found"

    document = build_document(api_routes(), SchemaRegistry())

    def validator(name: str) -> Draft202012Validator:
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        return Draft202012Validator(schema, format_checker=format_checker())

    sent = event_json(event)
    assert not list(validator("Event").iter_errors(sent)), list(
        validator("Event").iter_errors(sent)
    )
    app = create_app(settings, load_roads=False)
    async with TestClient(TestServer(app)) as client:
        r = await client.get(f"/v1/requests/{request_id}/outcome", headers=rider.headers)
        assert r.status == 200, await r.text()
        body = await r.json()
        other = await client.get(
            f"/v1/requests/{request_id}/outcome", headers=world["rider_east"].headers
        )
        assert other.status == 404
    errors = list(validator("RequestOutcome").iter_errors(body))
    assert not errors, errors
    assert body["outcome"] is None  # no matching run ever considered it
    told = body["fallback"]
    assert told["connection"] == event.payload["fallback"]["connection"]
    assert told["connection"]["board"]["name"] == "Herrenb. ZOB Bahnhofstraße"
    assert told["connection"]["board"]["departure"] == z("2020-09-07T08:09")
    assert told["connection"]["alight"]["arrival"] == z("2020-09-07T08:13")
    assert told["told_at"].endswith("Z")


async def test_ensure_region_imports_the_demo_timetable_once(
    api_conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    first = await ensure_demo_timetable(api_conn, REGION, BUS_781)
    assert first.startswith("timetable 'only-bronntor-bus-stop' of region 'testland' imported")
    assert await ensure_demo_timetable(api_conn, REGION, BUS_781) == (
        "region 'testland' has a bus timetable"
    )
    assert (await api_conn.fetchrow(SQL_COUNTS))[0] == 1


async def test_ensure_region_skips_a_demo_timetable_that_does_not_fit(
    api_conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    # Another MAAS_REGION than the demo's: the quick start goes on without a timetable.
    outside = await ensure_demo_timetable(api_conn, REGION, BUS_751)
    assert outside.startswith("demo timetable skipped: ")
    assert "none of the 47 stops" in outside
    missing = await ensure_demo_timetable(api_conn, REGION, tmp_path / "gone.zip")
    assert missing.endswith("no demo timetable to import")
    assert (await api_conn.fetchrow(SQL_COUNTS))[0] == 0


async def test_a_later_faster_bus_beats_an_earlier_slow_one(
    api_conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    # After Monday's last bus (20:29), a slow night trip leaves the ZOB at 21:00 and reaches
    # Stadtwerke at 07:00 next morning; Tuesday's first bus leaves at 06:09 and is there 06:13.
    trip = "31-781-j20-1,slow,T0#122,Herrenberg Stadtwerke,0,shp_3_1596,0.0,0\n"
    stop_times = (
        "slow,de:08115:4512:5:F,21:00:00,21:00:00,1,1,,0.0,-999,-999,-999.0,-999.0,0\n"
        "slow,de:08115:7009:0:3,31:00:00,31:00:00,1,4,,0.0,-999,-999,-999.0,-999.0,0\n"
    )
    feed = altered_feed(
        tmp_path / "slow.zip", append={"trips.txt": trip, "stop_times.txt": stop_times}
    )
    await import_timetable(api_conn, feed, REGION)
    found = await find(api_conn, world.west, "2020-09-07T20:30")
    assert found is not None
    assert (found.board.at, found.alight.at) == (
        local("2020-09-08T06:09"),
        local("2020-09-08T06:13"),
    )
