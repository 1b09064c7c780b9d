"""Matches as each party sees them, and account export and deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shapely.geometry import LineString
from support.api_bodies import offer_body, request_body
from support.api_world import WEST_POINT, WEST_POINT_2, ApiClient, World

from maas import db
from maas.domain.models import Point
from maas.domain.privacy import approximate
from maas.settings import Settings
from maas.store.matches import NewMatch, NewStop, insert_match

# A rider's exact doorstep near (but not on) a grid cell centre.
DOOR = {"lon": 8.8512, "lat": 48.6003}
SQL_MENTIONS = "SELECT count(*) FROM idempotency_key WHERE strpos(response::text, $1) > 0"
SQL_SET_STATUS = "UPDATE match SET status = $2::match_status WHERE id = $1"


async def make_ride(
    client: ApiClient, world: World, settings: Settings, *, rider: str = "rider_west"
) -> dict[str, Any]:
    r = await client.post("/v1/offers", json=offer_body(), headers=world["driver_west"].headers)
    offer = await r.json()
    r = await client.post(
        "/v1/requests",
        json=request_body(origin=DOOR, note="ring twice"),
        headers=world[rider].headers,
    )
    req = await r.json()
    assert r.status == 201, req
    when = datetime.now(UTC) + timedelta(days=1)
    request_id = uuid.UUID(req["id"])
    async with db.connection(settings) as conn:
        match_id = await insert_match(
            conn,
            NewMatch(
                offer_id=uuid.UUID(offer["id"]),
                occurrence_date=date.today(),
                departure_at=when,
                community_id=world.west,
                request_ids=[request_id],
                stops=[
                    NewStop(request_id, "pickup", Point(**DOOR), when),
                    NewStop(
                        request_id, "dropoff", Point(**WEST_POINT_2), when + timedelta(minutes=9)
                    ),
                ],
                route=LineString(
                    [tuple(WEST_POINT.values()), tuple(DOOR.values()), tuple(WEST_POINT_2.values())]
                ),
                params_version=3,
            ),
        )
    return {"offer": offer, "request": req, "match": str(match_id)}


async def view(client: ApiClient, world: World, who: str, match_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/matches/{match_id}", headers=world[who].headers)
    assert r.status == 200
    return await r.json()  # type: ignore[no-any-return]


async def test_driver_sees_only_an_approximate_pickup_until_confirmed(
    client: ApiClient, world: World, api_settings: Settings
) -> None:
    ride = await make_ride(client, world, api_settings)
    proposed = await view(client, world, "driver_west", ride["match"])
    pickup = proposed["stops"][0]
    assert proposed["status"] == "proposed"
    assert proposed["params_version"] == 3
    assert pickup["approximate"] is True
    lon, lat = approximate(DOOR["lon"], DOOR["lat"])
    assert pickup["position"] == {"lon": lon, "lat": lat}
    assert pickup["position"] != DOOR
    assert proposed["route"] is None
    # The driver learns what they need to decide, but not the rider's free text yet.
    rider = proposed["riders"][0]
    assert (rider["passengers"], rider["needs"]["wheelchair"]) == (1, False)
    assert rider["note"] is None
    assert rider["contact"] is None
    assert proposed["vehicle"] == {"wheelchair": False, "child_seat": False, "luggage": False}
    # The rider sees their own pickup exactly.
    mine = await view(client, world, "rider_west", ride["match"])
    assert mine["stops"][0]["position"] == DOOR
    assert mine["stops"][0]["approximate"] is False
    assert mine["riders"][0]["is_me"] is True
    assert mine["riders"][0]["note"] == "ring twice"
    assert mine["driver"] is None  # no name or phone before confirmation
    # Once confirmed, the people in the ride see exact places and the route.
    async with db.connection(api_settings) as conn:
        await conn.execute(SQL_SET_STATUS, uuid.UUID(ride["match"]), "confirmed")
    confirmed = await view(client, world, "driver_west", ride["match"])
    assert confirmed["stops"][0]["position"] == DOOR
    assert confirmed["route"]["type"] == "LineString"
    assert confirmed["riders"][0]["note"] == "ring twice"
    assert confirmed["riders"][0]["contact"]["name"] == "Test rider_west"
    mine = await view(client, world, "rider_west", ride["match"])
    assert mine["driver"]["name"] == "Test driver_west"
    # Someone outside the ride still sees nothing.
    r = await client.get(f"/v1/matches/{ride['match']}", headers=world["both_west"].headers)
    assert r.status == 404


async def test_match_filters(client: ApiClient, world: World, api_settings: Settings) -> None:
    ride = await make_ride(client, world, api_settings)
    headers = world["op_west"].headers
    r = await client.get(
        "/v1/matches", params={"status": "proposed", "limit": "200"}, headers=headers
    )
    assert ride["match"] in {m["id"] for m in (await r.json())["items"]}
    r = await client.get("/v1/matches", params={"status": "completed"}, headers=headers)
    assert ride["match"] not in {m["id"] for m in (await r.json())["items"]}
    r = await client.get("/v1/matches", params={"bbox": "8.90,48.55,8.95,48.65"}, headers=headers)
    assert ride["match"] not in {m["id"] for m in (await r.json())["items"]}
    r = await client.get(
        "/v1/matches",
        params={"bbox": "8.84,48.59,8.86,48.61", "community_id": str(world.west), "limit": "200"},
        headers=headers,
    )
    assert ride["match"] in {m["id"] for m in (await r.json())["items"]}


async def test_export_and_delete_account(
    client: ApiClient, world: World, api_settings: Settings
) -> None:
    # A fresh rider, so deleting them does not disturb other tests.
    admin = world["admin"].headers
    r = await client.post(
        "/v1/people",
        json={
            "name": "Greta Gone",
            "home_community_id": str(world.west),
            "roles": ["rider"],
            "phone": "0711",
        },
        headers={**admin, "Idempotency-Key": str(uuid.uuid4())},
    )
    person = await r.json()
    r = await client.post(f"/v1/people/{person['id']}/tokens", json={"label": "app"}, headers=admin)
    token = await r.json()
    greta = {"Authorization": f"Bearer {token['secret']}"}
    world.actors["greta"] = type(world["admin"])(uuid.UUID(person["id"]), token["secret"], "greta")
    ride = await make_ride(client, world, api_settings, rider="greta")

    r = await client.get("/v1/me/export", headers=greta)
    export = await r.json()
    assert r.status == 200
    assert export["person"]["name"] == "Greta Gone"
    assert [q["id"] for q in export["requests"]] == [ride["request"]["id"]]
    assert export["requests"][0]["note"] == "ring twice"
    assert [m["id"] for m in export["matches"]] == [ride["match"]]
    assert export["tokens"][0]["label"] == "app"
    assert "secret" not in export["tokens"][0]

    r = await client.delete("/v1/me", headers=greta)
    assert r.status == 204
    r = await client.get("/v1/me", headers=greta)
    assert r.status == 401  # the token is revoked
    r = await client.get(f"/v1/people/{person['id']}", headers=admin)
    gone = await r.json()
    assert gone["deleted"] is True
    assert (gone["name"], gone["phone"]) == (None, None)
    r = await client.get(f"/v1/requests/{ride['request']['id']}", headers=admin)
    kept = await r.json()
    assert kept["note"] is None
    assert kept["status"] == "cancelled"
    lon, lat = approximate(DOOR["lon"], DOOR["lat"])
    assert abs(kept["origin"]["lon"] - lon) < 1e-6
    assert abs(kept["origin"]["lat"] - lat) < 1e-6
    # The driver's view of the past ride now only holds the approximate place.
    r = await client.get(f"/v1/matches/{ride['match']}", headers=admin)
    stop = (await r.json())["stops"][0]
    assert abs(stop["position"]["lon"] - lon) < 1e-6
    # The admin's stored answer to registering Greta (an idempotency record) is gone too.
    async with db.connection(api_settings) as conn:
        assert await conn.fetchval(SQL_MENTIONS, person["id"]) == 0
