"""Real answers match the response schemas the OpenAPI document publishes."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from support.api_bodies import day_at, offer_body, request_body
from support.api_world import ApiClient, World

from maas.app import api_routes
from maas.http.openapi import build_document
from maas.schemas import SchemaRegistry, format_checker


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    return build_document(api_routes(), SchemaRegistry())["components"]  # type: ignore[no-any-return]


def check(components: dict[str, Any], name: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    errors = list(
        Draft202012Validator(schema, format_checker=format_checker()).iter_errors(instance)
    )
    assert not errors, [e.message for e in errors]


async def test_answers_follow_the_schemas(
    client: ApiClient, world: World, components: dict[str, Any]
) -> None:
    driver, rider = world["both_west"].headers, world["rider_west"].headers
    weekly = offer_body()
    del weekly["depart_earliest"], weekly["depart_latest"]
    weekly["recurrence"] = {
        "weekdays": [1, 3, 5],
        "depart_earliest": "07:30",
        "depart_latest": "08:00",
        "valid_from": day_at(0),
        "exception_dates": [day_at(72)],
    }
    for body in (offer_body(), weekly):
        r = await client.post("/v1/offers", json=body, headers=driver)
        check(components, "Offer", await r.json())
    r = await client.post("/v1/requests", json=request_body(), headers=rider)
    check(components, "Request", await r.json())
    pages = {
        "/v1/offers": "OfferPage",
        "/v1/requests": "RequestPage",
        "/v1/matches": "MatchPage",
        "/v1/communities": "CommunityPage",
        "/v1/meeting-points": "MeetingPointPage",
        "/v1/people": "PersonPage",
        f"/v1/people/{world['admin'].id}/tokens": "TokenPage",
    }
    for path, name in pages.items():
        r = await client.get(path, params={"limit": "200"}, headers=world["admin"].headers)
        page = await r.json()
        check(components, name, page)
    r = await client.get("/v1/me/export", headers=driver)
    check(components, "Export", await r.json())
    r = await client.post(f"/v1/people/{world['both_west'].id}/tokens", json={}, headers=driver)
    check(components, "Token", await r.json())


async def test_map_geojson_follows_the_schemas(
    client: ApiClient, world: World, components: dict[str, Any]
) -> None:
    rider = world["rider_west"].headers
    for detail in ("major", "all"):
        r = await client.get(
            f"/v1/regions/{world.region}/roads.geojson", params={"detail": detail}, headers=rider
        )
        assert r.content_type == "application/geo+json"
        check(components, "RoadsGeojson", await r.json())
    r = await client.get("/v1/communities.geojson", headers=rider)
    assert r.content_type == "application/geo+json"
    villages = await r.json()
    check(components, "CommunitiesGeojson", villages)
    assert {f["properties"]["name"] for f in villages["features"]} >= {"Westdorf", "Ostdorf"}


async def test_map_geojson_refusals(client: ApiClient, world: World) -> None:
    rider = world["rider_west"].headers
    for name in ("Testland", "a%00b", "-x", "atlantis"):  # not a region name, or none imported
        r = await client.get(f"/v1/regions/{name}/roads.geojson", headers=rider)
        assert (r.status, r.content_type) == (404, "application/problem+json"), name
    url = f"/v1/regions/{world.region}/roads.geojson"
    for params, field in (({"detail": "some"}, "detail"), ({"zoom": "3"}, "zoom")):
        r = await client.get(url, params=params, headers=rider)
        assert (r.status, (await r.json())["field"]) == (422, field)
    r = await client.get("/v1/communities.geojson", params={"zoom": "3"}, headers=rider)
    assert (r.status, (await r.json())["field"]) == (422, "zoom")
    assert (await client.get(url)).status == 401
    assert (await client.get("/v1/communities.geojson")).status == 401


async def test_map_layers_follow_the_schema(
    client: ApiClient, world: World, components: dict[str, Any]
) -> None:
    driver, rider = world["both_west"].headers, world["rider_west"].headers
    weekly = offer_body()
    del weekly["depart_earliest"], weekly["depart_latest"]
    weekly["recurrence"] = {
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "depart_earliest": "07:30",
        "depart_latest": "08:00",
        "valid_from": day_at(0),
    }
    for body in (offer_body(), weekly):
        assert (await client.post("/v1/offers", json=body, headers=driver)).status == 201
    assert (await client.post("/v1/requests", json=request_body(), headers=rider)).status == 201
    r = await client.get(
        f"/v1/communities/{world.west}/map",
        params={"from": day_at(0), "to": day_at(48)},
        headers=world["op_west"].headers,
    )
    assert r.status == 200, await r.text()
    layers = await r.json()
    check(components, "MapLayers", layers)
    assert layers["offers"]["features"]
    assert layers["requests"]["features"]
    assert {f["properties"]["weekly"] for f in layers["offers"]["features"]} == {True, False}
    assert layers["unmet"]["features"]
    assert layers["unmet_grid"]["features"]
