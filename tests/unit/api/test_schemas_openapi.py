"""The JSON Schemas, their error messages, and the generated OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from maas.app import api_routes
from maas.errors import InputError
from maas.http.openapi import build_document, dumps, render_html
from maas.schemas import SCHEMA_DIR, SchemaRegistry


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
