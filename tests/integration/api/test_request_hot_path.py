"""POST /v1/requests on its short path (one connection, one statement) keeps every rule of the
long one: who may post, which community a request belongs to, idempotency keys and their
expiry, and a revoked token stops working at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from support.api_bodies import at, request_body
from support.api_world import EAST_POINT, ApiClient, World

from maas import db
from maas.domain.models import Endpoint, Point
from maas.domain.rides import RequestDraft
from maas.settings import Settings
from maas.store import idempotency, people, rides

SQL_AGE_KEY = """
UPDATE idempotency_key SET created_at = now() - interval '25 hours'
WHERE person_id = $1 AND key = $2
"""
SQL_KEY_EXISTS = "SELECT count(*) FROM idempotency_key WHERE person_id = $1 AND key = $2"
SQL_REQUESTS_WITH_NOTE = "SELECT count(*) FROM ride_request WHERE note = $1"


async def _post(client: ApiClient, headers: dict[str, str], body: Any, **extra: str) -> Any:
    r = await client.post("/v1/requests", json=body, headers={**headers, **extra})
    return r.status, await r.json()


async def test_a_request_belongs_to_the_community_it_starts_in(
    client: ApiClient, world: World
) -> None:
    # A rider of the west posting from the east: the east's request, the west rider's.
    rider = world["rider_west"]
    status, created = await _post(client, rider.headers, request_body(east=True))
    assert status == 201, created
    assert created["community_id"] == str(world.east)
    assert created["person_id"] == str(rider.id)
    assert created["origin"]["lon"] == EAST_POINT["lon"]
    assert created["origin"]["lat"] == EAST_POINT["lat"]


async def test_only_riders_post_requests_for_themselves(client: ApiClient, world: World) -> None:
    note = f"driver-{uuid.uuid4()}"
    status, problem = await _post(client, world["driver_west"].headers, request_body(note=note))
    assert status == 403
    assert "not registered as a rider" in problem["detail"]


async def test_a_revoked_token_stops_working_at_once(
    client: ApiClient, world: World, api_conn: asyncpg.Connection
) -> None:
    rider = world["rider_east"]
    r = await client.post(f"/v1/people/{rider.id}/tokens", json={}, headers=rider.headers)
    token = await r.json()
    headers = {"Authorization": f"Bearer {token['secret']}"}
    status, _ = await _post(client, headers, request_body(east=True))
    assert status == 201
    assert (await client.delete(f"/v1/tokens/{token['id']}", headers=rider.headers)).status == 204
    note = f"revoked-{uuid.uuid4()}"
    status, problem = await _post(client, headers, request_body(east=True, note=note))
    assert status == 401, problem
    assert await api_conn.fetchval(SQL_REQUESTS_WITH_NOTE, note) == 0


async def test_an_expired_idempotency_key_is_a_new_request(
    client: ApiClient, world: World, api_settings: Settings
) -> None:
    rider = world["rider_east"]
    key = str(uuid.uuid4())
    first = await _post(client, rider.headers, request_body(east=True), **{"Idempotency-Key": key})
    assert first[0] == 201
    # Within a day another body under the key is a conflict.
    other = request_body(east=True, depart_earliest=at(30), arrive_latest=at(31))
    assert (await _post(client, rider.headers, other, **{"Idempotency-Key": key}))[0] == 409
    # A day later the key is forgotten: the same key is a new request.
    async with db.connection(api_settings) as conn:
        await conn.execute(SQL_AGE_KEY, rider.id, key)
    status, second = await _post(client, rider.headers, other, **{"Idempotency-Key": key})
    assert status == 201, second
    assert second["id"] != first[1]["id"]
    again = await _post(client, rider.headers, other, **{"Idempotency-Key": key})
    assert again == (201, second)


async def test_a_claim_drops_expired_keys_of_others(
    world: World, api_conn: asyncpg.Connection
) -> None:
    old_key, new_key = str(uuid.uuid4()), str(uuid.uuid4())
    west, east = world["rider_west"].id, world["rider_east"].id
    assert await idempotency.claim(api_conn, west, old_key, b"x") is None
    await idempotency.save(api_conn, west, old_key, 201, {"id": "old"})
    await api_conn.execute(SQL_AGE_KEY, west, old_key)
    assert await idempotency.claim(api_conn, east, new_key, b"y") is None
    assert await api_conn.fetchval(SQL_KEY_EXISTS, west, old_key) == 0
    assert await api_conn.fetchval(SQL_KEY_EXISTS, east, new_key) == 1


async def test_no_community_and_no_home_writes_nothing(
    world: World, api_conn: asyncpg.Connection
) -> None:
    person = await people.create_person(api_conn, name="Homeless", home_community_id=None)
    start = datetime.now(UTC) + timedelta(days=1)
    draft = RequestDraft(
        origin=Endpoint(Point(EAST_POINT["lon"], EAST_POINT["lat"]), None, None),
        destination=Endpoint(Point(EAST_POINT["lon"] + 0.01, EAST_POINT["lat"]), None, None),
        depart_earliest=start,
        arrive_latest=start + timedelta(hours=1),
        passengers=1,
        needs_wheelchair=False,
        needs_child_seat=False,
        needs_help_getting_in=False,
        max_walk_m=500,
        note="nowhere",
    )
    # A region without communities: nothing covers the origin, and there is no home.
    assert await rides.create_request_where(api_conn, person.id, draft, region="atlantis") is None
    assert await api_conn.fetchval(SQL_REQUESTS_WITH_NOTE, "nowhere") == 0
    # With a home community the request goes there.
    homed = await rides.create_request_where(
        api_conn, person.id, draft, region="atlantis", home_community_id=world.west
    )
    assert homed is not None
    assert homed.community_id == world.west
    # In its region it goes to the community it starts in.
    found = await rides.create_request_where(api_conn, person.id, draft, region=world.region)
    assert found is not None
    assert found.community_id == world.east


async def test_the_caller_is_checked_before_the_body(client: ApiClient, world: World) -> None:
    # The short path checks the body first; its errors still come after the caller's.
    unknown = {"Authorization": "Bearer maas_not-a-token"}
    status, problem = await _post(client, unknown, {"origin": {}})
    assert status == 401, problem
    bad_window = request_body(depart_earliest=at(30), arrive_latest=at(29))
    status, problem = await _post(client, world["driver_west"].headers, bad_window)
    assert status == 403, problem
    status, problem = await _post(client, world["rider_west"].headers, bad_window)
    assert status == 422, problem
    assert problem["field"] == "arrive_latest"


async def test_an_unknown_token_writes_nothing(
    client: ApiClient, api_conn: asyncpg.Connection
) -> None:
    note = f"unknown-{uuid.uuid4()}"
    unknown = {"Authorization": "Bearer maas_not-a-token"}
    status, problem = await _post(client, unknown, request_body(note=note))
    assert status == 401, problem
    assert await api_conn.fetchval(SQL_REQUESTS_WITH_NOTE, note) == 0


async def test_the_answer_is_what_was_stored(client: ApiClient, world: World) -> None:
    # The short path answers from what it inserted, not from the row read back.
    rider = world["rider_east"]
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    body = request_body(
        east=True,
        depart_earliest=f"{day}T07:30:00.123456+01:00",
        arrive_latest=f"{day}T09:00:00Z",
        passengers=2,
        needs={"wheelchair": True, "help_getting_in": True},
        max_walk_m=250,
        note="Bänkle am Brunnen 🚏",
    )
    body["origin"] = {"lon": EAST_POINT["lon"] + 0.000012345678, "lat": EAST_POINT["lat"]}
    r = await client.post("/v1/requests", json=body, headers=rider.headers)
    created = await r.json()
    assert r.status == 201, created
    assert r.headers["Location"] == f"/v1/requests/{created['id']}"
    assert created["depart_earliest"] == f"{day}T06:30:00.123456Z"
    assert created["needs"] == {"wheelchair": True, "child_seat": False, "help_getting_in": True}
    stored = await client.get(f"/v1/requests/{created['id']}", headers=rider.headers)
    assert await stored.json() == created
