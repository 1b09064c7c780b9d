"""Webhook subscriptions over HTTP: list, get and unsubscribe, each within the caller's reach;
a removed subscription is sent nothing more, its pending deliveries are dropped, and its dead
letters stay listed but cannot be replayed. No answer shows any part of a secret."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.api_world import Actor, ApiClient, World
from support.webhook_receiver import TIMEOUT_S, Receiver

from maas import appkeys, db
from maas.app import create_app
from maas.http.events import KEEP_PREVIOUS_SECRET_H
from maas.notify import EventHub
from maas.schemas import SCHEMA_DIR
from maas.settings import Settings
from maas.store import events, people

pytestmark = pytest.mark.db

DISCARD_URL = "http://127.0.0.1:9/hook"


def new_secret() -> str:
    """A secret no other test uses, so that finding it in an answer means that the answer
    leaked it; its last four characters cannot occur in an id, a time or a test's URL."""
    return f"whsec-{uuid.uuid4().hex}~Zq^"


@pytest.fixture
async def conn(api_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with db.connection(api_settings) as connection:
        yield connection


@pytest.fixture
async def someone(conn: asyncpg.Connection, world: World) -> Actor:
    """A fresh person of the west community: no other test's events or subscriptions are
    theirs."""
    person = await people.create_person(
        conn, name="Wanda Webhook", home_community_id=world.west, is_rider=True
    )
    expires = datetime.now(UTC) + timedelta(days=1)
    _, secret = await people.create_token(conn, person.id, label="test", expires_at=expires)
    return Actor(person.id, secret, "wanda")


async def subscribe(
    client: ApiClient, who: Actor, *, secret: str | None = None, **target: uuid.UUID
) -> dict[str, Any]:
    """``POST /v1/webhooks`` to ``community_id`` or ``person_id``; the created subscription."""
    body = {"url": DISCARD_URL, "secret": secret or new_secret()}
    body |= {name: str(value) for name, value in target.items()}
    r = await client.post("/v1/webhooks", json=body, headers=who.headers)
    assert r.status == 201, await r.text()
    created: dict[str, Any] = await r.json()
    return created


async def listed_ids(client: ApiClient, who: Actor, **params: str) -> list[str]:
    """Every subscription id of the list (all pages) the caller sees with these filters."""
    ids: list[str] = []
    query = {**params, "limit": "200"}
    while True:
        r = await client.get("/v1/webhooks", params=query, headers=who.headers)
        assert r.status == 200, await r.text()
        page = await r.json()
        ids += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return ids
        query["cursor"] = page["next_cursor"]


async def test_an_operator_lists_gets_and_removes_their_communitys_subscription(
    client: ApiClient, world: World
) -> None:
    op = world["op_west"]
    secret = new_secret()
    hook = await subscribe(client, op, secret=secret, community_id=world.west)
    where = f"/v1/webhooks/{hook['id']}"

    r = await client.get(where, headers=op.headers)
    assert r.status == 200
    assert await r.json() == hook
    assert hook["active"] is True
    listed = await listed_ids(client, op, community_id=str(world.west))
    assert hook["id"] in listed
    assert hook["id"] in await listed_ids(client, op)  # unfiltered: every community of theirs
    assert hook["id"] in await listed_ids(client, world["admin"])
    for r in (
        await client.get(where, headers=op.headers),
        await client.get("/v1/webhooks", headers=op.headers),
        await client.get("/v1/webhooks", headers=world["admin"].headers),
    ):
        text = await r.text()
        assert secret not in text
        assert secret[-4:] not in text  # not even the tail

    r = await client.delete(where, headers=op.headers)
    assert r.status == 204
    r = await client.get(where, headers=op.headers)
    assert r.status == 404
    assert r.content_type == "application/problem+json"
    assert (await client.delete(where, headers=op.headers)).status == 404  # already removed
    assert hook["id"] not in await listed_ids(client, op, community_id=str(world.west))
    assert hook["id"] not in await listed_ids(client, world["admin"])


async def test_another_communitys_operator_neither_sees_nor_removes_a_subscription(
    client: ApiClient, world: World
) -> None:
    hook = await subscribe(client, world["op_west"], community_id=world.west)
    where = f"/v1/webhooks/{hook['id']}"
    east = world["op_east"]
    # Not found, exactly like an id that names nothing: its existence is not given away.
    for r in (
        await client.get(where, headers=east.headers),
        await client.delete(where, headers=east.headers),
        await client.get(f"/v1/webhooks/{uuid.uuid4()}", headers=east.headers),
    ):
        assert r.status == 404
        assert (await r.json())["title"] == "Not found"
    assert hook["id"] not in await listed_ids(client, east)
    # Asking for the other community's list gives an empty list, not its subscriptions.
    assert await listed_ids(client, east, community_id=str(world.west)) == []
    r = await client.get(where, headers=world["op_west"].headers)
    assert r.status == 200  # the refused DELETE removed nothing
    assert (await client.delete(where, headers=world["op_west"].headers)).status == 204


async def test_riders_and_drivers_are_refused(client: ApiClient, world: World) -> None:
    hook = await subscribe(client, world["op_west"], community_id=world.west)
    where = f"/v1/webhooks/{hook['id']}"
    for name in ("rider_west", "driver_west"):
        headers = world[name].headers
        for r in (
            await client.get("/v1/webhooks", headers=headers),
            await client.get(where, headers=headers),
            await client.delete(where, headers=headers),
        ):
            assert r.status == 403, name
            assert r.content_type == "application/problem+json"
    for r in (
        await client.get("/v1/webhooks"),
        await client.get(where),
        await client.delete(where),
    ):
        assert r.status == 401
    assert (await client.get(where, headers=world["op_west"].headers)).status == 200
    assert (await client.delete(where, headers=world["admin"].headers)).status == 204


async def test_a_persons_subscription_is_for_admins_only(
    client: ApiClient, world: World, someone: Actor
) -> None:
    admin, op = world["admin"], world["op_west"]
    hook = await subscribe(client, admin, person_id=someone.id)
    where = f"/v1/webhooks/{hook['id']}"
    # The operator of the person's home community does not see it: only admins subscribe to
    # one person's events, so only they see and remove such subscriptions.
    assert (await client.get(where, headers=op.headers)).status == 404
    assert (await client.delete(where, headers=op.headers)).status == 404
    assert await listed_ids(client, op, person_id=str(someone.id)) == []
    assert await listed_ids(client, admin, person_id=str(someone.id)) == [hook["id"]]
    r = await client.get(where, headers=admin.headers)
    assert (r.status, (await r.json())["person_id"]) == (200, str(someone.id))
    assert (await client.delete(where, headers=admin.headers)).status == 204
    assert await listed_ids(client, admin, person_id=str(someone.id)) == []


async def test_the_list_pages_with_cursors_in_creation_order(
    client: ApiClient, world: World, someone: Actor
) -> None:
    admin = world["admin"]
    made = [(await subscribe(client, admin, person_id=someone.id))["id"] for _ in range(5)]
    pages: list[list[str]] = []
    query = {"person_id": str(someone.id), "limit": "2"}
    while True:
        r = await client.get("/v1/webhooks", params=query, headers=admin.headers)
        assert r.status == 200, await r.text()
        page = await r.json()
        pages.append([item["id"] for item in page["items"]])
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == made
    # A removed subscription drops out of the pages.
    assert (await client.delete(f"/v1/webhooks/{made[1]}", headers=admin.headers)).status == 204
    assert await listed_ids(client, admin, person_id=str(someone.id)) == made[:1] + made[2:]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"community_id": "west"}, "community_id"),
        ({"person_id": "42"}, "person_id"),
        ({"status": "dead"}, "status"),  # a parameter of the delivery list, not of this one
    ],
)
async def test_a_bad_list_parameter_names_its_field(
    client: ApiClient, world: World, params: dict[str, str], field: str
) -> None:
    r = await client.get("/v1/webhooks", params=params, headers=world["admin"].headers)
    assert r.status == 422, await r.text()
    assert r.content_type == "application/problem+json"
    assert (await r.json())["field"] == field


