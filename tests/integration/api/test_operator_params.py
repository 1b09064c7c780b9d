"""Versioned community parameters over the API: new versions with who/when/why, history,
rollback, optimistic concurrency, bad input and access — a refused change leaves nothing
changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from support.api_world import ApiClient, World

from maas import db
from maas.settings import Settings
from maas.store import params as params_store

AREA = {
    "type": "Polygon",
    "coordinates": [[[9.21, 48.56], [9.26, 48.56], [9.26, 48.6], [9.21, 48.6], [9.21, 48.56]]],
}


@pytest.fixture(scope="module")
async def community(client: ApiClient, world: World) -> str:
    """A community of its own, away from the other tests' communities (created by the admin;
    no operator but the admin)."""
    r = await client.post(
        "/v1/communities",
        json={
            "name": f"Paramdorf {uuid.uuid4().hex[:6]}",
            "area": AREA,
            "settings": {"max_walk_m": 350},
        },
        headers=world["admin"].headers,
    )
    assert r.status == 201, await r.text()
    return str((await r.json())["id"])


async def current(client: ApiClient, world: World, community: str) -> dict[str, Any]:
    r = await client.get(f"/v1/communities/{community}/params", headers=world["admin"].headers)
    assert r.status == 200
    body: dict[str, Any] = await r.json()
    return body


async def test_a_new_community_starts_at_version_one_with_its_settings(
    client: ApiClient, world: World, community: str
) -> None:
    p = await current(client, world, community)
    assert p["version"] == 1
    assert p["params"]["max_walk_m"] == 350
    assert p["params"]["max_detour_min"] == 15
    assert p["changed_by"] is None
    assert {f["name"] for f in p["fields"]} >= {"max_walk_m", "cutoff_min", "fallback_phone"}


async def test_versions_history_and_rollback(
    client: ApiClient, world: World, community: str, api_settings: Settings
) -> None:
    admin = world["admin"]
    before = await current(client, world, community)
    r = await client.patch(
        f"/v1/communities/{community}/params",
        json={
            "params": {"max_detour_min": 20},
            "reason": "more detour in winter",
            "base_version": before["version"],
        },
        headers=admin.headers,
    )
    assert r.status == 200, await r.text()
    changed = await r.json()
    assert changed["version"] == before["version"] + 1
    assert changed["params"]["max_detour_min"] == 20
    assert changed["params"]["max_walk_m"] == before["params"]["max_walk_m"]  # PATCH keeps
    assert changed["changed_by"]["id"] == str(admin.id)
    assert changed["changes"] == [{"field": "max_detour_min", "old": 15, "new": 20}]

    # PUT replaces the whole set: what is missing takes its default
    r = await client.put(
        f"/v1/communities/{community}/params",
        json={"params": {"max_walk_m": 300}, "reason": "complete set"},
        headers=admin.headers,
    )
    assert r.status == 200
    put = await r.json()
    assert put["params"]["max_detour_min"] == 15
    assert put["params"]["max_walk_m"] == 300

    r = await client.get(f"/v1/communities/{community}/params/history", headers=admin.headers)
    history = (await r.json())["items"]
    assert [v["version"] for v in history[:3]] == [
        put["version"],
        changed["version"],
        before["version"],
    ]
    assert history[1]["reason"] == "more detour in winter"
    assert history[1]["changes"] == [{"field": "max_detour_min", "old": 15, "new": 20}]
    assert history[1]["changed_at"]

    r = await client.post(
        f"/v1/communities/{community}/params/rollback",
        json={"version": changed["version"]},
        headers=admin.headers,
    )
    assert r.status == 201
    rolled = await r.json()
    assert rolled["version"] == put["version"] + 1
    assert rolled["restored_version"] == changed["version"]
    assert rolled["params"] == changed["params"]
    assert rolled["reason"] == f"rollback to version {changed['version']}"
    # the matching service reads the current version
    async with db.connection(api_settings) as conn:
        from maas.store import planning

        found = await planning.community_params(conn, uuid.UUID(community))
        stored = await params_store.current(conn, uuid.UUID(community))
    assert found is not None
    assert stored is not None
    assert found.params_version == rolled["version"] == stored.version
    assert found.settings["max_detour_min"] == 20


async def test_a_stale_base_version_is_a_conflict(
    client: ApiClient, world: World, community: str
) -> None:
    p = await current(client, world, community)
    r = await client.patch(
        f"/v1/communities/{community}/params",
        json={"params": {"max_walk_m": 450}, "base_version": p["version"] - 1},
        headers=world["admin"].headers,
    )
    assert r.status == 409
    problem = await r.json()
    assert problem["field"] == "base_version"
    assert (await current(client, world, community))["version"] == p["version"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_detour_min": 500}, "params.max_detour_min"),
        ({"ride_time_factor": 0.8}, "params.ride_time_factor"),
        ({"horizon_h": 0}, "params.horizon_h"),
        ({"horizon_h": 2, "cutoff_min": 300}, "params.cutoff_min"),
        ({"volunteer_quiet_from": "22:00"}, "params.volunteer_quiet_until"),
        ({"fallback_phone": "ring ring"}, "params.fallback_phone"),
        ({"colour": "blue"}, "params.colour"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(
    client: ApiClient, world: World, community: str, params: dict[str, Any], field: str
) -> None:
    before = await current(client, world, community)
    r = await client.patch(
        f"/v1/communities/{community}/params",
        json={"params": params},
        headers=world["admin"].headers,
    )
    assert r.status == 422
    assert r.content_type == "application/problem+json"
    problem = await r.json()
    assert problem["field"] == field, problem
    after = await current(client, world, community)
    assert after["version"] == before["version"]
    assert after["params"] == before["params"]


async def test_rollback_to_a_missing_version_names_it(
    client: ApiClient, world: World, community: str
) -> None:
    r = await client.post(
        f"/v1/communities/{community}/params/rollback",
        json={"version": 999},
        headers=world["admin"].headers,
    )
    assert r.status == 422
    assert (await r.json())["field"] == "version"


async def test_operators_only_for_their_communities(
    client: ApiClient, world: World, community: str
) -> None:
    before = await current(client, world, community)
    body = {"params": {"max_walk_m": 100}, "reason": "not mine"}
    for actor in ("op_east", "op_west", "rider_west"):
        r = await client.patch(
            f"/v1/communities/{community}/params", json=body, headers=world[actor].headers
        )
        assert r.status == 403, actor
        assert r.content_type == "application/problem+json"
        r = await client.get(
            f"/v1/communities/{community}/params/history", headers=world[actor].headers
        )
        assert r.status == 403
        r = await client.post(
            f"/v1/communities/{community}/params/rollback",
            json={"version": 1},
            headers=world[actor].headers,
        )
        assert r.status == 403
    assert await current(client, world, community) == before
    # an operator changes their own community
    r = await client.get(f"/v1/communities/{world.west}/params", headers=world["op_west"].headers)
    assert r.status == 200
    r = await client.patch(
        f"/v1/communities/{world.west}/params",
        json={"params": {"max_walk_m": 450}, "reason": "own community"},
        headers=world["op_west"].headers,
    )
    assert r.status == 200
    assert (await r.json())["changed_by"]["id"] == str(world["op_west"].id)
    r = await client.get(f"/v1/communities/{uuid.uuid4()}/params", headers=world["admin"].headers)
    assert r.status == 404
    r = await client.get(f"/v1/communities/{community}/params")
    assert r.status == 401
