"""The JSON Schemas, their error messages, and the generated OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from maas import appkeys
from maas.app import api_routes, create_app
from maas.errors import InputError
from maas.http.openapi import build_document, dumps, render_html
from maas.schemas import SCHEMA_DIR, SchemaRegistry
from maas.settings import Settings


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry()


def test_checked_in_openapi_is_current(registry: SchemaRegistry) -> None:
    expected = dumps(build_document(api_routes(), registry))
    assert (SCHEMA_DIR / "openapi.json").read_text() == expected, (
        "schemas/openapi.json is stale; run: python -m maas openapi --write"
    )


def test_every_body_schema_is_strict(registry: SchemaRegistry) -> None:
    assert {
        "offer-create",
        "offer-patch",
        "request-create",
        "person-create",
        "token-create",
    } <= set(registry.schemas)
    for name, schema in registry.schemas.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert schema["additionalProperties"] is False, name


def test_every_body_route_has_a_schema(registry: SchemaRegistry) -> None:
    for route in api_routes():
        if route.method in ("POST", "PATCH") and route.body is not None:
            assert route.body in registry.schemas


def errors_of(registry: SchemaRegistry, name: str, body: Any) -> list[dict[str, str]]:
    with pytest.raises(InputError) as caught:
        registry.validate(name, body)
    errors: list[dict[str, str]] = caught.value.extra["errors"]
    assert caught.value.field == errors[0]["field"]
    return errors


def test_fields_are_named(registry: SchemaRegistry) -> None:
    body = {
        "origin": {"lon": 8.8},
        "destination": {"lon": 8.8, "lat": 48.6},
        "depart_earliest": "2026-12-01T07:00:00",
        "seats": 0,
        "vehicle": {"wings": True},
    }
    fields = {e["field"] for e in errors_of(registry, "offer-create", body)}
    assert {"origin", "depart_earliest", "depart_latest", "seats", "vehicle.wings"} <= fields


@pytest.mark.parametrize(
    "value",
    ["2026-12-01T07:00:00", "2026-12-01", "01.12.2026 07:00", "2026-12-01T25:00:00Z"],
)
def test_times_need_an_offset(registry: SchemaRegistry, value: str) -> None:
    body = {"depart_earliest": value, "depart_latest": "2026-12-01T08:00:00Z"}
    fields = [e["field"] for e in errors_of(registry, "offer-patch", body)]
    assert "depart_earliest" in fields


def test_valid_bodies_pass(registry: SchemaRegistry) -> None:
    registry.validate(
        "request-create",
        {
            "origin": {"meeting_point_id": "9b2f4f59-3f5e-4b8e-a1c7-2f3c7c1e7f11"},
            "destination": {"lon": 8.8, "lat": 48.6},
            "depart_earliest": "2026-12-01T07:00:00+01:00",
            "arrive_latest": "2026-12-01T08:00:00Z",
            "needs": {"wheelchair": True},
        },
    )


def test_docs_page_is_self_contained() -> None:
    doc = build_document(api_routes(), SchemaRegistry())
    page = render_html(doc)
    assert "<script" not in page
    assert "src=" not in page
    assert "<link" not in page
    assert all(
        f">{path}<" in page.replace("<code>", ">").replace("</code>", "<") for path in doc["paths"]
    )
    json.dumps(doc)  # serialisable


NOT_IN_THE_DOCUMENT = {
    "/healthz": "a liveness probe for orchestrators (README), not part of the API",
    "/readyz": "a readiness probe for orchestrators (README), not part of the API",
}


def test_every_route_the_app_serves_is_documented() -> None:
    """Routes added outside the route table (``router.add_get`` somewhere) would be served but
    missing from the document; only the probes and static files are left out on purpose."""
    app = create_app(Settings(database_url="postgresql://nobody@/nowhere"), load_roads=False)
    served = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        if route.method == "HEAD" or isinstance(resource, web.StaticResource):
            continue  # aiohttp's implicit HEAD of a GET; the dashboard's files
        if resource.canonical not in NOT_IN_THE_DOCUMENT:
            served.add((route.method, resource.canonical))
    document = app[appkeys.OPENAPI]
    documented = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}
    assert served - documented == set(), "served but not in the OpenAPI document"
    assert documented - served == set(), "in the OpenAPI document but not served"
    assert {
        ("GET", "/v1/me/events"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{id}"),
        ("DELETE", "/v1/webhooks/{id}"),
        ("GET", "/v1/webhook-deliveries"),
        ("POST", "/v1/webhook-deliveries/{id}/replay"),
        ("GET", "/v1/regions/{name}/roads.geojson"),
        ("GET", "/v1/communities.geojson"),
    } <= documented


NO_LOCATION = {
    ("POST", "/v1/communities/{id}/params/rollback"): "a parameter version has no URL of its own",
    ("POST", "/v1/webhook-deliveries/{id}/replay"): "202 for the delivery in the path",
}


def test_created_and_accepted_answers_document_their_location() -> None:
    doc = build_document(api_routes(), SchemaRegistry())
    for route in api_routes():
        if route.ok not in ("201", "202") or (route.method, route.path) in NO_LOCATION:
            continue
        assert route.location is not None, f"{route.method} {route.path} gives no Location"
        header = doc["paths"][route.path][route.method.lower()]["responses"][route.ok]["headers"]
        assert header["Location"]["required"] is True
        # The Location is a documented URL of the API that one can read or delete.
        target = doc["paths"][route.location]
        assert {"get", "delete"} & set(target), route.location


def test_the_event_stream_documents_its_events() -> None:
    doc = build_document(api_routes(), SchemaRegistry())
    stream = doc["paths"]["/v1/me/events"]["get"]
    media = stream["responses"]["200"]["content"]["text/event-stream"]
    data = media["x-itemSchema"]["properties"]["data"]
    assert data["contentSchema"] == {"$ref": "#/components/schemas/Event"}
    assert {p["name"] for p in stream["parameters"]} == {"Last-Event-ID", "last_event_id"}
    # the webhook deliveries carry the same Event, signed
    hook = doc["webhooks"]["event"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"] == data["contentSchema"]
    assert "Maas-Signature" in {p["name"] for p in hook["parameters"]}
    page = render_html(doc)
    assert "each event&#x27;s data: Event" in page
    assert "request.no_driver_found" in page


def test_only_retry_safe_operations_document_an_idempotency_key() -> None:
    doc = build_document(api_routes(), SchemaRegistry())
    for route in api_routes():
        names = {
            p["name"] for p in doc["paths"][route.path][route.method.lower()].get("parameters", [])
        }
        assert ("Idempotency-Key" in names) == route.idempotent, (route.method, route.path)