async def test_a_malformed_id_is_not_found(client: ApiClient, world: World) -> None:
    admin = world["admin"].headers
    for bad in ("x", "123", "%00"):
        assert (await client.get(f"/v1/webhooks/{bad}", headers=admin)).status == 404
        assert (await client.delete(f"/v1/webhooks/{bad}", headers=admin)).status == 404


async def _deliveries(conn: asyncpg.Connection, hook_id: str) -> dict[int, str]:
    """The subscription's deliveries: event id -> status."""
    rows = await conn.fetch(
        "SELECT event_id, status::text AS status FROM webhook_delivery WHERE webhook_id = $1",
        uuid.UUID(hook_id),
    )
    return {r["event_id"]: r["status"] for r in rows}


async def _record(conn: asyncpg.Connection, who: Actor, kind: str) -> int:
    await events.record(conn, who.id, kind, {})
    latest: int = await conn.fetchval("SELECT max(id) FROM event WHERE person_id = $1", who.id)
    return latest


async def test_removing_drops_pending_deliveries_and_keeps_dead_letters_unreplayable(
    client: ApiClient, world: World, conn: asyncpg.Connection, someone: Actor
) -> None:
    """With no webhook sender running (the ``client`` app has none), deliveries stay as the
    outbox wrote them, so what the removal does to each is seen exactly."""
    admin = world["admin"]
    secret = new_secret()
    hook = await subscribe(client, admin, secret=secret, person_id=someone.id)
    queued = await _record(conn, someone, "test.queued")
    failed = await _record(conn, someone, "test.failed")
    sent = await _record(conn, someone, "test.sent")
    assert await _deliveries(conn, hook["id"]) == {
        queued: "pending",
        failed: "pending",
        sent: "pending",
    }
    await conn.execute(
        "UPDATE webhook_delivery SET status = 'dead', attempts = 8 WHERE event_id = $1", failed
    )
    await conn.execute(
        "UPDATE webhook_delivery SET status = 'delivered', delivered_at = now()"
        " WHERE event_id = $1",
        sent,
    )
    dead_id = await conn.fetchval("SELECT id FROM webhook_delivery WHERE event_id = $1", failed)

    assert (await client.delete(f"/v1/webhooks/{hook['id']}", headers=admin.headers)).status == 204
    assert await _deliveries(conn, hook["id"]) == {failed: "dead", sent: "delivered"}
    later = await _record(conn, someone, "test.after_removal")
    assert later not in await _deliveries(conn, hook["id"])  # nothing new is queued

    r = await client.get(
        "/v1/webhook-deliveries", params={"status": "dead", "limit": "200"}, headers=admin.headers
    )
    [letter] = [d for d in (await r.json())["items"] if d["id"] == dead_id]
    assert (letter["webhook_id"], letter["webhook_active"]) == (hook["id"], False)
    r = await client.post(f"/v1/webhook-deliveries/{dead_id}/replay", headers=admin.headers)
    assert r.status == 409
    assert "removed" in (await r.json())["detail"]
    assert await _deliveries(conn, hook["id"]) == {failed: "dead", sent: "delivered"}
    # The secret is not kept once nothing is signed with it.
    kept = await conn.fetchval("SELECT secret FROM webhook WHERE id = $1", uuid.UUID(hook["id"]))
    assert kept != secret


