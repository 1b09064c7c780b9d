"""Offers and requests over HTTP: creation, validation, editing, cancelling, listing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from support.api_bodies import at, day_at, offer_body, request_body
from support.api_world import FAR_FROM_ROAD, OUTSIDE, ApiClient, World


async def post(client: ApiClient, path: str, who: Any, body: Any, **headers: str) -> Any:
    r = await client.post(path, json=body, headers={**who.headers, **headers})
    return r.status, await r.json()


async def test_driver_offers_a_one_off_ride(client: ApiClient, world: World) -> None:
    status, offer = await post(client, "/v1/offers", world["driver_west"], offer_body())
    assert status == 201, offer
    assert offer["community_id"] == str(world.west)
    assert offer["person_id"] == str(world["driver_west"].id)
    assert offer["max_detour_min"] == 15
    assert offer["max_detour_pct"] == 50
    assert offer["depart_earliest"].endswith("Z")
    assert offer["status"] == "open"
    r = await client.get(f"/v1/offers/{offer['id']}", headers=world["driver_west"].headers)
    assert r.status == 200
    assert (await r.json())["seats"] == 3


async def test_weekly_offer_lists_its_next_occurrences(client: ApiClient, world: World) -> None:
    body = offer_body()
    del body["depart_earliest"], body["depart_latest"]
    body["recurrence"] = {
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "depart_earliest": "07:30",
        "depart_latest": "07:45",
        "valid_from": day_at(0),
    }
    status, offer = await post(client, "/v1/offers", world["driver_west"], body)
    assert status == 201, offer
    assert offer["recurrence"]["time_zone"] == "Europe/Berlin"
    assert 13 <= len(offer["next_occurrences"]) <= 15
    # 07:30 in Berlin is 05:30 or 06:30 UTC, depending on the season.
    assert offer["next_occurrences"][0]["depart_earliest"][11:16] in ("05:30", "06:30")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seats": 0}, "seats"),
        ({"seats": 9}, "seats"),
        ({"seats": "3"}, "seats"),
        ({"colour": "red"}, "colour"),
        ({"depart_earliest": at(-5), "depart_latest": at(-4)}, "depart_earliest"),
        ({"depart_earliest": at(30), "depart_latest": at(29)}, "depart_latest"),
        ({"depart_earliest": "2026-13-01T07:00:00+01:00"}, "depart_earliest"),
        ({"depart_earliest": "2030-01-01T07:00:00", "depart_latest": at(3)}, "depart_earliest"),
        ({"origin": OUTSIDE}, "origin"),
        ({"origin": FAR_FROM_ROAD}, "origin"),
        ({"destination": {"meeting_point_id": str(uuid.uuid4())}}, "destination.meeting_point_id"),
        ({"origin": {"lon": 8.83}}, "origin"),
        ({"max_detour_min": -1}, "max_detour_min"),
        ({"vehicle": {"wheelchair": "yes"}}, "vehicle.wheelchair"),
    ],
)
async def test_bad_offers_name_the_field_and_store_nothing(
    client: ApiClient, world: World, change: dict[str, Any], field: str
) -> None:
    body = offer_body(note=f"bad-{uuid.uuid4()}", **change)
    status, problem = await post(client, "/v1/offers", world["driver_west"], body)
    assert status == 422, problem
    assert problem["field"] == field
    assert any(e["field"] == field for e in problem["errors"])
    r = await client.get("/v1/offers?limit=200", headers=world["driver_west"].headers)
    assert body["note"] not in {o["note"] for o in (await r.json())["items"]}


async def test_several_schema_errors_are_all_reported(client: ApiClient, world: World) -> None:
    status, problem = await post(
        client, "/v1/offers", world["driver_west"], offer_body(seats=0, max_detour_pct="x", x=1)
    )
    assert status == 422
    assert {e["field"] for e in problem["errors"]} == {"seats", "max_detour_pct", "x"}


async def test_malformed_bodies(client: ApiClient, world: World) -> None:
    headers = world["driver_west"].headers
    r = await client.post(
        "/v1/offers", data=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    r = await client.post(
        "/v1/offers", data=b"seats=3", headers={**headers, "Content-Type": "text/plain"}
    )
    assert r.status == 415
    r = await client.post(
        "/v1/offers",
        data=b'{"note": "' + b"x" * 70_000 + b'"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status == 413
    assert r.content_type == "application/problem+json"
    r = await client.post("/v1/offers", json=[1, 2], headers=headers)
    assert r.status == 422
    r = await client.post(
        "/v1/offers",
        data=b"[" * 30_000 + b"]" * 30_000,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status == 400
    r = await client.post(
        "/v1/offers", data=b"null", headers={**headers, "Content-Type": "application/json"}
    )
    assert (r.status, (await r.json())["field"]) == (422, "body")


async def test_rider_cannot_offer_and_driver_cannot_request(
    client: ApiClient, world: World
) -> None:
    status, _ = await post(client, "/v1/offers", world["rider_west"], offer_body())
    assert status == 403
    status, _ = await post(client, "/v1/requests", world["driver_west"], request_body())
    assert status == 403


async def test_patch_and_cancel_an_offer(client: ApiClient, world: World) -> None:
    driver = world["driver_west"]
    _, offer = await post(client, "/v1/offers", driver, offer_body())
    r = await client.patch(
        f"/v1/offers/{offer['id']}",
        json={"seats": 2, "vehicle": {"luggage": True}, "max_detour_min": 5},
        headers=driver.headers,
    )
    changed = await r.json()
    assert r.status == 200, changed
    assert (changed["seats"], changed["max_detour_min"]) == (2, 5)
    assert changed["vehicle"] == {"wheelchair": False, "child_seat": False, "luggage": True}
    assert changed["depart_earliest"] == offer["depart_earliest"]
    r = await client.patch(f"/v1/offers/{offer['id']}", json={"seats": 0}, headers=driver.headers)
    assert r.status == 422
    r = await client.post(f"/v1/offers/{offer['id']}/cancel", headers=driver.headers)
    assert r.status == 200
    assert (await r.json())["status"] == "cancelled"
    r = await client.patch(f"/v1/offers/{offer['id']}", json={"seats": 1}, headers=driver.headers)
    assert r.status == 409


async def test_request_lifecycle(client: ApiClient, world: World) -> None:
    rider = world["rider_west"]
    status, req = await post(
        client,
        "/v1/requests",
        rider,
        request_body(needs={"wheelchair": True}, note="blue door"),
    )
    assert status == 201, req
    assert req["max_walk_m"] == 500
    assert req["needs"]["wheelchair"] is True
    r = await client.post(f"/v1/requests/{req['id']}/cancel", headers=rider.headers)
    assert (await r.json())["status"] == "cancelled"
    status, problem = await post(client, "/v1/requests", rider, request_body(arrive_latest=at(23)))
    assert (status, problem["field"]) == (422, "arrive_latest")
    status, problem = await post(client, "/v1/requests", rider, request_body(passengers=0))
    assert (status, problem["field"]) == (422, "passengers")


async def test_operator_books_for_a_rider_of_their_community(
    client: ApiClient, world: World
) -> None:
    body = request_body(person_id=str(world["rider_west"].id))
    status, req = await post(client, "/v1/requests", world["op_west"], body)
    assert status == 201, req
    assert req["person_id"] == str(world["rider_west"].id)
    status, _ = await post(client, "/v1/requests", world["op_east"], body)
    assert status == 403


async def test_idempotent_post_creates_once(client: ApiClient, world: World) -> None:
    driver = world["driver_east"]
    key = str(uuid.uuid4())
    body = offer_body(east=True, note=key)
    first = await post(client, "/v1/offers", driver, body, **{"Idempotency-Key": key})
    again = await post(client, "/v1/offers", driver, body, **{"Idempotency-Key": key})
    assert first == again
    assert first[0] == 201
    other = await post(
        client, "/v1/offers", driver, {**body, "seats": 1}, **{"Idempotency-Key": key}
    )
    assert other[0] == 409
    r = await client.get("/v1/offers?limit=200", headers=driver.headers)
    assert [o["note"] for o in (await r.json())["items"]].count(key) == 1


async def test_concurrent_identical_posts_create_once(client: ApiClient, world: World) -> None:
    rider = world["rider_east"]
    key = str(uuid.uuid4())
    body = request_body(east=True, note=key)
    results = await asyncio.gather(
        *(post(client, "/v1/requests", rider, body, **{"Idempotency-Key": key}) for _ in range(4))
    )
    assert {status for status, _ in results} == {201}
    assert len({answer["id"] for _, answer in results}) == 1
    r = await client.get("/v1/requests?limit=200", headers=rider.headers)
    assert [q["note"] for q in (await r.json())["items"]].count(key) == 1


async def test_pagination_and_filters(client: ApiClient, world: World) -> None:
    driver = world["both_west"]
    made = []
    for i in range(5):
        status, offer = await post(client, "/v1/offers", driver, offer_body(seats=i + 1))
        assert status == 201
        made.append(offer["id"])
    seen: list[str] = []
    url = "/v1/offers?limit=2"
    while url:
        r = await client.get(url, headers=driver.headers)
        page = await r.json()
        assert len(page["items"]) <= 2
        seen += [o["id"] for o in page["items"]]
        url = f"/v1/offers?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    # Other tests may have added offers of this driver; ours come in creation order, once.
    assert len(seen) == len(set(seen))
    assert [o for o in seen if o in made] == made
    r = await client.get("/v1/offers?bbox=8.82,48.58,8.84,48.595&limit=200", headers=driver.headers)
    assert set(made) <= {o["id"] for o in (await r.json())["items"]}
    r = await client.get("/v1/offers?bbox=8.90,48.58,8.95,48.65&limit=200", headers=driver.headers)
    assert not set(made) & {o["id"] for o in (await r.json())["items"]}
    r = await client.get(
        "/v1/offers", params={"from": at(100), "limit": "200"}, headers=driver.headers
    )
    assert not set(made) & {o["id"] for o in (await r.json())["items"]}
    r = await client.get(
        "/v1/offers",
        params={"from": at(1), "to": at(48), "status": "open", "limit": "200"},
        headers=driver.headers,
    )
    assert set(made) <= {o["id"] for o in (await r.json())["items"]}
    for bad in ("bbox=1,2,3", "limit=0", "cursor=zzz", "status=gone", "from=yesterday", "x=1"):
        r = await client.get(f"/v1/offers?{bad}", headers=driver.headers)
        assert r.status == 422, bad
        assert (await r.json())["field"] == bad.split("=")[0]


async def test_concurrent_edits_of_different_fields_both_land(
    client: ApiClient, world: World
) -> None:
    driver = world["driver_west"]
    _, offer = await post(client, "/v1/offers", driver, offer_body())
    path = f"/v1/offers/{offer['id']}"
    changes = [{"seats": 5}, {"max_detour_min": 7}, {"vehicle": {"luggage": True}}, {"note": "x"}]
    answers = await asyncio.gather(
        *(client.patch(path, json=change, headers=driver.headers) for change in changes)
    )
    assert [a.status for a in answers] == [200] * len(changes)
    final = await (await client.get(path, headers=driver.headers)).json()
    assert (
        final["seats"],
        final["max_detour_min"],
        final["vehicle"]["luggage"],
        final["note"],
    ) == (
        5,
        7,
        True,
        "x",
    )
