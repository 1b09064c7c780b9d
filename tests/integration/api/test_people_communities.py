"""People, tokens, communities and meeting points over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from support.api_bodies import offer_body, request_body
from support.api_world import WEST_POINT, ApiClient, World

from maas.store import people

SQL_EXPIRE = "UPDATE api_token SET expires_at = now() - interval '1 minute' WHERE id = $1"
SQL_TOKEN_HASHES = "SELECT secret_sha256 FROM api_token WHERE id = $1"


async def test_tokens_expire_and_are_revoked(
    client: ApiClient, world: World, api_conn: asyncpg.Connection
) -> None:
    rider = world["rider_west"]
    r = await client.post(
        f"/v1/people/{rider.id}/tokens",
        json={"label": "phone", "expires_in_days": 1},
        headers=rider.headers,
    )
    token = await r.json()
    assert r.status == 201
    assert token["secret"].startswith("maas_")
    headers = {"Authorization": f"Bearer {token['secret']}"}
    assert (await client.get("/v1/me", headers=headers)).status == 200
    r = await client.delete(f"/v1/tokens/{token['id']}", headers=rider.headers)
    assert r.status == 204
    assert (await client.get("/v1/me", headers=headers)).status == 401
    listed = await (await client.get(f"/v1/people/{rider.id}/tokens", headers=rider.headers)).json()
    assert any(t["id"] == token["id"] and t["revoked_at"] for t in listed["items"])


async def test_expired_tokens_are_refused(api_conn: asyncpg.Connection, world: World) -> None:
    token, secret = await people.create_token(
        api_conn,
        world["rider_east"].id,
        label="x",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    assert await people.principal_for_secret(api_conn, secret) is not None
    await api_conn.execute(SQL_EXPIRE, token.id)
    assert await people.principal_for_secret(api_conn, secret) is None
    # Only the hash is stored.
    stored = await api_conn.fetchval(SQL_TOKEN_HASHES, token.id)
    assert secret.encode() not in stored
    assert stored == people.hash_secret(secret)


async def test_idempotent_token_creation_never_stores_the_secret(
    client: ApiClient, world: World
) -> None:
    rider = world["rider_east"]
    headers = {**rider.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(f"/v1/people/{rider.id}/tokens", json={}, headers=headers)
    again = await client.post(f"/v1/people/{rider.id}/tokens", json={}, headers=headers)
    one, two = await first.json(), await again.json()
    assert one["id"] == two["id"]
    assert one["secret"]
    assert two["secret"] is None
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_person_who_is_rider_and_driver(client: ApiClient, world: World) -> None:
    both = world["both_west"]
    r = await client.post("/v1/offers", json=offer_body(), headers=both.headers)
    assert r.status == 201
    r = await client.post("/v1/requests", json=request_body(), headers=both.headers)
    assert r.status == 201
    me = await (await client.get("/v1/me", headers=both.headers)).json()
    assert me["roles"] == ["rider", "driver"]


async def test_operator_registers_a_rider_who_then_books(client: ApiClient, world: World) -> None:
    op = world["op_east"].headers
    r = await client.post(
        "/v1/people",
        json={"name": "Otto", "home_community_id": str(world.east), "roles": ["rider"]},
        headers=op,
    )
    otto = await r.json()
    assert r.status == 201, otto
    r = await client.post(f"/v1/people/{otto['id']}/tokens", json={}, headers=op)
    secret = (await r.json())["secret"]
    r = await client.post(
        "/v1/requests", json=request_body(east=True), headers={"Authorization": f"Bearer {secret}"}
    )
    assert r.status == 201
    assert (await r.json())["community_id"] == str(world.east)
    r = await client.post(
        "/v1/people",
        json={"name": "Nobody", "home_community_id": str(uuid.uuid4())},
        headers=world["admin"].headers,
    )
    assert (r.status, (await r.json())["field"]) == (422, "home_community_id")


async def test_community_settings_are_staff_only(client: ApiClient, world: World) -> None:
    r = await client.get(f"/v1/communities/{world.west}", headers=world["op_west"].headers)
    assert "settings" in await r.json()
    r = await client.get(f"/v1/communities/{world.west}", headers=world["rider_west"].headers)
    body = await r.json()
    assert body["name"] == "Westdorf"
    assert "settings" not in body
    admin = world["admin"].headers
    # Matching parameters are versioned at /params; settings hold the other options.
    r = await client.patch(
        f"/v1/communities/{world.west}", json={"settings": {"max_walk_m": 300}}, headers=admin
    )
    assert (r.status, (await r.json())["field"]) == (422, "settings.max_walk_m")
    r = await client.patch(
        f"/v1/communities/{world.west}", json={"settings": {"contact_email": 5}}, headers=admin
    )
    assert (r.status, (await r.json())["field"]) == (422, "settings.contact_email")
    # Options are merged; null removes one.
    for change in ({"contact_email": "rathaus@westdorf.example"}, {"description": "Westdorf"}):
        r = await client.patch(
            f"/v1/communities/{world.west}", json={"settings": change}, headers=admin
        )
        assert r.status == 200
    merged = (await r.json())["settings"]
    assert merged["contact_email"] == "rathaus@westdorf.example"
    assert merged["description"] == "Westdorf"
    r = await client.patch(
        f"/v1/communities/{world.west}", json={"settings": {"description": None}}, headers=admin
    )
    assert "description" not in (await r.json())["settings"]
    r = await client.patch(
        f"/v1/communities/{world.west}",
        json={"settings": {"shoe_size": 5}},
        headers=world["admin"].headers,
    )
    assert (r.status, (await r.json())["field"]) == (422, "settings.shoe_size")


async def test_community_area_must_be_a_valid_polygon(client: ApiClient, world: World) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    r = await client.post(
        "/v1/communities", json={"name": "Bow", "area": bowtie}, headers=world["admin"].headers
    )
    assert (r.status, (await r.json())["field"]) == (422, "area")
    r = await client.get(
        "/v1/communities",
        params={"bbox": "8.90,48.56,8.91,48.57"},
        headers=world["rider_west"].headers,
    )
    names = {c["name"] for c in (await r.json())["items"]}
    assert "Ostdorf" in names
    assert "Westdorf" not in names


async def test_meeting_points_as_ride_ends(client: ApiClient, world: World) -> None:
    op = world["op_west"].headers
    r = await client.post(
        "/v1/meeting-points",
        json={
            "name": "Mitfahrbank Rathaus",
            "kind": "mitfahrbank",
            "position": WEST_POINT,
            "bench": True,
            "lit": True,
        },
        headers=op,
    )
    mp = await r.json()
    assert r.status == 201, mp
    assert mp["community_id"] == str(world.west)
    r = await client.get(
        "/v1/meeting-points",
        params={"kind": "mitfahrbank", "community_id": str(world.west), "limit": "200"},
        headers=world["rider_west"].headers,
    )
    assert mp["id"] in {m["id"] for m in (await r.json())["items"]}
    r = await client.post(
        "/v1/requests",
        json=request_body(origin={"meeting_point_id": mp["id"]}),
        headers=world["rider_west"].headers,
    )
    req = await r.json()
    assert r.status == 201, req
    assert req["origin"]["meeting_point_id"] == mp["id"]
    assert req["origin"]["lon"] == WEST_POINT["lon"]
    r = await client.patch(
        f"/v1/meeting-points/{mp['id']}", json={"shelter": True}, headers=world["op_east"].headers
    )
    assert r.status == 403
    r = await client.patch(
        f"/v1/meeting-points/{mp['id']}", json={"position": {"lon": 8.92, "lat": 48.60}}, headers=op
    )
    assert (r.status, (await r.json())["field"]) == (403, "position")
    r = await client.patch(
        f"/v1/meeting-points/{mp['id']}",
        json={"name": "Mitfahrbank am Rathaus", "shelter": True},
        headers=op,
    )
    changed = await r.json()
    assert r.status == 200, changed
    assert (changed["name"], changed["shelter"], changed["bench"]) == (
        "Mitfahrbank am Rathaus",
        True,
        True,
    )
    r = await client.patch(f"/v1/meeting-points/{mp['id']}", json={"kind": "castle"}, headers=op)
    assert (r.status, (await r.json())["field"]) == (422, "kind")
    r = await client.delete(f"/v1/meeting-points/{mp['id']}", headers=world["op_east"].headers)
    assert r.status == 403
    r = await client.delete(f"/v1/meeting-points/{mp['id']}", headers=op)
    assert r.status == 204
    r = await client.get(f"/v1/meeting-points/{mp['id']}", headers=op)
    assert r.status == 404


async def test_lists_refuse_parameters_they_do_not_take(client: ApiClient, world: World) -> None:
    admin = world["admin"].headers
    for path, bad in (
        ("/v1/people", "status=open"),
        ("/v1/people", "bbox=8,48,9,49"),
        ("/v1/communities", "community_id=" + str(world.west)),
        ("/v1/meeting-points", "from=2030-01-01T00:00:00Z"),
    ):
        r = await client.get(f"{path}?{bad}", headers=admin)
        assert r.status == 422, (path, bad)
        assert (await r.json())["field"] == bad.split("=")[0]
