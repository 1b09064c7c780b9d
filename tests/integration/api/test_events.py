"""Live events: the outbox written in the change's transaction, the per-person SSE stream
(after commit only, resumable, surviving a dropped hub connection), and signed webhooks with
retries, dead letters and replay.

Latencies are measured and printed (``-s``), never asserted beyond generous timeouts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from support.api_bodies import request_body
from support.api_world import Actor, ApiClient, World
from support.webhook_receiver import Receiver

from maas import appkeys, db
from maas.app import api_routes, create_app
from maas.http import events as http_events
from maas.http.openapi import build_document
from maas.notify import SIGNATURE_HEADER, EventHub, event_json, verify
from maas.planning import fallback
from maas.schemas import SchemaRegistry, format_checker
from maas.settings import Settings
from maas.store import events, people

pytestmark = pytest.mark.db

TIMEOUT_S = 15.0
# The event trigger's webhook lookup, as migrations 0006 and 0011 write it.
WEBHOOK_LOOKUP_0006 = """
SELECT w.id FROM webhook w
WHERE w.active AND (w.person_id = $1 OR w.community_id::text = $2)
"""
WEBHOOK_LOOKUP_0011 = """
SELECT w.id FROM webhook w
WHERE w.active AND (w.person_id = $1 OR w.community_id = $2::uuid)
"""


@pytest.fixture(scope="module")
async def live(api_settings: Settings, world: World) -> AsyncIterator[ApiClient]:
    """The app with the webhook sender on and short intervals."""
    fast = dataclasses.replace(
        api_settings,
        webhook_interval_s=0.2,
        webhook_timeout_s=1.0,
        webhook_backoff_s=0.05,
        webhook_max_attempts=3,
        event_keepalive_s=1.0,
        event_listener_check_s=0.3,
    )
    async with TestClient(TestServer(create_app(fast, load_roads=False))) as client:
        hub = client.app[appkeys.EVENT_HUB]
        assert isinstance(hub, EventHub)
        await asyncio.wait_for(hub.connected.wait(), TIMEOUT_S)
        yield client


@pytest.fixture
async def conn(api_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with db.connection(api_settings) as connection:
        yield connection


@pytest.fixture
async def someone(conn: asyncpg.Connection, world: World) -> Actor:
    """A fresh person of the west community (so no other test's events are theirs)."""
    person = await people.create_person(
        conn, name="Eva Events", home_community_id=world.west, is_rider=True
    )
    expires = datetime.now(UTC) + timedelta(days=1)
    _, secret = await people.create_token(conn, person.id, label="test", expires_at=expires)
    return Actor(person.id, secret, "eva")


async def read_event(response: aiohttp.ClientResponse, timeout_s: float) -> dict[str, Any]:
    """The next event of an SSE stream (comments, keep-alives and frames without data
    skipped); ``cursor`` is its ``id:`` line, the stream's position after it. ``timeout_s`` is
    for the event, not for each line: keep-alives do not extend it."""
    async with asyncio.timeout(timeout_s):
        return await _read_event(response)


async def _read_event(response: aiohttp.ClientResponse) -> dict[str, Any]:
    fields: dict[str, str] = {}
    while True:
        line = (await response.content.readline()).decode()
        if line == "":
            raise ConnectionError("the stream ended")
        line = line.rstrip("\n")
        if line == "":
            if "data" in fields:
                data = json.loads(fields["data"])
                cursor = fields["id"]
                xid, event_id, *_floor = cursor.split("-")
                assert (int(event_id), int(xid) > 0) == (data["id"], True), cursor
                assert data["position"] == cursor
                return {"cursor": cursor, "event": fields["event"], **data}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def read_all(response: aiohttp.ClientResponse, quiet_s: float) -> list[dict[str, Any]]:
    """Every event that arrives until none has for ``quiet_s``."""
    got = []
    while True:
        try:
            got.append(await read_event(response, quiet_s))
        except TimeoutError:
            return got


async def open_stream_at(
    client: ApiClient, who: Actor, last_event_id: int | str | None = None
) -> tuple[aiohttp.ClientResponse, str]:
    """A stream and the position it starts at (its first frame's id)."""
    headers = dict(who.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    response = await client.get("/v1/me/events", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    first = [await asyncio.wait_for(response.content.readline(), TIMEOUT_S) for _ in range(3)]
    assert first[0].startswith(b"retry:"), first
    assert (first[1][:4], first[2]) == (b"id: ", b"\n"), first
    return response, first[1].decode()[4:].rstrip("\n")


async def open_stream(
    client: ApiClient, who: Actor, last_event_id: int | str | None = None
) -> aiohttp.ClientResponse:
    return (await open_stream_at(client, who, last_event_id))[0]


async def test_event_reaches_a_connected_stream_only_after_commit(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor
) -> None:
    stream = await open_stream(live, someone)
    try:
        tx = conn.transaction()
        await tx.start()
        await events.record(conn, someone.id, "test.hello", {"n": 1})
        with pytest.raises(TimeoutError):
            await read_event(stream, 0.5)  # not committed: nothing is sent
        committed = time.perf_counter()
        await tx.commit()
        event = await read_event(stream, TIMEOUT_S)
        latency_ms = (time.perf_counter() - committed) * 1000
        print(f"\nevent delivery latency after commit: {latency_ms:.1f} ms")
        assert event["event"] == "test.hello"
        assert event["payload"] == {"n": 1}
        assert event["person_id"] == str(someone.id)
    finally:
        stream.close()


async def test_a_rolled_back_change_sends_nothing(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor
) -> None:
    stream = await open_stream(live, someone)
    try:
        async with conn.transaction():
            await events.record(conn, someone.id, "test.first", {})
        tx = conn.transaction()
        await tx.start()
        await events.record(conn, someone.id, "test.rolled_back", {})
        await tx.rollback()
        async with conn.transaction():
            await events.record(conn, someone.id, "test.after", {})
        kinds = [(await read_event(stream, TIMEOUT_S))["event"] for _ in range(2)]
        assert kinds == ["test.first", "test.after"]
    finally:
        stream.close()


async def test_a_dropped_stream_resumes_without_gaps(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor
) -> None:
    stream = await open_stream(live, someone)
    await events.record(conn, someone.id, "test.one", {"n": 1})
    first = await read_event(stream, TIMEOUT_S)
    stream.close()  # the phone loses its connection
    for n in (2, 3, 4):
        await events.record(conn, someone.id, "test.more", {"n": n})
    stream = await open_stream(live, someone, last_event_id=first["cursor"])
    try:
        got = [await read_event(stream, TIMEOUT_S) for _ in range(3)]
        assert [e["payload"]["n"] for e in got] == [2, 3, 4]
        assert [e["id"] for e in got] == sorted(e["id"] for e in got)
        await events.record(conn, someone.id, "test.live", {"n": 5})
        assert (await read_event(stream, TIMEOUT_S))["payload"] == {"n": 5}
    finally:
        stream.close()


async def test_a_plain_event_id_still_resumes_after_that_event(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor
) -> None:
    """What streams sent before positions (and what a client that kept Event.id has)."""
    for n in (1, 2, 3):
        await events.record(conn, someone.id, "test.plain", {"n": n})
    stream = await open_stream(live, someone, last_event_id=0)  # from the start
    try:
        got = [await read_event(stream, TIMEOUT_S) for _ in range(3)]
    finally:
        stream.close()
    stream, start = await open_stream_at(live, someone, last_event_id=got[0]["id"])
    try:
        assert start.endswith(f"-{got[0]['id']}")  # the plain id is the position's floor
        again = await read_all(stream, 0.5)
        assert [e["payload"]["n"] for e in again] == [2, 3]
    finally:
        stream.close()


async def test_a_plain_event_id_sends_every_higher_id_once_whatever_its_transaction(
    live: ApiClient, api_settings: Settings, conn: asyncpg.Connection, someone: Actor
) -> None:
    """Ids and transactions are not in the same order: a plain id N is "every event above N",
    not a place in (xid, id) order. ``older`` takes its xid first, ``younger`` writes X (the
    lower id) and commits, then ``older`` writes Y: Y comes before X by transaction, after it by
    id."""
    async with db.connection(api_settings) as older, db.connection(api_settings) as younger:
        tx = older.transaction()
        await tx.start()
        await older.fetchval("SELECT pg_current_xact_id()")
        async with younger.transaction():
            await younger.fetchval("SELECT pg_current_xact_id()")
            await events.record(younger, someone.id, "test.x", {})
        await events.record(older, someone.id, "test.y", {})
        await tx.commit()
    await events.record(conn, someone.id, "test.z", {})
    every = await read_all(await open_stream(live, someone, last_event_id=0), 0.5)
    assert [e["event"] for e in every] == ["test.y", "test.x", "test.z"]  # by transaction
    x, y, _z = sorted(every, key=lambda e: e["id"])
    assert (x["event"], y["event"]) == ("test.x", "test.y")

    # The client had X (by id): Y is still to come, and Z; X is not sent again.
    stream = await open_stream(live, someone, last_event_id=x["id"])
    try:
        after_x = await read_all(stream, 0.5)
    finally:
        stream.close()
    assert [e["event"] for e in after_x] == ["test.y", "test.z"]
    # Resuming from the frames it sent keeps that: X (after Y by transaction) never comes.
    stream = await open_stream(live, someone, last_event_id=after_x[0]["cursor"])
    try:
        assert [e["event"] for e in await read_all(stream, 0.5)] == ["test.z"]
    finally:
        stream.close()
    # The client had Y, the highest id but Z's: X (lower id, later transaction) is not resent.
    stream = await open_stream(live, someone, last_event_id=y["id"])
    try:
        assert [e["event"] for e in await read_all(stream, 0.5)] == ["test.z"]
        await events.record(conn, someone.id, "test.live", {})
        assert (await read_event(stream, TIMEOUT_S))["event"] == "test.live"
    finally:
        stream.close()


async def test_a_position_from_another_cluster_is_refused(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor
) -> None:
    """Restored from a dump, or moved by logical replication: the client's position is above
    every transaction of this cluster. Reading on from it would send nothing for as long as
    the counter takes to get there; the client is told to start afresh."""
    xmax = await events.xmax(conn)
    foreign = f"{xmax + 10**9}-7"
    r = await live.get("/v1/me/events", headers={**someone.headers, "Last-Event-ID": foreign})
    assert r.status == 409
    problem = await r.json()
    assert problem["field"] == "Last-Event-ID"
    assert "another database cluster" in problem["detail"]
    assert "without Last-Event-ID" in problem["detail"]
    params = {"last_event_id": f"{2**63 - 1}-1"}
    r = await live.get("/v1/me/events", params=params, headers=someone.headers)
    assert (r.status, (await r.json())["field"]) == (409, "last_event_id")
    # A position this cluster made is taken, up to the newest it can have made.
    stream, start = await open_stream_at(live, someone, last_event_id=f"{xmax}-0")
    stream.close()
    assert start == f"{xmax}-0"


async def test_an_event_committed_while_the_client_was_away_is_resumed(
    live: ApiClient, api_settings: Settings, conn: asyncpg.Connection, someone: Actor
) -> None:
    """An older transaction (a lower id) still open when a younger one commits: whatever the
    client got before it dropped, resuming from its last id sends the older event once it
    commits, and nothing twice."""
    stream = await open_stream(live, someone)
    await events.record(conn, someone.id, "test.before", {})
    got = [await read_event(stream, TIMEOUT_S)]
    async with db.connection(api_settings) as slow:
        # (An exception closes the connection, which rolls back.)
        tx = slow.transaction()
        await tx.start()
        await events.record(slow, someone.id, "test.slow", {})  # the lower id
        await events.record(conn, someone.id, "test.fast", {})  # commits first
        got += await read_all(stream, 0.5)
        stream.close()  # the phone loses its connection
        await tx.commit()  # while no stream of theirs is open
    stream = await open_stream(live, someone, last_event_id=got[-1]["cursor"])
    try:
        await events.record(conn, someone.id, "test.after", {})
        got += await read_all(stream, 1.0)
    finally:
        stream.close()
    kinds = [e["event"] for e in got]
    assert kinds == ["test.before", "test.slow", "test.fast", "test.after"]
    assert got[1]["id"] < got[2]["id"]


async def test_a_stream_without_last_event_id_gets_what_commits_after_it_opened(
    live: ApiClient, api_settings: Settings, conn: asyncpg.Connection, someone: Actor
) -> None:
    """An event with an id below one committed before the stream opened, committed after: it
    comes (and so does the younger one, not final when the stream opened)."""
    async with db.connection(api_settings) as slow:
        tx = slow.transaction()
        await tx.start()
        await events.record(slow, someone.id, "test.slow", {})  # the lower id
        await events.record(conn, someone.id, "test.fast", {})  # committed before the stream
        stream, start = await open_stream_at(live, someone)
        try:
            with pytest.raises(TimeoutError):
                await read_event(stream, 0.5)  # test.fast is not final while test.slow is open
            committed = time.perf_counter()
            await tx.commit()
            first = await read_event(stream, TIMEOUT_S)
            latency_ms = (time.perf_counter() - committed) * 1000
            second = await read_event(stream, TIMEOUT_S)
            assert [first["event"], second["event"]] == ["test.slow", "test.fast"]
            print(f"\nheld-back event delivery latency after commit: {latency_ms:.1f} ms")
        finally:
            stream.close()
    # Dropped before it sent anything: the first frame's position resumes it.
    stream, again = await open_stream_at(live, someone, last_event_id=start)
    try:
        assert again == start
        got = await read_all(stream, 0.5)
        assert [e["event"] for e in got] == ["test.slow", "test.fast"]
    finally:
        stream.close()


async def test_an_event_waits_for_an_older_transaction_that_writes_no_event(
    live: ApiClient, api_settings: Settings, conn: asyncpg.Connection, someone: Actor
) -> None:
    """The older transaction writes no event: the hub's next poll finds the held-back event
    final once it has ended (its latency printed; the target is well within a second)."""
    stream = await open_stream(live, someone)
    async with db.connection(api_settings) as other:
        tx = other.transaction()
        await tx.start()
        try:
            await other.fetchval("SELECT pg_current_xact_id()")  # writes, say, a match
            await events.record(conn, someone.id, "test.held", {})
            with pytest.raises(TimeoutError):
                await read_event(stream, 0.5)
            committed = time.perf_counter()
            await tx.commit()
            event = await read_event(stream, TIMEOUT_S)
            latency_ms = (time.perf_counter() - committed) * 1000
        finally:
            stream.close()
    print(f"\ndelivery latency after the older transaction ended: {latency_ms:.1f} ms")
    assert event["event"] == "test.held"


async def test_a_killed_hub_connection_reconnects_and_loses_nothing(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor
) -> None:
    hub = live.app[appkeys.EVENT_HUB]
    assert isinstance(hub, EventHub)
    assert hub._conn is not None
    before = hub.reconnects
    stream = await open_stream(live, someone)
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", hub._conn.get_server_pid())
        # Written while the hub is away: its next poll reads on from where it stood.
        await events.record(conn, someone.id, "test.during_outage", {})
        event = await read_event(stream, TIMEOUT_S)
        assert event["event"] == "test.during_outage"
        assert hub.reconnects > before
        await asyncio.wait_for(hub.connected.wait(), TIMEOUT_S)
        await events.record(conn, someone.id, "test.after_outage", {})
        assert (await read_event(stream, TIMEOUT_S))["event"] == "test.after_outage"
    finally:
        stream.close()


@pytest.mark.parametrize(
    "error",
    [
        # What asyncpg raised when the server ended the hub's connection in the middle of a
        # statement's clean-up: before, it ended the hub's task and the process's live events.
        asyncpg.InternalClientError("cannot switch to state 14; another operation is in progress"),
        RuntimeError("a bug"),
    ],
    ids=["asyncpg-state", "anything-else"],
)
async def test_the_hub_reconnects_after_any_error_and_loses_nothing(
    live: ApiClient,
    conn: asyncpg.Connection,
    someone: Actor,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    hub = live.app[appkeys.EVENT_HUB]
    assert isinstance(hub, EventHub)
    before = hub.reconnects
    stream = await open_stream(live, someone)
    read = events.committed_events
    raised: list[Exception] = []

    async def failing_once(*args: Any, **kwargs: Any) -> events.Committed:
        if kwargs.get("queued") and not raised:  # the hub's poll only
            raised.append(error)
            raise error
        return await read(*args, **kwargs)

    monkeypatch.setattr(events, "committed_events", failing_once)
    try:
        await events.record(conn, someone.id, "test.after_error", {})
        assert (await read_event(stream, TIMEOUT_S))["event"] == "test.after_error"
        assert raised == [error]
        assert hub.reconnects > before
    finally:
        stream.close()


async def test_state_changes_write_events_in_their_transaction(
    client: ApiClient, world: World, api_settings: Settings
) -> None:
    rider = world["rider_west"]
    r = await client.post("/v1/requests", json=request_body(), headers=rider.headers)
    assert r.status == 201, await r.text()
    request_id = (await r.json())["id"]
    r = await client.post(f"/v1/requests/{request_id}/cancel", headers=rider.headers)
    assert r.status == 200, await r.text()
    async with db.connection(api_settings) as conn:
        rows = await conn.fetch(
            "SELECT kind, payload FROM event WHERE person_id = $1 AND payload->>'request_id' = $2"
            " ORDER BY id",
            rider.id,
            request_id,
        )
    assert [r["kind"] for r in rows] == ["request.created", "request.cancelled"]
    assert json.loads(rows[0]["payload"])["community_id"] == str(world.west)


async def test_match_changes_tell_driver_and_riders(
    client: ApiClient, world: World, api_conn: asyncpg.Connection
) -> None:
    from support.api_bodies import offer_body

    rider, driver = world["rider_west"], world["driver_west"]
    r = await client.post("/v1/requests", json=request_body(), headers=rider.headers)
    request_id = uuid.UUID((await r.json())["id"])
    r = await client.post("/v1/offers", json=offer_body(), headers=driver.headers)
    offer_id = uuid.UUID((await r.json())["id"])
    conn = api_conn
    match_id = await conn.fetchval(
        "INSERT INTO match (offer_id, occurrence_date, departure_at, community_id)"
        " VALUES ($1, current_date, now() + interval '1 day', $2) RETURNING id",
        offer_id,
        world.west,
    )
    await conn.execute(
        "INSERT INTO match_rider (match_id, request_id) VALUES ($1, $2)", match_id, request_id
    )
    await conn.execute("UPDATE match SET status = 'confirmed' WHERE id = $1", match_id)
    await conn.execute(
        "UPDATE match SET departure_at = departure_at + interval '10 min' WHERE id = $1", match_id
    )
    rows = await conn.fetch(
        "SELECT person_id, kind FROM event WHERE payload->>'match_id' = $1 ORDER BY id",
        str(match_id),
    )
    got = [(r["person_id"], r["kind"]) for r in rows]
    assert got == [
        (driver.id, "match.proposed"),
        (rider.id, "match.proposed"),
        (driver.id, "match.confirmed"),
        (rider.id, "match.confirmed"),
        (driver.id, "match.time_changed"),
        (rider.id, "match.time_changed"),
    ]


SECRET = "s3cret-s3cret-s3cret"


async def _subscribe(live: ApiClient, world: World, url: str, person: uuid.UUID) -> str:
    """An admin's subscription to the person's events; its path."""
    r = await live.post(
        "/v1/webhooks",
        json={"url": url, "secret": SECRET, "person_id": str(person)},
        headers=world["admin"].headers,
    )
    assert r.status == 201, await r.text()
    return f"/v1/webhooks/{(await r.json())['id']}"


async def _delivered(
    receiver: Receiver, conn: asyncpg.Connection, person: Actor, kind: str
) -> tuple[str, bytes]:
    """Record an event of this kind for the person; the signature and body the receiver
    gets for it."""
    await events.record(conn, person.id, kind, {})
    headers, body = await receiver.next()
    assert json.loads(body)["kind"] == kind
    return headers[SIGNATURE_HEADER], body


async def test_a_webhook_receiver_gets_a_signed_delivery(
    live: ApiClient, world: World, conn: asyncpg.Connection, someone: Actor
) -> None:
    async with Receiver() as receiver:
        await _subscribe(live, world, receiver.url, someone.id)
        await events.record(conn, someone.id, "test.hooked", {"community_id": str(world.west)})
        headers, body = await receiver.next()
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify("another-secret-entirely", headers[SIGNATURE_HEADER], body)
    sent = json.loads(body)
    assert sent["kind"] == "test.hooked"
    assert sent["person_id"] == str(someone.id)
    assert headers["Maas-Event-Id"] == str(sent["id"])


async def test_a_new_secret_and_url_apply_to_the_next_delivery(
    live: ApiClient, world: World, conn: asyncpg.Connection, someone: Actor
) -> None:
    admin = world["admin"].headers
    new, newest = "n3w-s3cret-n3w-s3cret", "n3w3st-s3cret-n3w3st"
    async with Receiver() as first, Receiver() as second:
        where = await _subscribe(live, world, first.url, someone.id)
        # Rotated with the default overlap: both secrets sign, the new one first.
        assert (await live.patch(where, json={"secret": new}, headers=admin)).status == 200
        signature, body = await _delivered(first, conn, someone, "test.rotated")
        assert signature.count("v1=") == 2
        assert verify(new, signature, body)
        assert verify(SECRET, signature, body)
        assert not verify("another-secret-entirely", signature, body)
        assert not verify(new, signature, body + b" ")
        # Moved and rotated without overlap (a leaked secret): only the newest signs, and the
        # next delivery goes to the new URL.
        change = {"url": second.url, "secret": newest, "keep_previous_secret_h": 0}
        assert (await live.patch(where, json=change, headers=admin)).status == 200
        signature, body = await _delivered(second, conn, someone, "test.moved")
        assert signature.count("v1=") == 1
        assert verify(newest, signature, body)
        assert not verify(new, signature, body)
        assert not verify(SECRET, signature, body)
        assert "test.moved" not in first.kinds()


async def test_the_sender_keeps_sending_after_any_error(
    live: ApiClient,
    world: World,
    conn: asyncpg.Connection,
    someone: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    claim = events.claim_due
    raised: list[str] = []

    async def failing_once(*args: Any, **kwargs: Any) -> list[events.DueDelivery]:
        if not raised:
            raised.append("a bug")
            raise RuntimeError("a bug")
        return await claim(*args, **kwargs)

    monkeypatch.setattr(events, "claim_due", failing_once)
    async with Receiver() as receiver:
        await _subscribe(live, world, receiver.url, someone.id)
        signature, body = await _delivered(receiver, conn, someone, "test.after_sender_error")
    assert verify(SECRET, signature, body)
    assert raised == ["a bug"]


async def test_a_failing_receiver_ends_dead_and_replay_delivers(
    live: ApiClient, world: World, conn: asyncpg.Connection, someone: Actor
) -> None:
    admin = world["admin"].headers
    async with Receiver() as receiver:
        receiver.status = 500
        await _subscribe(live, world, receiver.url, someone.id)
        await events.record(conn, someone.id, "test.doomed", {})
        dead: list[dict[str, Any]] = []
        deadline = time.monotonic() + TIMEOUT_S
        while not dead and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            r = await live.get("/v1/webhook-deliveries?status=dead&limit=200", headers=admin)
            assert r.status == 200
            dead = [d for d in (await r.json())["items"] if d["kind"] == "test.doomed"]
        assert dead, "the delivery never became dead"
        assert dead[0]["attempts"] == 3
        assert dead[0]["last_status_code"] == 500
        assert len(receiver.received) == 3

        receiver.status = 204
        r = await live.post(f"/v1/webhook-deliveries/{dead[0]['id']}/replay", headers=admin)
        assert r.status == 202, await r.text()
        headers, body = await receiver.next()
        assert json.loads(body)["kind"] == "test.doomed"
        assert verify(SECRET, headers[SIGNATURE_HEADER], body)
        r = await live.post(f"/v1/webhook-deliveries/{dead[0]['id']}/replay", headers=admin)
        assert r.status == 409  # not dead any more


async def test_webhooks_are_for_staff_only(live: ApiClient, world: World) -> None:
    body = {"url": "http://127.0.0.1:9/x", "secret": SECRET, "community_id": str(world.east)}
    r = await live.post("/v1/webhooks", json=body, headers=world["rider_west"].headers)
    assert r.status == 403
    r = await live.post("/v1/webhooks", json=body, headers=world["op_west"].headers)
    assert r.status == 403
    r = await live.post("/v1/webhooks", json=body, headers=world["op_east"].headers)
    assert r.status == 201
    bad = {**body, "secret": "short"}
    r = await live.post("/v1/webhooks", json=bad, headers=world["op_east"].headers)
    assert r.status == 422
    r = await live.get("/v1/webhook-deliveries", headers=world["rider_west"].headers)
    assert r.status == 403


async def test_a_younger_transaction_waits_for_an_older_one(
    live: ApiClient, api_settings: Settings, conn: asyncpg.Connection, someone: Actor
) -> None:
    """The older transaction takes the lower id and commits later: the younger one's event is
    sent only once the older one has ended, and after it; a resume from there repeats
    nothing."""
    stream = await open_stream(live, someone)
    async with db.connection(api_settings) as slow:
        try:
            tx = slow.transaction()
            await tx.start()
            await events.record(slow, someone.id, "test.slow", {})  # takes the lower id
            await events.record(conn, someone.id, "test.fast", {})  # commits first
            with pytest.raises(TimeoutError):
                await read_event(stream, 0.5)
            await tx.commit()
            got = [await read_event(stream, TIMEOUT_S) for _ in range(2)]
            assert [e["event"] for e in got] == ["test.slow", "test.fast"]
            assert got[0]["id"] < got[1]["id"]
        finally:
            stream.close()
        stream = await open_stream(live, someone, last_event_id=got[1]["cursor"])
        try:
            await events.record(conn, someone.id, "test.after", {})
            assert [e["event"] for e in await read_all(stream, 0.5)] == ["test.after"]
        finally:
            stream.close()


async def test_a_reader_of_everyones_events_never_passes_a_late_commit(
    api_settings: Settings, conn: asyncpg.Connection, someone: Actor, world: World
) -> None:
    """committed_events without a person (as a reader of every request.created would use
    it): one kind, in (xid, id) order, nothing before its transaction's older ones ended."""
    kind = f"test.everyone_{uuid.uuid4().hex[:8]}"
    start = events.Position(await events.horizon(conn), 0)
    async with db.connection(api_settings) as slow:
        tx = slow.transaction()
        await tx.start()
        await events.record(slow, someone.id, kind, {"n": 1})  # the lower id
        await events.record(conn, world["rider_west"].id, kind, {"n": 2})
        await events.record(conn, someone.id, "test.other_kind", {})
        read = await events.committed_events(conn, start, kinds=[kind])
        assert read.events == []
        assert start <= read.position < events.Position(read.xmax, 0)
        await tx.commit()
    again = await events.committed_events(conn, read.position, kinds=[kind])
    assert [e.payload["n"] for e in again.events] == [1, 2]
    assert [e.person_id for e in again.events] == [someone.id, world["rider_west"].id]
    last = await events.committed_events(conn, again.position, kinds=[kind])
    assert last.events == []


async def test_a_commit_during_a_hub_outage_is_caught_up(
    live: ApiClient,
    api_settings: Settings,
    conn: asyncpg.Connection,
    someone: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The older transaction commits while the hub is away: its poll after the reconnect
    reads on from where it stood, and finds that event and the younger one held back behind
    it."""
    hub = live.app[appkeys.EVENT_HUB]
    assert isinstance(hub, EventHub)
    await asyncio.wait_for(hub.connected.wait(), TIMEOUT_S)
    assert hub._conn is not None
    polled = hub._conn.get_server_pid()
    stream = await open_stream(live, someone)
    async with db.connection(api_settings) as slow:
        # The hub may reconnect only once the slow transaction has committed.
        gate, reconnecting = asyncio.Event(), asyncio.Event()
        connect = db.connect

        async def gated_connect(settings: Settings, **kwargs: Any) -> asyncpg.Connection:
            reconnecting.set()
            await gate.wait()
            return await connect(settings, **kwargs)

        monkeypatch.setattr(db, "connect", gated_connect)
        try:
            tx = slow.transaction()
            await tx.start()
            await events.record(slow, someone.id, "test.slow", {})  # takes the lower id
            await events.record(conn, someone.id, "test.fast", {})
            with pytest.raises(TimeoutError):
                await read_event(stream, 0.3)  # held back by test.slow
            assert await slow.fetchval("SELECT pg_terminate_backend($1, 5000)", polled)
            await asyncio.wait_for(reconnecting.wait(), TIMEOUT_S)  # the old one is gone
            await tx.commit()  # while no one polls
            gate.set()
            got = [await read_event(stream, TIMEOUT_S) for _ in range(2)]
            assert [e["event"] for e in got] == ["test.slow", "test.fast"]
            await events.record(conn, someone.id, "test.after", {})
            assert (await read_event(stream, TIMEOUT_S))["event"] == "test.after"
        finally:
            stream.close()


async def test_a_live_event_costs_its_stream_no_query(
    live: ApiClient,
    conn: asyncpg.Connection,
    someone: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream reads the table once, when it opens; after that the hub's poll, one for every
    stream of the process, brings its events, and reads each event once however long the
    person's recent history."""
    async with conn.transaction():
        for n in range(40):  # a busy recent past
            await events.record(conn, someone.id, "test.history", {"n": n})
    stream_reads = 0
    hub_read: list[int] = []
    committed_events = events.committed_events

    async def counting(*args: Any, **kwargs: Any) -> events.Committed:
        nonlocal stream_reads
        found = await committed_events(*args, **kwargs)
        if kwargs.get("person_id") is None:
            hub_read.extend(e.id for e in found.events)
        else:
            stream_reads += 1
        return found

    monkeypatch.setattr(events, "committed_events", counting)
    stream = await open_stream(live, someone)
    try:
        got = []
        for n in range(5):
            await events.record(conn, someone.id, "test.live", {"n": n})
            got.append(await read_event(stream, TIMEOUT_S))
        assert [e["payload"]["n"] for e in got] == list(range(5))
        assert stream_reads == 1
        mine = [e["id"] for e in got]
        assert [i for i in hub_read if i in mine] == mine  # once each, in order
        assert len(hub_read) == len(set(hub_read))
    finally:
        stream.close()


async def test_a_stream_sends_only_its_persons_events(
    live: ApiClient, conn: asyncpg.Connection, someone: Actor, world: World
) -> None:
    other = world["rider_west"].id
    stream = await open_stream(live, someone)
    try:
        async with conn.transaction():
            await events.record(conn, other, "test.private", {})
            await events.record(conn, someone.id, "test.own", {})
            await events.record(conn, other, "test.private", {})
        assert (await read_event(stream, TIMEOUT_S))["event"] == "test.own"
        await events.record(conn, other, "test.private", {})
        await events.record(conn, someone.id, "test.own_again", {})
        assert (await read_event(stream, TIMEOUT_S))["event"] == "test.own_again"
    finally:
        stream.close()


async def test_the_webhook_lookup_matches_community_ids_as_before(
    conn: asyncpg.Connection, someone: Actor, world: World
) -> None:
    """Migration 0011 compares uuids where 0006 compared text: the canonical id still matches,
    anything else in a free payload matches nothing and fails nothing; and the comparison can
    use the partial index on active community subscriptions."""
    tx = conn.transaction()
    await tx.start()
    try:
        hook = await events.create_webhook(
            conn,
            community_id=world.west,
            person_id=None,
            url="http://127.0.0.1:9/",
            secret="s" * 16,
            created_by=world["admin"].id,
        )
        for community in (str(world.west), str(world.west).upper(), "west", None, 7):
            await events.record(conn, someone.id, "test.lookup", {"community_id": community})
        queued = await conn.fetch(
            "SELECT e.payload ->> 'community_id' AS community FROM webhook_delivery d "
            "JOIN event e ON e.id = d.event_id WHERE d.webhook_id = $1",
            hook.id,
        )
        assert [r["community"] for r in queued] == [str(world.west)]

        async def plan(sql: str) -> str:
            """The plan of the lookup's community branch alone."""
            community_only = sql.replace("w.person_id = $1 OR ", "").replace("$2", "$1")
            rows = await conn.fetch("EXPLAIN " + community_only, str(world.west))
            return "\n".join(r[0] for r in rows)

        # Whether the comparison can be an index condition, not which plan the statistics
        # favour: with the person branch's partial index (every active row) at hand, the
        # planner may read it whole and filter whatever the comparison. It is dropped here,
        # in the transaction that is rolled back.
        await conn.execute("DROP INDEX webhook_person")
        await conn.execute("SET LOCAL enable_seqscan = off")
        assert "Index Cond: (community_id = " in await plan(WEBHOOK_LOOKUP_0011)
        assert "Index Cond: (community_id" not in await plan(WEBHOOK_LOOKUP_0006)
    finally:
        await tx.rollback()


# ---- the documented contract: what the stream, the webhook API and the events look like ----


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    return build_document(api_routes(), SchemaRegistry())["components"]  # type: ignore[no-any-return]


def conforms(components: dict[str, Any], name: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    validator = Draft202012Validator(schema, format_checker=format_checker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, (instance, errors)


async def read_frame(response: aiohttp.ClientResponse) -> tuple[dict[str, str], dict[str, Any]]:
    """The next event's SSE fields and its data, as sent."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(response.content.readline(), TIMEOUT_S)).decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if line == "" and "data" in fields:
            return fields, json.loads(fields["data"])
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def test_the_stream_sends_the_documented_events(
    live: ApiClient, world: World, someone: Actor, components: dict[str, Any]
) -> None:
    r = await live.post("/v1/requests", json=request_body(), headers=someone.headers)
    assert r.status == 201, await r.text()
    request_id = (await r.json())["id"]
    r = await live.post(f"/v1/requests/{request_id}/cancel", headers=someone.headers)
    assert r.status == 200, await r.text()
    # Resuming from 0 sends every event of this (new) person: its two.
    stream = await open_stream(live, someone, last_event_id=0)
    try:
        for kind in ("request.created", "request.cancelled"):
            fields, data = await read_frame(stream)
            conforms(components, "Event", data)
            assert fields["event"] == kind
            assert re.fullmatch(f"[1-9][0-9]*-{data['id']}", fields["id"]), fields["id"]
            assert data["kind"] == kind
            assert data["payload"] == {"community_id": str(world.west), "request_id": request_id}
    finally:
        stream.close()


async def test_the_stream_refuses_what_the_document_says(live: ApiClient, someone: Actor) -> None:
    r = await live.get("/v1/me/events")
    assert r.status == 401
    assert r.content_type == "application/problem+json"
    for bad in ("abc", "-1", str(2**63), "1-", "-1-2", "1-2-3-4", "1-2-", "1_0", f"{2**63}-1"):
        r = await live.get("/v1/me/events", headers={**someone.headers, "Last-Event-ID": bad})
        assert (r.status, (await r.json())["field"]) == (422, "Last-Event-ID"), bad
    for bad in ("x", " 1", "1-2 "):
        params = {"last_event_id": bad}
        r = await live.get("/v1/me/events", params=params, headers=someone.headers)
        assert r.status == 422, bad


async def test_a_stream_opened_before_the_hub_is_ready_waits_then_gets_503(
    live: ApiClient, someone: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after start the hub does not know where it stands yet: a stream waits a moment
    for it, then is told to retry; once it is ready, streams open."""
    hub = live.app[appkeys.EVENT_HUB]
    assert isinstance(hub, EventHub)
    monkeypatch.setattr(http_events, "HUB_READY_S", 0.2)
    hub.ready.clear()
    try:
        r = await live.get("/v1/me/events", headers=someone.headers)
        assert r.status == 503
        assert r.content_type == "application/problem+json"
        assert "retry" in (await r.json())["detail"]
    finally:
        hub.ready.set()
    stream = await open_stream(live, someone)
    stream.close()


async def test_every_change_writes_a_documented_event(
    client: ApiClient, world: World, api_conn: asyncpg.Connection, components: dict[str, Any]
) -> None:
    """Each trigger of migration 0006 and each event the service records itself, written in
    one transaction that is rolled back, in the form the stream and the webhooks send."""
    from support.api_bodies import offer_body

    rider, driver = world["rider_west"], world["driver_west"]
    r = await client.post("/v1/requests", json=request_body(), headers=rider.headers)
    request_id = uuid.UUID((await r.json())["id"])
    depart = datetime.fromisoformat((await r.json())["depart_earliest"].replace("Z", "+00:00"))
    r = await client.post("/v1/offers", json=offer_body(), headers=driver.headers)
    offer_id = uuid.UUID((await r.json())["id"])
    conn = api_conn
    first_id = await conn.fetchval("SELECT coalesce(max(id), 0) FROM event")

    async def new_match() -> uuid.UUID:
        match_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO match (offer_id, occurrence_date, departure_at, community_id)"
            " VALUES ($1, current_date + 1, now() + interval '1 day', $2) RETURNING id",
            offer_id,
            world.west,
        )
        await conn.execute(
            "INSERT INTO match_rider (match_id, request_id) VALUES ($1, $2)", match_id, request_id
        )
        await conn.execute(
            "INSERT INTO match_stop (match_id, seq, request_id, kind, position, planned_at)"
            " VALUES ($1, 0, $2, 'pickup', ST_SetSRID(ST_MakePoint(8.83, 48.59), 4326),"
            " now() + interval '1 day')",
            match_id,
            request_id,
        )
        return match_id

    withdrawn = await new_match()
    await conn.execute("DELETE FROM match WHERE id = $1", withdrawn)  # a later run replaced it
    match_id = await new_match()
    await conn.execute("UPDATE match SET driver_status = 'accepted' WHERE id = $1", match_id)
    await conn.execute("UPDATE match_rider SET status = 'accepted' WHERE match_id = $1", match_id)
    await conn.execute("UPDATE match SET status = 'confirmed' WHERE id = $1", match_id)
    await conn.execute(
        "UPDATE match SET departure_at = departure_at + interval '5 min' WHERE id = $1", match_id
    )
    await conn.execute(
        "UPDATE match_stop SET planned_at = planned_at + interval '5 min' WHERE match_id = $1",
        match_id,
    )
    await conn.execute("UPDATE match SET status = 'cancelled' WHERE id = $1", match_id)
    await conn.execute("UPDATE ride_offer SET status = 'cancelled' WHERE id = $1", offer_id)
    # The cut-off notice, as the scheduler's tick records it.
    await fallback.tell_community(conn, world.west, depart - timedelta(minutes=1))

    seen: set[str] = set()
    for person in (rider.id, driver.id):
        rows = await conn.fetch(
            "SELECT id, person_id, kind, payload::text AS payload, created_at, xid::text::bigint"
            " AS xid FROM event WHERE person_id = $1 AND id > $2 ORDER BY id",
            person,
            first_id,
        )
        for r in rows:
            payload, at = json.loads(r["payload"]), r["created_at"]
            event = events.Event(r["id"], r["person_id"], r["kind"], payload, at, r["xid"])
            conforms(components, "Event", event_json(event))
            seen.add(event.kind)
    assert {
        "offer.cancelled",
        "match.proposed",
        "match.withdrawn",
        "match.driver_accepted",
        "match.rider_accepted",
        "match.confirmed",
        "match.time_changed",
        "match.cancelled",
        "request.no_driver_found",
    } <= seen


async def test_every_status_has_a_documented_event_kind(
    api_conn: asyncpg.Connection, components: dict[str, Any]
) -> None:
    """The triggers name events after the database's statuses: each one is documented."""
    kinds = [v["properties"]["kind"] for v in components["schemas"]["Event"]["oneOf"]]
    documented = {k for kind in kinds for k in kind.get("enum", [kind.get("const")])}
    rows = await api_conn.fetch(
        "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
        " WHERE t.typname IN ('match_status', 'party_status', 'ride_status')"
    )
    expected = {"request.created", "offer.created", "match.withdrawn", "match.time_changed"}
    for row in rows:
        label = row["enumlabel"]
        if row["typname"] == "match_status":
            expected.add(f"match.{label}")
        elif row["typname"] == "party_status":
            expected |= {f"match.driver_{label}", f"match.rider_{label}"}
        elif label != "open":  # a request or offer is created open and never reopened
            expected |= {f"request.{label}", f"offer.{label}"}
    assert expected - documented == set()


async def test_webhook_answers_follow_their_schemas(
    live: ApiClient, world: World, components: dict[str, Any]
) -> None:
    op = world["op_west"].headers
    body = {"url": "http://127.0.0.1:9/hook", "secret": SECRET, "community_id": str(world.west)}
    key = {**op, "Idempotency-Key": f"hook-{uuid.uuid4()}"}
    r = await live.post("/v1/webhooks", json=body, headers=key)
    assert r.status == 201, await r.text()
    hook = await r.json()
    conforms(components, "Webhook", hook)
    assert "secret" not in hook
    again = await live.post("/v1/webhooks", json=body, headers=key)  # a retried POST
    assert (again.status, (await again.json())["id"]) == (201, hook["id"])
    for status in ("dead", "pending", "delivered"):
        r = await live.get("/v1/webhook-deliveries", params={"status": status}, headers=op)
        assert r.status == 200
        conforms(components, "WebhookDeliveryPage", await r.json())
    r = await live.get("/v1/webhooks", params={"community_id": str(world.west)}, headers=op)
    assert r.status == 200
    conforms(components, "WebhookPage", await r.json())
    r = await live.get(f"/v1/webhooks/{hook['id']}", headers=op)
    assert r.status == 200
    conforms(components, "Webhook", await r.json())
    r = await live.delete(f"/v1/webhooks/{hook['id']}", headers=op)
    assert r.status == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.org/x"}, "url"),
        ({"url": "HTTP://example.org/x"}, "url"),  # the database takes lower-case schemes only
        ({"url": "http://[::1/x"}, "url"),
        ({"url": "http://exa mple.org/x"}, "url"),
        ({"secret": "a\x00" * 10}, "secret"),
        ({"person_id": "9b2f4f59-3f5e-4b8e-a1c7-2f3c7c1e7f11"}, "community_id"),  # both
        ({"community_id": None}, "community_id"),  # neither
        ({"colour": "red"}, "colour"),
        ({"person_id": "not-a-uuid", "community_id": None}, "person_id"),
    ],
)
async def test_a_bad_subscription_names_its_field(
    live: ApiClient, world: World, body: dict[str, Any], field: str
) -> None:
    valid = {"url": "http://127.0.0.1:9/hook", "secret": SECRET, "community_id": str(world.west)}
    sent = {k: v for k, v in {**valid, **body}.items() if v is not None}
    r = await live.post("/v1/webhooks", json=sent, headers=world["admin"].headers)
    assert r.status == 422, await r.text()
    assert (await r.json())["field"] == field


async def test_delivery_list_and_replay_refusals(live: ApiClient, world: World) -> None:
    admin = world["admin"].headers
    for params, field in (
        ({"cursor": "x"}, "cursor"),
        ({"cursor": str(2**63)}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"kind": "x"}, "kind"),
    ):
        r = await live.get("/v1/webhook-deliveries", params=params, headers=admin)
        assert (r.status, (await r.json())["field"]) == (422, field), params
    for delivery_id in ("x", "0", str(2**63)):
        r = await live.post(f"/v1/webhook-deliveries/{delivery_id}/replay", headers=admin)
        assert r.status == 404, delivery_id
