"""People's live events and webhook subscriptions.

* ``GET /v1/me/events`` — a Server-Sent Events stream of the caller's events. Each event
  carries its ``id``; a client that reconnects with ``Last-Event-ID`` (header, or the
  ``last_event_id`` query parameter) first gets everything after it from the table, then live
  events. Without it the stream starts with what happens from now on. A comment line keeps
  idle connections open (``event_keepalive_s``).
* ``POST /v1/webhooks`` — operators (of the community) and admins subscribe an app back end
  to a community's events, or (admins) to one person's. ``GET /v1/webhooks`` lists them,
  ``GET /v1/webhooks/{id}`` shows one, ``DELETE /v1/webhooks/{id}`` unsubscribes. Operators
  see their communities' subscriptions, admins every one; a subscription out of the caller's
  reach is not found. No answer contains any part of a secret.
* ``GET /v1/webhook-deliveries?status=dead`` — the dead-letter list (or ``pending`` /
  ``delivered``); ``POST /v1/webhook-deliveries/{id}/replay`` sends a dead one again.

How a live stream stays cheap and loses nothing. The listener (:class:`maas.notify.EventHub`)
hands each notified event id to the streams of that event's person only. A woken stream reads,
in one query, the events after the last id it sent and the notified ids at or below it that it
has not sent; ids it sent already cost nothing. So a wake-up reads the new events, never the
person's history.

Ids come from a sequence when the row is inserted but become visible at commit, so a
transaction that commits late can add an id *below* one already sent (``test.slow`` takes id
9, ``test.fast`` takes 10 and commits first; 10 is sent, then 9 commits). Its notification
names 9, so the stream sends it as soon as it commits, however long the transaction ran; a
stream sends events in id order except for such late commits, and never one twice. A late
event's frame has no ``id:`` line: the SSE last-event id (what a browser sends back as
``Last-Event-ID``) stays the highest id sent, so a reconnect does not send 10 again. When
notifications may have been lost (the listener reconnected), a stream also looks back
``LATE_COMMIT_WINDOW_S`` (by the writing transaction's start) for ids below its last it has
not sent. What this cannot see: an event below the client's ``Last-Event-ID`` that commits
while the client is disconnected, and one below the start of a stream opened without
``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from maas import appkeys
from maas.domain.models import Principal
from maas.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from maas.http.common import (
    idempotent,
    list_filter,
    page_json,
    parse_uuid,
    path_id,
    pool,
    principal,
    read_body,
    utc,
)
from maas.http.location import located
from maas.notify import EventHub, event_json
from maas.store import events

STREAM_BATCH = 500
LATE_COMMIT_WINDOW_S = 120.0
"""After a listener outage (notifications lost): how long a transaction may have run between
writing an event and committing it and still have the event sent in spite of a higher id sent
before it. With the listener up, a late commit's notification names it, whatever its age."""
SENT_KEPT = 2 * STREAM_BATCH
"""How many sent ids a stream remembers (to recognise late commits and ids already sent); a
late commit below the oldest of them is not sent."""
DELIVERY_STATUSES = ("pending", "delivered", "dead")
MAX_ID = 2**63 - 1
"""Event and delivery ids are bigints: anything larger names nothing (and must not reach SQL)."""

_EVENT_ID = {"type": "string", "pattern": "^[0-9]+$", "description": "an Event.id"}
STREAM_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "Resume: first every event after this id, then live ones. Without it "
        "the stream starts with what happens from now on. A late-committed event with an id "
        "below one already sent comes without an SSE id line, so the last id seen stays "
        "the one to resume from.",
        "schema": _EVENT_ID,
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "description": "The same as the Last-Event-ID header, for clients that cannot set "
        "headers (the header wins).",
        "schema": _EVENT_ID,
    },
)
DELIVERY_LIST_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "status",
        "in": "query",
        "required": False,
        "schema": {"enum": list(DELIVERY_STATUSES), "default": "dead"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "schema": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "next_cursor of the previous page",
        },
    },
)
WEBHOOK_LIST_QUERY = ("limit", "cursor", "community_id")
"""The shared list parameters the subscription list takes (and ``person_id``, below)."""
WEBHOOK_LIST_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "person_id",
        "in": "query",
        "required": False,
        "description": "Only the subscriptions to this person's events (admins).",
        "schema": {"type": "string", "format": "uuid"},
    },
)
DELIVERY_ID_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "description": "a WebhookDelivery.id"},
    },
)


def _hub(request: web.Request) -> EventHub:
    hub = request.app[appkeys.EVENT_HUB]
    assert isinstance(hub, EventHub)
    return hub


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InputError("Last-Event-ID", "is not an event id") from None
    if not 0 <= value <= MAX_ID:
        raise InputError("Last-Event-ID", "is not an event id")
    return value


