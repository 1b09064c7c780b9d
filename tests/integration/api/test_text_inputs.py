"""Text that PostgreSQL cannot store (a NUL character; text and jsonb refuse it) is refused
at the edge as a 422 naming the field, like any other invalid input, instead of failing in SQL
as a 500. The body schemas forbid it in every free-text field."""

from __future__ import annotations

from typing import Any

import pytest
from support.api_bodies import offer_body, request_body
from support.api_world import WEST_POINT, ApiClient, World

pytestmark = pytest.mark.db

NUL = "Ab\x00c"


def cases(world: World) -> list[tuple[str, str, dict[str, Any], str]]:
    home = str(world.west)
    area = {"type": "Polygon", "coordinates": [[[12, 50], [12.001, 50], [12, 50.001], [12, 50]]]}
    return [
        ("POST", "/v1/people", {"name": NUL, "home_community_id": home}, "name"),
        ("POST", "/v1/people", {"name": "P", "home_community_id": home, "phone": NUL}, "phone"),
        ("POST", f"/v1/people/{world['admin'].id}/tokens", {"label": NUL}, "label"),
        ("PATCH", f"/v1/people/{world['admin'].id}", {"email": NUL}, "email"),
        ("POST", "/v1/meeting-points",
         {"name": NUL, "kind": "other", "position": WEST_POINT}, "name"),
        ("POST", "/v1/communities", {"name": NUL, "area": area}, "name"),
        ("POST", "/v1/communities",
         {"name": "C", "area": area, "settings": {"description": NUL}}, "settings.description"),
        ("POST", "/v1/requests", request_body(note=NUL), "note"),
        ("POST", "/v1/offers", offer_body(note=NUL), "note"),
        ("PATCH", f"/v1/communities/{home}/params",
         {"params": {"fallback_text": NUL}}, "params.fallback_text"),
        ("PATCH", f"/v1/communities/{home}/params", {"params": {}, "reason": NUL}, "reason"),
    ]  # fmt: skip


async def test_a_nul_character_in_text_is_refused_naming_the_field(
    client: ApiClient, world: World
) -> None:
    for method, path, body, field in cases(world):
        r = await client.request(method, path, json=body, headers=world["admin"].headers)
        assert r.status == 422, (path, field, await r.text())
        assert (await r.json())["field"] == field, (path, field)


async def test_a_region_filter_that_is_no_region_name_is_refused(
    client: ApiClient, world: World
) -> None:
    for region in ("a\x00b", "Testland", ""):
        r = await client.get(
            "/v1/communities", params={"region": region}, headers=world["admin"].headers
        )
        assert (r.status, (await r.json())["field"]) == (422, "region"), region
    r = await client.get(
        "/v1/communities", params={"region": world.region}, headers=world["admin"].headers
    )
    assert r.status == 200
    assert {c["name"] for c in (await r.json())["items"]} >= {"Westdorf", "Ostdorf"}
