"""The load KPIs in the database: which drivers count as active in a period (they offered a
trip in it, one-off or weekly), and the figures in the JSON and CSV answers."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
import shapely
from shapely.geometry import LineString, box
from support.api_world import ApiClient, World

from maas import db
from maas.domain.models import Point
from maas.settings import Settings
from maas.store import communities, people
from maas.store import kpis as kpi_store
from maas.store.common import to_geom
from maas.store.matches import NewMatch, NewStop, insert_match

DAY = date(2026, 3, 10)  # a Tuesday (ISO 2); Berlin is UTC+1
T = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
WEST, EAST = Point(9.30, 48.58), Point(9.40, 48.58)

SQL_ONE_OFF = """
INSERT INTO ride_offer (person_id, community_id, origin, destination, depart_earliest,
                        depart_latest, seats, status)
VALUES ($1, $2, $3, $4, $5, $6, 3, $7::ride_status) RETURNING id
"""
SQL_WEEKLY = """
INSERT INTO ride_offer (person_id, community_id, origin, destination, weekdays,
                        local_depart_earliest, local_depart_latest, valid_from, exception_dates,
                        seats)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 3) RETURNING id
"""
SQL_REQUEST = """
INSERT INTO ride_request (person_id, community_id, origin, destination, depart_earliest,
                          arrive_latest)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
"""


@pytest.fixture(scope="module")
async def community(api_settings: Settings, world: World) -> tuple[uuid.UUID, list[str]]:
    """Six drivers: A (one-off, carries two riders), B (one-off, takes nobody), C (weekly on
    Tuesdays) are active on DAY; D (weekly on Wednesdays), E (Tuesdays, but DAY is an
    exception) and F (a cancelled one-off) are not."""
    async with db.connection(api_settings) as conn:
        c = await communities.create_community(
            conn,
            region=world.region,
            name=f"Lastdorf {uuid.uuid4().hex[:6]}",
            area=shapely.set_srid(box(9.29, 48.55, 9.41, 48.61), 4326),
            settings={},
        )
        ids = {}
        for name in ("A", "B", "C", "D", "E", "F", "r1", "r2"):
            p = await people.create_person(
                conn,
                name=f"Load {name}",
                home_community_id=c.id,
                is_rider=name.startswith("r"),
                is_driver=not name.startswith("r"),
                is_admin=False,
                operator_of=(),
            )
            ids[name] = p.id
        west, east = to_geom(WEST), to_geom(EAST)
        later = T + timedelta(minutes=30)
        offer_a = await conn.fetchval(SQL_ONE_OFF, ids["A"], c.id, west, east, T, later, "open")
        await conn.fetchval(SQL_ONE_OFF, ids["B"], c.id, west, east, T, later, "open")
        await conn.fetchval(SQL_ONE_OFF, ids["F"], c.id, west, east, T, later, "cancelled")
        for who, weekdays, exceptions in (("C", [2], []), ("D", [3], []), ("E", [2], [DAY])):
            await conn.fetchval(
                SQL_WEEKLY,
                ids[who],
                c.id,
                west,
                east,
                weekdays,
                time(7, 0),
                time(7, 30),
                DAY - timedelta(days=30),
                exceptions,
            )
        r1 = await conn.fetchval(
            SQL_REQUEST, ids["r1"], c.id, west, east, T, T + timedelta(hours=2)
        )
        r2 = await conn.fetchval(
            SQL_REQUEST, ids["r2"], c.id, west, east, T, T + timedelta(hours=2)
        )
        await insert_match(
            conn,
            NewMatch(
                offer_id=offer_a,
                occurrence_date=DAY,
                departure_at=T,
                community_id=c.id,
                request_ids=[r1, r2],
                stops=[
                    NewStop(r1, "pickup", WEST, T + timedelta(minutes=5)),
                    NewStop(r2, "pickup", WEST, T + timedelta(minutes=5)),
                    NewStop(r1, "dropoff", EAST, T + timedelta(minutes=25)),
                    NewStop(r2, "dropoff", EAST, T + timedelta(minutes=25)),
                ],
                route=shapely.set_srid(LineString([(9.30, 48.58), (9.40, 48.58)]), 4326),
                status="confirmed",
                rider_status="accepted",
            ),
        )
    return c.id, sorted(str(ids[x]) for x in "ABC")


async def test_active_drivers_are_those_who_offered_a_trip_in_the_period(
    api_settings: Settings, community: tuple[uuid.UUID, list[str]]
) -> None:
    cid, active = community
    start = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)  # the local day
    async with db.connection(api_settings) as conn:
        assert await kpi_store.offering_drivers(
            conn, cid, start, start + timedelta(days=1)
        ) == sorted(active)
        # Wednesday: only D's weekly offer runs.
        wednesday = await kpi_store.offering_drivers(
            conn, cid, start + timedelta(days=1), start + timedelta(days=2)
        )
        assert len(wednesday) == 1
        assert wednesday[0] not in active


async def test_load_kpis_in_json_and_csv(
    client: ApiClient, world: World, community: tuple[uuid.UUID, list[str]]
) -> None:
    cid, _active = community
    period = {"from": DAY.isoformat(), "to": DAY.isoformat()}
    r = await client.get(
        f"/v1/communities/{cid}/kpis", params=period, headers=world["admin"].headers
    )
    assert r.status == 200, await r.text()
    k = await r.json()
    # rides (2, 0, 0): Gini = 2 · (3 · 2) / (3 · 2) − 4/3 = 2/3; the busiest one gives all.
    assert (k["active_drivers"], k["volunteers"]) == (3, 1)
    assert (k["rides_gini"], k["rides_top20_share"]) == (0.6667, 1.0)
    r = await client.get(
        f"/v1/communities/{cid}/kpis",
        params={**period, "format": "csv"},
        headers=world["admin"].headers,
    )
    rows = dict(csv.reader(io.StringIO(await r.text())))
    assert (rows["active_drivers"], rows["rides_gini"]) == ("3", "0.6667")
