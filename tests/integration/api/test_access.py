"""No cross-person or cross-community access: every endpoint × role × own/other resource.

The fixture builds, for each resource kind, one object owned by a west person and one owned by
an east person; each actor then reads, changes and cancels both, and the answers must be exactly
what the roles allow (200/201/204 for allowed, 404 for invisible, 403 for visible but not
allowed). Lists must hold only what the same rule makes visible.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from support.api_bodies import offer_body, request_body
from support.api_world import ApiClient, World

from maas import db
from maas.domain.models import Point
from maas.settings import Settings
from maas.store.matches import NewMatch, NewStop, insert_match

ACTORS = (
    "admin",
    "op_west",
    "op_east",
    "rider_west",
    "driver_west",
    "both_west",
    "rider_east",
    "driver_east",
)


@dataclass
class Fixture:
    offers: dict[str, str]  # "west"/"east" -> id
    requests: dict[str, str]
    matches: dict[str, str]
    people: dict[str, str]


@pytest.fixture(scope="module")
async def things(client: ApiClient, world: World, api_settings: Settings) -> Fixture:
    fx = Fixture({}, {}, {}, {})
    for side, driver, rider in (
        ("west", "driver_west", "rider_west"),
        ("east", "driver_east", "rider_east"),
    ):
        east = side == "east"
        r = await client.post(
            "/v1/offers", json=offer_body(east=east), headers=world[driver].headers
        )
        assert r.status == 201
        fx.offers[side] = (await r.json())["id"]
        r = await client.post(
            "/v1/requests", json=request_body(east=east), headers=world[rider].headers
        )
        assert r.status == 201
        req = await r.json()
        fx.requests[side] = req["id"]
        fx.people[side] = str(world[rider].id)
        when = datetime.now(UTC) + timedelta(days=1)
        async with db.connection(api_settings) as conn:
            match_id = await insert_match(
                conn,
                NewMatch(
                    offer_id=uuid.UUID(fx.offers[side]),
                    occurrence_date=date.today(),
                    departure_at=when,
                    community_id=world.east if east else world.west,
                    request_ids=[uuid.UUID(req["id"])],
                    stops=[
                        NewStop(
                            uuid.UUID(req["id"]),
                            "pickup",
                            Point(req["origin"]["lon"], req["origin"]["lat"]),
                            when,
                        ),
                        NewStop(
                            uuid.UUID(req["id"]),
                            "dropoff",
                            Point(req["destination"]["lon"], req["destination"]["lat"]),
                            when + timedelta(minutes=10),
                        ),
                    ],
                ),
            )
        fx.matches[side] = str(match_id)
    return fx


# Who may see the west / east object of each kind.
def sees(actor: str, kind: str, side: str) -> bool:
    if actor == "admin":
        return True
    if actor == f"op_{side}":
        return True
    owner = {
        "offers": f"driver_{side}",
        "requests": f"rider_{side}",
        "people": f"rider_{side}",
    }
    if kind == "matches":
        return actor in (f"driver_{side}", f"rider_{side}")
    return actor == owner[kind]


CASES = [
    (actor, kind, side)
    for actor in ACTORS
    for kind in ("offers", "requests", "matches", "people")
    for side in ("west", "east")
]


@pytest.mark.parametrize(("actor", "kind", "side"), CASES)
async def test_get_one(
    client: ApiClient, world: World, things: Fixture, actor: str, kind: str, side: str
) -> None:
    thing = getattr(things, kind)[side]
    r = await client.get(f"/v1/{kind}/{thing}", headers=world[actor].headers)
    expected = 200 if sees(actor, kind, side) else 404
    assert r.status == expected, await r.text()


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("kind", ["offers", "requests", "matches"])
async def test_lists_hold_only_visible_things(
    client: ApiClient, world: World, things: Fixture, actor: str, kind: str
) -> None:
    seen: set[str] = set()
    url: str | None = f"/v1/{kind}?limit=200"
    while url:
        r = await client.get(url, headers=world[actor].headers)
        assert r.status == 200
        page = await r.json()
        seen |= {item["id"] for item in page["items"]}
        url = f"/v1/{kind}?limit=200&cursor={page['next_cursor']}" if page["next_cursor"] else None
    for side in ("west", "east"):
        assert (getattr(things, kind)[side] in seen) == sees(actor, kind, side), side


@pytest.mark.parametrize("actor", ACTORS)
async def test_people_list(client: ApiClient, world: World, things: Fixture, actor: str) -> None:
    r = await client.get("/v1/people?limit=200", headers=world[actor].headers)
    if actor not in ("admin", "op_west", "op_east"):
        assert r.status == 403
        return
    ids = {p["id"] for p in (await r.json())["items"]}
    for side in ("west", "east"):
        assert (things.people[side] in ids) == sees(actor, "people", side)


@pytest.mark.parametrize(("actor", "side"), [(a, s) for a in ACTORS for s in ("west", "east")])
async def test_changes_and_cancellations(
    client: ApiClient, world: World, things: Fixture, actor: str, side: str
) -> None:
    headers = world[actor].headers
    # Changing an offer: its driver and staff; others do not even see it.
    r = await client.patch(
        f"/v1/offers/{things.offers[side]}", json={"max_detour_min": 14}, headers=headers
    )
    assert r.status == (200 if sees(actor, "offers", side) else 404), await r.text()
    # Changing a person: themself and staff of their community.
    r = await client.patch(
        f"/v1/people/{things.people[side]}", json={"phone": "0700"}, headers=headers
    )
    assert r.status == (200 if sees(actor, "people", side) else 404), await r.text()
    # Tokens of a person.
    r = await client.get(f"/v1/people/{things.people[side]}/tokens", headers=headers)
    assert r.status == (200 if sees(actor, "people", side) else 404)
    r = await client.post(f"/v1/people/{things.people[side]}/tokens", json={}, headers=headers)
    assert r.status == (201 if sees(actor, "people", side) else 404)
    if r.status == 201:
        token_id = (await r.json())["id"]
        r = await client.delete(f"/v1/tokens/{token_id}", headers=headers)
        assert r.status == 204


@pytest.mark.parametrize(("actor", "side"), [(a, s) for a in ACTORS for s in ("west", "east")])
async def test_cancel_others_rides_is_not_found(
    client: ApiClient, world: World, actor: str, side: str
) -> None:
    east = side == "east"
    owner = world[f"driver_{side}"]
    r = await client.post("/v1/offers", json=offer_body(east=east), headers=owner.headers)
    offer = (await r.json())["id"]
    r = await client.post(f"/v1/offers/{offer}/cancel", headers=world[actor].headers)
    assert r.status == (200 if sees(actor, "offers", side) else 404)
    rider = world[f"rider_{side}"]
    r = await client.post("/v1/requests", json=request_body(east=east), headers=rider.headers)
    req = (await r.json())["id"]
    r = await client.post(f"/v1/requests/{req}/cancel", headers=world[actor].headers)
    assert r.status == (200 if sees(actor, "requests", side) else 404)


@pytest.mark.parametrize("actor", ACTORS)
async def test_staff_only_operations(client: ApiClient, world: World, actor: str) -> None:
    headers = world[actor].headers
    area = {
        "type": "Polygon",
        "coordinates": [
            [[8.81, 48.56], [8.82, 48.56], [8.82, 48.57], [8.81, 48.57], [8.81, 48.56]]
        ],
    }
    r = await client.post(
        "/v1/communities", json={"name": f"Neu {actor}", "area": area}, headers=headers
    )
    assert r.status == (201 if actor == "admin" else 403)
    for side, community in (("west", world.west), ("east", world.east)):
        r = await client.patch(
            f"/v1/communities/{community}",
            json={"settings": {"contact_phone": "07032 1234"}},
            headers=headers,
        )
        assert r.status == (200 if actor in ("admin", f"op_{side}") else 403)
        point = {"lon": 8.84, "lat": 48.60} if side == "west" else {"lon": 8.92, "lat": 48.60}
        r = await client.post(
            "/v1/meeting-points",
            json={"name": "Bank", "kind": "mitfahrbank", "position": point},
            headers=headers,
        )
        assert r.status == (201 if actor in ("admin", f"op_{side}") else 403), await r.text()
        person = {"name": "Neu", "home_community_id": str(community), "roles": ["rider"]}
        r = await client.post("/v1/people", json=person, headers=headers)
        assert r.status == (201 if actor in ("admin", f"op_{side}") else 403), await r.text()


async def test_operators_cannot_escalate(client: ApiClient, world: World) -> None:
    op = world["op_west"].headers
    base = {"name": "Evil", "home_community_id": str(world.west)}
    r = await client.post("/v1/people", json={**base, "roles": ["admin"]}, headers=op)
    assert (r.status, (await r.json())["field"]) == (403, "roles")
    r = await client.post("/v1/people", json={**base, "operator_of": [str(world.west)]}, headers=op)
    assert r.status == 403
    # An operator may not take over another staff member's account.
    for target in ("admin", "op_east"):
        r = await client.post(f"/v1/people/{world[target].id}/tokens", json={}, headers=op)
        assert r.status in (403, 404)
    r = await client.patch(
        f"/v1/people/{world['rider_west'].id}", json={"roles": ["admin"]}, headers=op
    )
    assert r.status == 403
    # A rider may not make themself an admin or move community.
    rider = world["rider_west"]
    r = await client.patch(
        f"/v1/people/{rider.id}", json={"roles": ["rider", "admin"]}, headers=rider.headers
    )
    assert r.status == 403
    r = await client.patch(
        f"/v1/people/{rider.id}", json={"home_community_id": str(world.east)}, headers=rider.headers
    )
    assert r.status == 403


async def test_no_token_no_access(client: ApiClient, things: Fixture) -> None:
    for path in (
        "/v1/offers",
        "/v1/requests",
        "/v1/matches",
        "/v1/me",
        f"/v1/offers/{things.offers['west']}",
    ):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            r = await client.get(path, headers=headers)
            assert r.status == 401


async def test_operators_see_their_residents_rides_that_start_elsewhere(
    client: ApiClient, world: World
) -> None:
    # The hotline of the west books a west rider's ride home from the east.
    body = request_body(east=True, person_id=str(world["rider_west"].id))
    r = await client.post("/v1/requests", json=body, headers=world["op_west"].headers)
    ride = await r.json()
    assert r.status == 201, ride
    assert ride["community_id"] == str(world.east)
    for actor, visible in (
        ("op_west", True),
        ("op_east", True),
        ("rider_west", True),
        ("rider_east", False),
        ("driver_west", False),
    ):
        r = await client.get(f"/v1/requests/{ride['id']}", headers=world[actor].headers)
        assert r.status == (200 if visible else 404), actor
        r = await client.get(
            "/v1/requests",
            params={"community_id": str(world.east), "limit": "200"},
            headers=world[actor].headers,
        )
        listed = {q["id"] for q in (await r.json())["items"]}
        assert (ride["id"] in listed) == visible, actor


async def test_operators_follow_their_residents_matches(
    client: ApiClient, world: World, api_settings: Settings
) -> None:
    """A west rider in a match of the east: the west operator sees it, approximately."""
    r = await client.post(
        "/v1/offers", json=offer_body(east=True), headers=world["driver_east"].headers
    )
    offer = await r.json()
    r = await client.post(
        "/v1/requests", json=request_body(east=True), headers=world["rider_west"].headers
    )
    req = await r.json()
    when = datetime.now(UTC) + timedelta(days=1)
    stop = Point(req["origin"]["lon"] + 0.0004, req["origin"]["lat"] + 0.0004)
    async with db.connection(api_settings) as conn:
        match_id = await insert_match(
            conn,
            NewMatch(
                offer_id=uuid.UUID(offer["id"]),
                occurrence_date=date.today(),
                departure_at=when,
                community_id=world.east,
                request_ids=[uuid.UUID(req["id"])],
                stops=[
                    NewStop(uuid.UUID(req["id"]), "pickup", stop, when),
                    NewStop(uuid.UUID(req["id"]), "dropoff", stop, when + timedelta(minutes=5)),
                ],
            ),
        )
    r = await client.get(f"/v1/matches/{match_id}", headers=world["op_west"].headers)
    seen = await r.json()
    assert r.status == 200
    assert seen["stops"][0]["approximate"] is True
    r = await client.get(f"/v1/matches/{match_id}", headers=world["op_east"].headers)
    assert (await r.json())["stops"][0]["approximate"] is False
    r = await client.get(f"/v1/matches/{match_id}", headers=world["both_west"].headers)
    assert r.status == 404