async def test_the_sender_skips_a_delivery_queued_for_a_removed_subscription(
    client: ApiClient, world: World, api_conn: asyncpg.Connection, someone: Actor
) -> None:
    """An event written while a subscription is being removed can still queue a delivery for
    it (the trigger saw it active); the sender never claims that delivery. Run in a
    transaction that is rolled back, so no other test's sender sees the row."""
    hook = await subscribe(client, world["admin"], person_id=someone.id)
    assert (
        await client.delete(f"/v1/webhooks/{hook['id']}", headers=world["admin"].headers)
    ).status == 204
    event_id = await _record(api_conn, someone, "test.raced")
    straggler = await api_conn.fetchval(
        "INSERT INTO webhook_delivery (webhook_id, event_id) VALUES ($1, $2) RETURNING id",
        uuid.UUID(hook["id"]),
        event_id,
    )
    claimed = await events.claim_due(api_conn, limit=10_000, lease_s=60)
    assert straggler not in {d.id for d in claimed}


@pytest.fixture
async def sending(api_settings: Settings, world: World) -> AsyncIterator[ApiClient]:
    """The app with the webhook sender on (for one test: while it runs it would also post the
    other tests' deliveries)."""
    fast = dataclasses.replace(
        api_settings, webhook_interval_s=0.2, webhook_timeout_s=1.0, webhook_backoff_s=0.05
    )
    async with TestClient(TestServer(create_app(fast, load_roads=False))) as client:
        hub = client.app[appkeys.EVENT_HUB]
        assert isinstance(hub, EventHub)
        await asyncio.wait_for(hub.connected.wait(), TIMEOUT_S)
        yield client