def _sse(event: events.Event, *, cursor: bool = True) -> bytes:
    """The event's frame; without ``cursor`` no ``id:`` line (a late commit: the client's
    last-event id stays the highest one sent)."""
    data = json.dumps(event_json(event), separators=(",", ":"))
    head = f"id: {event.id}\n" if cursor else ""
    return f"{head}event: {event.kind}\ndata: {data}\n\n".encode()


class _Sent:
    """The ids a stream sent above its floor (nothing at or below the floor is sent: the
    client has it, or it is too old to look for). Bounded: the floor rises as it fills."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.last = floor
        self._ids: set[int] = set()

    def __contains__(self, event_id: int) -> bool:
        return event_id <= self.floor or event_id in self._ids

    def add(self, event_id: int) -> None:
        self._ids.add(event_id)
        self.last = max(self.last, event_id)
        if len(self._ids) > 2 * SENT_KEPT:
            self.floor = sorted(self._ids)[-SENT_KEPT]
            self._ids = {i for i in self._ids if i > self.floor}


async def stream_events(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    hub = _hub(request)
    settings = request.app[appkeys.SETTINGS]
    last = _last_event_id(request)
    # Follow before reading, so that nothing committed in between is missed.
    follower = hub.follow(who.person_id)
    try:
        if last is None:
            async with pool(request).acquire() as conn:
                last = await events.last_event_id(conn, who.person_id)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(b"retry: 2000\n: connected\n\n")
        sent = _Sent(last)
        read = True  # the first round reads what came after ``last``
        while not hub.closing:
            notified, catch_up = follower.take()
            late = sorted(i for i in notified if i < sent.last and i not in sent)
            if read or catch_up or late or any(i > sent.last for i in notified):
                async with pool(request).acquire() as conn:
                    found = []
                    if catch_up:
                        found = await events.recent_events(
                            conn, who.person_id, sent.floor, sent.last, LATE_COMMIT_WINDOW_S
                        )
                    last_before = sent.last
                    found += await events.stream_events(
                        conn, who.person_id, last_before, late, limit=STREAM_BATCH
                    )
                newer = 0
                for event in found:
                    if event.id in sent:
                        continue
                    newer += event.id > last_before
                    await response.write(_sse(event, cursor=event.id > sent.last))
                    sent.add(event.id)
                read = newer == STREAM_BATCH  # a full batch: read on at once
                if read:
                    continue
            try:
                await asyncio.wait_for(follower.wake.wait(), settings.event_keepalive_s)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away; it resumes with Last-Event-ID
    finally:
        hub.unfollow(who.person_id, follower)
    return response


def webhook_json(hook: events.Webhook) -> dict[str, Any]:
    return {
        "id": str(hook.id),
        "community_id": None if hook.community_id is None else str(hook.community_id),
        "person_id": None if hook.person_id is None else str(hook.person_id),
        "url": hook.url,
        "active": hook.active,
        "created_at": utc(hook.created_at),
    }


def delivery_json(d: events.Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": str(d.webhook_id),
        "community_id": None if d.community_id is None else str(d.community_id),
        "url": d.url,
        "webhook_active": d.webhook_active,
        "event_id": d.event_id,
        "kind": d.kind,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": utc(d.next_attempt_at),
        "last_error": d.last_error,
        "last_status_code": d.last_status_code,
        "created_at": utc(d.created_at),
        "delivered_at": utc(d.delivered_at),
    }


async def create_webhook(request: web.Request) -> web.Response:
    who = await principal(request)
    if not (who.is_admin or who.operator_of):
        raise ForbiddenError("only operators and admins subscribe webhooks")
    body = await read_body(request, "webhook-create")
    url = body["url"]
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host:
        raise InputError("url", "needs a host")
    community_raw, person_raw = body.get("community_id"), body.get("person_id")
    if (community_raw is None) == (person_raw is None):
        raise InputError("community_id", "give either community_id or person_id")
    community_id = person_id = None
    if community_raw is not None:
        community_id = uuid.UUID(community_raw)
        if not who.operates(community_id):
            raise ForbiddenError("you do not operate this community", field="community_id")
    else:
        person_id = uuid.UUID(person_raw)
        if not who.is_admin:
            raise ForbiddenError("only admins subscribe to one person's events", field="person_id")

    async def action(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        try:
            hook = await events.create_webhook(
                conn,
                community_id=community_id,
                person_id=person_id,
                url=url,
                secret=body["secret"],
                created_by=who.person_id,
            )
        except asyncpg.ForeignKeyViolationError:
            raise NotFoundError("no such community or person") from None
        return 201, webhook_json(hook)

    return located(await idempotent(request, who, body, action), "/v1/webhooks/{id}")


def _staff(who: Principal) -> None:
    if not (who.is_admin or who.operator_of):
        raise ForbiddenError("only operators and admins manage webhooks")


def _reaches(who: Principal, hook: events.Webhook) -> bool:
    """A community's subscription: its operators and admins; a person's: admins."""
    return who.is_admin or (hook.community_id is not None and who.operates(hook.community_id))


async def list_webhooks(request: web.Request) -> web.Response:
    who = await principal(request)
    _staff(who)
    flt = list_filter(request.query, accepted=(*WEBHOOK_LIST_QUERY, "person_id"))
    raw_person = request.query.get("person_id")
    person_id = None if raw_person is None else parse_uuid(raw_person, "person_id")
    async with pool(request).acquire() as conn:
        page = await events.list_webhooks(
            conn, flt, person_id=person_id, see_all=who.is_admin, scope=sorted(who.operator_of)
        )
    return web.json_response(page_json(page, webhook_json))


async def get_webhook(request: web.Request) -> web.Response:
    who = await principal(request)
    _staff(who)
    async with pool(request).acquire() as conn:
        hook = await events.get_webhook(conn, path_id(request))
    if hook is None or not _reaches(who, hook):
        raise NotFoundError("no such webhook subscription")
    return web.json_response(webhook_json(hook))


async def delete_webhook(request: web.Request) -> web.Response:
    """Unsubscribe (see :func:`maas.store.events.remove_webhook` for what becomes of the
    deliveries). A delivery the sender is posting at this moment may still arrive."""
    who = await principal(request)
    _staff(who)
    async with pool(request).acquire() as conn, conn.transaction():
        hook = await events.get_webhook(conn, path_id(request))
        if (
            hook is None
            or not _reaches(who, hook)
            or not await events.remove_webhook(conn, hook.id)
        ):
            raise NotFoundError("no such webhook subscription")
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    who = await principal(request)
    if not (who.is_admin or who.operator_of):
        raise ForbiddenError("only operators and admins see webhook deliveries")
    for name in request.query:
        if name not in ("status", "limit", "cursor"):
            raise InputError(name, "is not a parameter of this list")
    status = request.query.get("status", "dead")
    if status not in DELIVERY_STATUSES:
        raise InputError("status", f"must be one of {', '.join(DELIVERY_STATUSES)}")
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise InputError("limit", "is not a whole number") from None
    if not 1 <= limit <= 200:
        raise InputError("limit", "must be 1 to 200")
    try:
        after = int(request.query.get("cursor", "0"))
    except ValueError:
        raise InputError("cursor", "is not a next_cursor of this list") from None
    if not 0 <= after <= MAX_ID:
        raise InputError("cursor", "is not a next_cursor of this list")
    async with pool(request).acquire() as conn:
        items = await events.list_deliveries(
            conn,
            status=status,
            after_id=after,
            see_all=who.is_admin,
            scope=sorted(who.operator_of),
            limit=limit,
        )
    cursor = str(items[-1].id) if len(items) == limit else None
    return web.json_response({"items": [delivery_json(d) for d in items], "next_cursor": cursor})


async def replay_delivery(request: web.Request) -> web.Response:
    who = await principal(request)
    try:
        delivery_id = int(request.match_info["id"])
    except ValueError:
        raise NotFoundError("no such delivery") from None
    if not 1 <= delivery_id <= MAX_ID:
        raise NotFoundError("no such delivery")
    async with pool(request).acquire() as conn, conn.transaction():
        found = await events.get_delivery(conn, delivery_id)
        if found is None or not (
            who.is_admin or (found.community_id is not None and who.operates(found.community_id))
        ):
            raise NotFoundError("no such delivery")
        if not await events.replay(conn, delivery_id):
            if not found.webhook_active:
                raise ConflictError("its webhook subscription was removed")
            raise ConflictError(f"only dead deliveries are replayed; this one is {found.status}")
        again = await events.get_delivery(conn, delivery_id)
    assert again is not None
    _hub(request).wake_senders()
    return web.json_response(delivery_json(again), status=202)


async def _on_shutdown(app: web.Application) -> None:
    hub = app.get(appkeys.EVENT_HUB)
    if isinstance(hub, EventHub):
        hub.closing = True
        hub.wake_all()


def setup_routes(app: web.Application) -> None:
    """Stop open streams when the service shuts down (the routes are in the app's table)."""
    app.on_shutdown.append(_on_shutdown)
