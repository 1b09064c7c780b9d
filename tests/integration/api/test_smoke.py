"""First contact: documents served, authentication required."""

from __future__ import annotations

from support.api_world import ApiClient, World


async def test_openapi_and_docs(client: ApiClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status == 200
    doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    r = await client.get("/docs")
    assert r.status == 200
    text = await r.text()
    assert "/v1/offers" in text
    assert "<script" not in text


async def test_me_needs_a_token(client: ApiClient, world: World) -> None:
    r = await client.get("/v1/me")
    assert r.status == 401
    assert r.content_type == "application/problem+json"
    r = await client.get("/v1/me", headers=world["rider_west"].headers)
    assert r.status == 200
    assert (await r.json())["roles"] == ["rider"]
