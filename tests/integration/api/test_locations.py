"""A 201 that created a resource with a URL of its own says where it is (``Location``), the
same on an idempotent replay; a 202 says where to poll. The URL is the one the OpenAPI
document gives, and it names the created resource."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from support.api_bodies import offer_body, request_body
from support.api_world import WEST_POINT, ApiClient, World

from maas.app import api_routes

pytestmark = pytest.mark.db

FAR_AWAY_AREA = {
    "type": "Polygon",
    "coordinates": [[[12.0, 50.0], [12.001, 50.0], [12.001, 50.001], [12.0, 50.001], [12.0, 50.0]]],
}


def documented_location(method: str, path: str) -> str:
    [route] = [r for r in api_routes() if (r.method, r.path) == (method, path)]
    assert route.location is not None, f"{method} {path} documents no Location"
    return route.location


async def created(
    client: ApiClient,
    route: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    path: str | None = None,
) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
    """POST twice with one Idempotency-Key (to ``route``, or ``path`` when the route has
    parameters): both answers carry the documented Location."""
    path = path or route
    keyed = {**headers, "Idempotency-Key": f"location-test-{uuid.uuid4()}"}
    first = await client.post(path, json=body, headers=keyed)
    assert first.status == 201, await first.text()
    answer = await first.json()
    expected = documented_location("POST", route).format(id=answer["id"])
    assert first.headers["Location"] == expected
    again = await client.post(path, json=body, headers=keyed)
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (201, "true")
    assert again.headers["Location"] == expected
    return first, answer


async def test_created_communities_meeting_points_and_people_are_at_their_location(
    client: ApiClient, world: World
) -> None:
    admin = world["admin"].headers
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/v1/communities", {"name": "Fernhausen", "area": FAR_AWAY_AREA}),
        ("/v1/meeting-points", {"name": "Bank am Teich", "kind": "mitfahrbank",
                                "position": WEST_POINT}),
        ("/v1/people", {"name": "Lena Location", "home_community_id": str(world.west),
                        "roles": ["rider"]}),
    ]  # fmt: skip
    for path, body in cases:
        response, answer = await created(client, path, body, admin)
        r = await client.get(response.headers["Location"], headers=admin)
        assert r.status == 200, (path, await r.text())
        assert (await r.json())["id"] == answer["id"]
        assert (await r.json())["name"] == body["name"]
        if path == "/v1/meeting-points":  # leave the west community's places as they were
            r = await client.delete(response.headers["Location"], headers=admin)
            assert r.status == 204


async def test_a_created_token_is_revoked_at_its_location(client: ApiClient, world: World) -> None:
    rider = world["rider_west"]
    response, answer = await created(
        client,
        "/v1/people/{id}/tokens",
        {"label": "location"},
        rider.headers,
        path=f"/v1/people/{rider.id}/tokens",
    )
    assert response.headers["Location"] == f"/v1/tokens/{answer['id']}"
    token = {"Authorization": f"Bearer {answer['secret']}"}
    assert (await client.get("/v1/me", headers=token)).status == 200
    r = await client.delete(response.headers["Location"], headers=rider.headers)
    assert r.status == 204
    assert (await client.get("/v1/me", headers=token)).status == 401


async def test_a_refused_creation_has_no_location(client: ApiClient, world: World) -> None:
    r = await client.post(
        "/v1/communities",
        json={"name": "Fernhausen", "area": FAR_AWAY_AREA},
        headers=world["op_west"].headers,
    )
    assert r.status == 403
    assert "Location" not in r.headers


async def test_a_webhook_subscription_is_read_and_removed_at_its_location(
    client: ApiClient, world: World
) -> None:
    op = world["op_west"].headers
    body = {
        "url": "http://127.0.0.1:9/location",
        "secret": "location-secret-0123",
        "community_id": str(world.west),
    }
    response, answer = await created(client, "/v1/webhooks", body, op)
    assert response.headers["Location"] == f"/v1/webhooks/{answer['id']}"
    r = await client.get(response.headers["Location"], headers=op)
    assert (r.status, await r.json()) == (200, answer)
    assert (await client.delete(response.headers["Location"], headers=op)).status == 204
    assert (await client.get(response.headers["Location"], headers=op)).status == 404


async def test_created_offers_and_requests_are_at_their_location(
    client: ApiClient, world: World
) -> None:
    for actor, path, body in (
        ("driver_west", "/v1/offers", offer_body()),
        ("rider_west", "/v1/requests", request_body()),
    ):
        headers = world[actor].headers
        response, answer = await created(client, path, body, headers)
        r = await client.get(response.headers["Location"], headers=headers)
        assert r.status == 200, (path, await r.text())
        assert (await r.json())["id"] == answer["id"]