async def test_a_removed_subscription_is_sent_nothing_more(
    sending: ApiClient, world: World, conn: asyncpg.Connection, someone: Actor
) -> None:
    admin = world["admin"]
    async with Receiver() as removed, Receiver() as kept:
        hooks = []
        for receiver in (removed, kept):
            body = {"url": receiver.url, "secret": new_secret(), "person_id": str(someone.id)}
            r = await sending.post("/v1/webhooks", json=body, headers=admin.headers)
            assert r.status == 201, await r.text()
            hooks.append((await r.json())["id"])
        await _record(conn, someone, "test.before_removal")
        await removed.event_with_kind("test.before_removal")
        await kept.event_with_kind("test.before_removal")

        r = await sending.delete(f"/v1/webhooks/{hooks[0]}", headers=admin.headers)
        assert r.status == 204
        await _record(conn, someone, "test.after_removal")
        # The kept subscription gets the event; by then the removed one was never queued it.
        after = await kept.event_with_kind("test.after_removal")
        assert "test.after_removal" not in removed.kinds()
        assert after["id"] not in await _deliveries(conn, hooks[0])
        assert (
            await sending.delete(f"/v1/webhooks/{hooks[1]}", headers=admin.headers)
        ).status == 204


async def test_an_operator_changes_the_url_and_secret_and_sees_no_secret(
    client: ApiClient, world: World, conn: asyncpg.Connection
) -> None:
    op = world["op_west"]
    old, new = new_secret(), new_secret()
    hook = await subscribe(client, op, secret=old, community_id=world.west)
    assert (hook["secret_changed_at"], hook["previous_secret_until"]) == (None, None)
    where = f"/v1/webhooks/{hook['id']}"

    r = await client.patch(where, json={"url": "https://apps.example/maas"}, headers=op.headers)
    assert r.status == 200, await r.text()
    moved = await r.json()
    assert moved == {**hook, "url": "https://apps.example/maas"}  # the secret untouched

    r = await client.patch(where, json={"secret": new}, headers=op.headers)
    assert r.status == 200, await r.text()
    rotated = await r.json()
    changed = datetime.fromisoformat(rotated["secret_changed_at"])
    until = datetime.fromisoformat(rotated["previous_secret_until"])
    assert abs(datetime.now(UTC) - changed) < timedelta(minutes=1)
    assert until - changed == timedelta(hours=KEEP_PREVIOUS_SECRET_H)
    assert rotated["url"] == "https://apps.example/maas"
    for text in (await r.text(), await (await client.get(where, headers=op.headers)).text()):
        assert old not in text
        assert new not in text
        assert new[-4:] not in text
    assert await (await client.get(where, headers=op.headers)).json() == rotated
    row = await conn.fetchrow(
        "SELECT secret, previous_secret FROM webhook WHERE id = $1", uuid.UUID(hook["id"])
    )
    assert (row["secret"], row["previous_secret"]) == (new, old)

    # The same PATCH again (a retry) changes nothing: the old secret still signs.
    r = await client.patch(where, json={"secret": new}, headers=op.headers)
    assert (r.status, await r.json()) == (200, rotated)

    # A leaked secret is replaced at once: nothing but the newest signs.
    newest = new_secret()
    r = await client.patch(
        where, json={"secret": newest, "keep_previous_secret_h": 0}, headers=op.headers
    )
    assert r.status == 200, await r.text()
    assert (await r.json())["previous_secret_until"] is None
    row = await conn.fetchrow(
        "SELECT secret, previous_secret FROM webhook WHERE id = $1", uuid.UUID(hook["id"])
    )
    assert (row["secret"], row["previous_secret"]) == (newest, None)


