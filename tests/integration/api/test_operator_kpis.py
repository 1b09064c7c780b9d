"""KPIs of a hand-checked small day in the database, their CSV export and map layers, and
what-if input errors (a day without data is a 422 naming ``day``)."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import shapely
from shapely.geometry import LineString, box
from support.api_world import ApiClient, World

from maas import db
from maas.domain import kpi
from maas.domain.models import Point
from maas.settings import Settings
from maas.store import communities, people
from maas.store.common import to_geom
from maas.store.matches import NewMatch, NewStop, insert_match

DAY = date(2026, 3, 10)  # Berlin is UTC+1 that day
T = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 07:00 local
WEST, EAST = Point(9.30, 48.58), Point(9.40, 48.58)

SQL_OFFER = """
INSERT INTO ride_offer (person_id, community_id, origin, destination, depart_earliest,
                        depart_latest, seats)
VALUES ($1, $2, $3, $4, $5, $6, 3) RETURNING id
"""
SQL_REQUEST = """
INSERT INTO ride_request (person_id, community_id, origin, destination, depart_earliest,
                          arrive_latest, status)
VALUES ($1, $2, $3, $4, $5, $6, $7::ride_status) RETURNING id
"""


@dataclass
class Day:
    community: uuid.UUID
    route_km: float
    direct_km: float


@pytest.fixture(scope="module")
async def day(api_settings: Settings, world: World) -> Day:
    """One driver takes two of three riders (waits 5 and 20 min); a fourth request was
    cancelled and does not count."""
    async with db.connection(api_settings) as conn:
        c = await communities.create_community(
            conn,
            region=world.region,
            name=f"Kennzahlendorf {uuid.uuid4().hex[:6]}",
            area=shapely.set_srid(box(9.29, 48.55, 9.41, 48.61), 4326),
            settings={},
        )
        persons = []
        for name in ("driver", "r1", "r2", "r3", "r4"):
            p = await people.create_person(
                conn,
                name=f"KPI {name}",
                home_community_id=c.id,
                is_rider=name != "driver",
                is_driver=name == "driver",
                is_admin=False,
                operator_of=(),
            )
            persons.append(p.id)
        driver, r1, r2, r3, r4 = persons
        offer = await conn.fetchval(
            SQL_OFFER, driver, c.id, to_geom(WEST), to_geom(EAST), T, T + timedelta(minutes=30)
        )
        ids = {}
        for who, start, status in (
            (r1, T, "open"),
            (r2, T + timedelta(minutes=10), "open"),
            (r3, T + timedelta(hours=3), "open"),
            (r4, T, "cancelled"),
        ):
            ids[who] = await conn.fetchval(
                SQL_REQUEST,
                who,
                c.id,
                to_geom(WEST),
                to_geom(EAST),
                start,
                start + timedelta(hours=2),
                status,
            )
        route = shapely.set_srid(
            LineString([(9.30, 48.58), (9.30, 48.60), (9.40, 48.60), (9.40, 48.58)]), 4326
        )
        await insert_match(
            conn,
            NewMatch(
                offer_id=offer,
                occurrence_date=DAY,
                departure_at=T,
                community_id=c.id,
                request_ids=[ids[r1], ids[r2]],
                stops=[
                    NewStop(ids[r1], "pickup", WEST, T + timedelta(minutes=5)),
                    NewStop(ids[r2], "pickup", WEST, T + timedelta(minutes=30)),
                    NewStop(ids[r1], "dropoff", EAST, T + timedelta(minutes=50)),
                    NewStop(ids[r2], "dropoff", EAST, T + timedelta(minutes=50)),
                ],
                route=route,
                status="confirmed",
                rider_status="accepted",
            ),
        )
        straight_m = await conn.fetchval(
            "SELECT ST_Distance($1::geometry::geography, $2::geometry::geography)",
            to_geom(WEST),
            to_geom(EAST),
        )
        route_m = await conn.fetchval("SELECT ST_Length($1::geometry::geography)", route)
    return Day(c.id, route_m / 1000, kpi.direct_km(straight_m / 1000))


async def test_kpis_of_a_hand_checked_day(client: ApiClient, world: World, day: Day) -> None:
    r = await client.get(
        f"/v1/communities/{day.community}/kpis",
        params={"from": DAY.isoformat(), "to": DAY.isoformat()},
        headers=world["admin"].headers,
    )
    assert r.status == 200, await r.text()
    k = await r.json()
    assert (k["requests"], k["served"], k["served_share"]) == (3, 2, 0.6667)
    assert k["wait_median_min"] == 12.5  # (5 + 20) / 2
    assert k["wait_p90_min"] == 20.0
    detour = day.route_km - day.direct_km  # about 11.8 − 9.6 km
    assert 2.0 < detour < 2.5
    assert k["detour_mean_km"] == pytest.approx(detour, abs=0.01)
    assert k["vehicle_km_alone"] == pytest.approx(2 * day.direct_km, abs=0.01)
    assert k["vehicle_km_saved"] == pytest.approx(2 * day.direct_km - detour, abs=0.02)
    assert k["co2_saved_kg"] == pytest.approx(
        (2 * day.direct_km - detour) * kpi.CO2_KG_PER_VEHICLE_KM, abs=0.01
    )
    assert (k["volunteers"], k["rides_per_volunteer"]) == (1, 2.0)
    assert k["unmet_count"] == 1
    assert k["villages"] == [{"village": "—", "requests": 3, "served": 2, "served_share": 0.6667}]
    # the day before holds nothing
    r = await client.get(
        f"/v1/communities/{day.community}/kpis",
        params={"from": "2026-03-09", "to": "2026-03-09"},
        headers=world["admin"].headers,
    )
    assert (await r.json())["requests"] == 0


async def test_kpis_as_csv(client: ApiClient, world: World, day: Day) -> None:
    period = {"from": DAY.isoformat(), "to": DAY.isoformat()}
    r = await client.get(
        f"/v1/communities/{day.community}/kpis",
        params={**period, "format": "csv"},
        headers=world["admin"].headers,
    )
    assert r.status == 200
    assert r.content_type == "text/csv"
    rows = dict(csv.reader(io.StringIO(await r.text())))
    assert rows["served"] == "2"
    assert rows["served_share"] == "0.6667"
    r = await client.get(
        f"/v1/communities/{day.community}/kpis",
        params={**period, "table": "unmet"},
        headers={**world["admin"].headers, "Accept": "text/csv"},
    )
    unmet = list(csv.reader(io.StringIO(await r.text())))
    assert unmet[0] == ["requested_at", "village", "lon", "lat"]
    assert len(unmet) == 2
    r = await client.get(
        f"/v1/communities/{day.community}/kpis",
        params={**period, "format": "xml"},
        headers=world["admin"].headers,
    )
    assert r.status == 422
    assert (await r.json())["field"] == "format"


async def test_map_layers(client: ApiClient, world: World, day: Day) -> None:
    r = await client.get(
        f"/v1/communities/{day.community}/map",
        params={"from": DAY.isoformat(), "to": DAY.isoformat()},
        headers=world["admin"].headers,
    )
    layers = await r.json()
    assert len(layers["offers"]["features"]) == 1
    assert len(layers["requests"]["features"]) == 3
    assert len(layers["routes"]["features"]) == 1
    assert len(layers["unmet"]["features"]) == 1
    [cell] = layers["unmet_grid"]["features"]
    assert cell["properties"]["unmet"] == 1
    assert cell["geometry"]["type"] == "Polygon"


async def test_kpi_period_errors_and_access(client: ApiClient, world: World, day: Day) -> None:
    url = f"/v1/communities/{day.community}/kpis"
    r = await client.get(
        url, params={"from": "2026-03-10", "to": "2026-03-01"}, headers=world["admin"].headers
    )
    assert (r.status, (await r.json())["field"]) == (422, "to")
    r = await client.get(url, params={"from": "10.03.2026"}, headers=world["admin"].headers)
    assert (r.status, (await r.json())["field"]) == (422, "from")
    r = await client.get(url, headers=world["op_west"].headers)
    assert r.status == 403


async def test_geojson_of_roads_and_communities(client: ApiClient, world: World) -> None:
    r = await client.get(
        f"/v1/regions/{world.region}/roads.geojson", headers=world["rider_west"].headers
    )
    assert r.status == 200
    roads = await r.json()
    assert roads["type"] == "FeatureCollection"
    r = await client.get(
        f"/v1/regions/{world.region}/roads.geojson",
        params={"detail": "all"},
        headers=world["rider_west"].headers,
    )
    [residential] = (await r.json())["features"]
    assert residential["properties"]["highway"] == "residential"
    r = await client.get("/v1/regions/atlantis/roads.geojson", headers=world["admin"].headers)
    assert r.status == 404
    r = await client.get("/v1/communities.geojson", headers=world["admin"].headers)
    names = {f["properties"]["name"] for f in (await r.json())["features"]}
    assert {"Westdorf", "Ostdorf"} <= names


async def test_whatif_on_a_day_without_data_names_the_day(
    client: ApiClient, world: World, day: Day
) -> None:
    url = f"/v1/communities/{day.community}/whatif-runs"
    r = await client.post(
        url, json={"day": "2026-03-11", "source": "past"}, headers=world["admin"].headers
    )
    assert r.status == 422
    problem = await r.json()
    assert problem["field"] == "day"
    assert "2026-03-11" in problem["detail"]
    r = await client.post(
        url,
        json={"day": DAY.isoformat(), "params": {"ride_time_factor": 0.5}},
        headers=world["admin"].headers,
    )
    assert (r.status, (await r.json())["field"]) == (422, "params.ride_time_factor")
    r = await client.post(url, json={"day": DAY.isoformat()}, headers=world["op_east"].headers)
    assert r.status == 403
    # this test app loads no road network: a valid replay cannot run here (e2e runs one)
    r = await client.post(url, json={"day": DAY.isoformat()}, headers=world["admin"].headers)
    assert r.status == 503
    r = await client.get(url, headers=world["admin"].headers)
    assert (await r.json())["items"] == []


async def test_answers_follow_the_response_schemas(
    client: ApiClient, world: World, day: Day
) -> None:
    from jsonschema import Draft202012Validator

    from maas.app import api_routes
    from maas.http.openapi import build_document
    from maas.schemas import SchemaRegistry, format_checker

    components = build_document(api_routes(), SchemaRegistry())["components"]

    def check(name: str, instance: object) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": components}
        validator = Draft202012Validator(schema, format_checker=format_checker())
        assert not [e.message for e in validator.iter_errors(instance)]

    admin = world["admin"].headers
    base = f"/v1/communities/{day.community}"
    r = await client.get(f"{base}/kpis", params={"from": "2026-03-10"}, headers=admin)
    check("Kpis", await r.json())
    r = await client.get(f"{base}/params", headers=admin)
    current = await r.json()
    check("ParamsVersion", current)
    r = await client.patch(
        f"{base}/params",
        json={"params": {"volunteer_quiet_from": "21:30", "volunteer_quiet_until": "07:00"}},
        headers=admin,
    )
    check("ParamsVersion", await r.json())
    r = await client.get(f"{base}/params/history", headers=admin)
    check("ParamsVersionPage", await r.json())
    r = await client.get(f"{base}/whatif-runs", headers=admin)
    check("WhatifRunPage", await r.json())