def test_the_documented_overlap_is_the_one_applied() -> None:
    schema = json.loads((SCHEMA_DIR / "webhook-patch.json").read_text())
    assert schema["properties"]["keep_previous_secret_h"]["default"] == KEEP_PREVIOUS_SECRET_H


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"url": "ftp://apps.example/x"}, "url"),
        ({"url": "http://"}, "url"),
        ({"secret": "too-short"}, "secret"),
        ({"secret": "x" * 16, "keep_previous_secret_h": 169}, "keep_previous_secret_h"),
        ({"secret": "x" * 16, "keep_previous_secret_h": 1.5}, "keep_previous_secret_h"),
        ({"keep_previous_secret_h": 2}, "secret"),
        ({"url": "https://apps.example/x", "community_id": str(uuid.uuid4())}, "community_id"),
    ],
)
async def test_a_bad_change_names_its_field_and_changes_nothing(
    client: ApiClient, world: World, body: dict[str, Any], field: str
) -> None:
    op = world["op_west"]
    hook = await subscribe(client, op, community_id=world.west)
    where = f"/v1/webhooks/{hook['id']}"
    r = await client.patch(where, json=body, headers=op.headers)
    assert r.status == 422, await r.text()
    assert r.content_type == "application/problem+json"
    assert (await r.json())["field"] == field
    assert await (await client.get(where, headers=op.headers)).json() == hook


async def test_only_who_reaches_a_subscription_changes_it(
    client: ApiClient, world: World, someone: Actor
) -> None:
    hook = await subscribe(client, world["op_west"], community_id=world.west)
    where = f"/v1/webhooks/{hook['id']}"
    change = {"url": "https://elsewhere.example/hook"}
    assert (await client.patch(where, json=change)).status == 401
    for name in ("rider_west", "driver_west"):
        assert (await client.patch(where, json=change, headers=world[name].headers)).status == 403
    # Another community's operator, a person's subscription for an operator, and an id that
    # names nothing or a removed subscription: all not found alike.
    assert (await client.patch(where, json=change, headers=world["op_east"].headers)).status == 404
    persons = await subscribe(client, world["admin"], person_id=someone.id)
    r = await client.patch(
        f"/v1/webhooks/{persons['id']}", json=change, headers=world["op_west"].headers
    )
    assert r.status == 404
    r = await client.patch(
        f"/v1/webhooks/{uuid.uuid4()}", json=change, headers=world["admin"].headers
    )
    assert r.status == 404
    assert (await client.delete(where, headers=world["admin"].headers)).status == 204
    assert (await client.patch(where, json=change, headers=world["admin"].headers)).status == 404
    r = await client.patch(
        f"/v1/webhooks/{persons['id']}", json=change, headers=world["admin"].headers
    )
    assert (r.status, (await r.json())["url"]) == (200, change["url"])
