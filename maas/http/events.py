"""People's live events and webhook subscriptions.

* ``GET /v1/me/events`` — a Server-Sent Events stream of the caller's events. Each frame's
  ``id`` is the stream's position after it (``"<xid>-<event id>"``); a client that reconnects
  with it as ``Last-Event-ID`` (header, or the ``last_event_id`` query parameter) first gets
  every event after it from the table, then live ones. Without it the stream starts now, and
  its first frame (``id:`` only) is that position. Each event's data also carries it
  (``position``). A comment line keeps idle connections open (``event_keepalive_s``). A position
  this cluster cannot have made (its ``xid`` is above every transaction so far: the database
  was restored from a dump or moved by logical replication) is refused with 409
  naming the parameter: the client reconnects without it and starts now.
* ``POST /v1/webhooks`` — operators (of the community) and admins subscribe an app back end
  to a community's events, or (admins) to one person's. ``GET /v1/webhooks`` lists them,
  ``GET /v1/webhooks/{id}`` shows one, ``DELETE /v1/webhooks/{id}`` unsubscribes. Operators
  see their communities' subscriptions, admins every one; a subscription out of the caller's
  reach is not found. No answer contains any part of a secret.
* ``GET /v1/webhook-deliveries?status=dead`` — the dead-letter list (or ``pending`` /
  ``delivered``); ``POST /v1/webhook-deliveries/{id}/replay`` sends one again.

Why a stream loses nothing. Ids come from a sequence at insert but become visible at commit, so
they do not appear in order. A stream therefore sends events by their writing transaction
(``xid``), then id, and only *final* ones: those of transactions below the read's horizon (its
snapshot's xmin; every one of those has ended, so nothing can still appear below it; see
:func:`maas.store.events.committed_events`). Its position only moves forward over final events,
so a resumed stream gets exactly what came after, each event once, whenever it committed. A
stream that starts now starts at the horizon: it also sends what was not final yet when it
opened. A plain event id N (the ``id`` older streams sent, or ``Event.id``) is still accepted:
it sends every event of the caller's with an id above N, each once; its positions carry N as a
floor (``"<xid>-<id>-<N>"``), so resuming from them never sends an event up to N either (see
:func:`maas.store.events.id_position`).

The price: an event is sent once every transaction older than its own has ended. A write
transaction that stays open holds back every younger event (and the instant answers, which read
the same way), whatever it writes and whichever database of the cluster it is in: ``import-osm``,
a GTFS import and migrations each run in one transaction, so live events wait while they run.
Nothing here limits a session left idle in a transaction: set
``idle_in_transaction_session_timeout`` on the role or server (see README). The hub logs the
transaction holding the horizon when it has not moved for long. Read-only transactions hold
nothing back.

How it stays cheap. A stream reads the table once, when it opens: its events after its
position, in one indexed query (the cost is the new events', never the history's). From then
on the process's event hub brings it its person's events from the hub's one poll for all
streams (:class:`maas.notify.EventHub`); only a stream that fell far behind reads the table
again.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from maas import appkeys
from maas.domain.models import Principal
from maas.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    UnavailableError,
)
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
HUB_READY_S = 10.0
"""A stream opened right after start waits this long for the event hub's first connection."""
DELIVERY_STATUSES = ("pending", "delivered", "dead")
# How long a replaced webhook secret keeps signing alongside the new one, unless told (hours).
KEEP_PREVIOUS_SECRET_H = 24
MAX_ID = 2**63 - 1
"""Event and delivery ids are bigints: anything larger names nothing (and must not reach SQL)."""

_POSITION = re.compile(r"([0-9]{1,19})(?:-([0-9]{1,19})(?:-([0-9]{1,19}))?)?")
_STREAM_POSITION = {
    "type": "string",
    "pattern": "^[0-9]+(-[0-9]+){0,2}$",
    "description": "a stream position: the id of an SSE frame, `<transaction>-<Event.id>` "
    "(`<transaction>-<Event.id>-<floor>` on streams resumed from a plain id), or a plain "
    "Event.id N: every event of the caller's with an id above N",
}
FOREIGN_POSITION = (
    "is a position from another database cluster (restored or replicated); "
    "reconnect without Last-Event-ID"
)
STREAM_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "Resume: first every event after this position (the last SSE id "
        "received), then live ones; nothing is missed or sent twice, whenever an event "
        "commits. Without it the stream starts now; its first frame carries the position. "
        "A position this database cannot have made (it was restored from a dump or "
        "replicated elsewhere since) is refused with 409, naming this parameter: reconnect "
        "without it (events of the meantime are in the app's own state, not the stream).",
        "schema": _STREAM_POSITION,
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "description": "The same as the Last-Event-ID header, for clients that cannot set "
        "headers (the header wins).",
        "schema": _STREAM_POSITION,
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


def _last_event_id(request: web.Request) -> tuple[events.Position | int | None, str]:
    """The position to resume from (a position, a plain event id, or None: start now) and
    the name of the header or parameter it came from."""
    name, raw = "Last-Event-ID", request.headers.get("Last-Event-ID")
    if not raw:
        name, raw = "last_event_id", request.query.get("last_event_id")
    if raw is None or raw == "":
        return None, name
    found = _POSITION.fullmatch(raw)
    if found is None or any(int(g) > MAX_ID for g in found.groups() if g is not None):
        raise InputError("Last-Event-ID", "is not a stream position")
    first, second, floor = found.groups()
    if second is None:
        return int(first), name
    return events.Position(int(first), int(second), int(floor or 0)), name


def _sse(event: events.Event, position: events.Position) -> bytes:
    """One frame: ``position`` (after the event) is its id and, for clients that resume from
    what they stored of the data, also in the data."""
    data = json.dumps({**event_json(event), "position": str(position)}, separators=(",", ":"))
    return f"id: {position}\nevent: {event.kind}\ndata: {data}\n\n".encode()


async def stream_events(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    hub = _hub(request)
    settings = request.app[appkeys.SETTINGS]
    resume, name = _last_event_id(request)
    if not hub.ready.is_set():  # the service has just started
        try:
            await asyncio.wait_for(hub.ready.wait(), HUB_READY_S)
        except TimeoutError:
            raise UnavailableError("live events are not available yet; retry") from None
    # Follow before reading, so that nothing committed in between is missed.
    follower = hub.follow(who.person_id)
    try:
        async with pool(request).acquire() as conn:
            if resume is None:  # everything not final yet is still to come
                position = events.Position(await events.horizon(conn), 0)
            elif isinstance(resume, int):
                position = await events.id_position(conn, who.person_id, resume)
            elif resume.xid > await events.xmax(conn):
                # Not made here: reading on from it would send nothing until this cluster's
                # transactions got that far.
                raise ConflictError(FOREIGN_POSITION, field=name)
            else:
                position = resume
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        # The position as the client's last event id: a reconnect before any event resumes here.
        await response.write(f"retry: 2000\nid: {position}\n\n: connected\n\n".encode())
        read_table = True  # what came before the hub's batches reach this stream
        while not hub.closing:
            mail = follower.take()
            if read_table or mail.catch_up:
                async with pool(request).acquire() as conn:
                    read = await events.committed_events(
                        conn, position, person_id=who.person_id, limit=STREAM_BATCH
                    )
                for event in read.events:
                    await response.write(_sse(event, position.past(event)))
                # Past everything the hub brought before this read (its horizon is later).
                position = read.position
                read_table = len(read.events) == STREAM_BATCH
                if read_table:
                    continue
            else:
                for event in mail.events:
                    # What the table read already sent, and what the floor excludes, is skipped.
                    if event.position > position and event.id > position.floor:
                        position = position.past(event)
                        await response.write(_sse(event, position))
                if mail.through is not None and mail.through > position:
                    position = events.Position(mail.through.xid, mail.through.id, position.floor)
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
        "secret_changed_at": utc(hook.secret_changed_at),
        "previous_secret_until": utc(hook.previous_secret_until),
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


def _check_url(url: str) -> None:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host:
        raise InputError("url", "needs a host")


async def create_webhook(request: web.Request) -> web.Response:
    who = await principal(request)
    if not (who.is_admin or who.operator_of):
        raise ForbiddenError("only operators and admins subscribe webhooks")
    body = await read_body(request, "webhook-create")
    url = body["url"]
    _check_url(url)
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


async def patch_webhook(request: web.Request) -> web.Response:
    """A new URL or secret (see :func:`maas.store.events.update_webhook`). A delivery the
    sender is posting at this moment still goes out as it was claimed."""
    who = await principal(request)
    _staff(who)
    body = await read_body(request, "webhook-patch")
    if "url" in body:
        _check_url(body["url"])
    async with pool(request).acquire() as conn, conn.transaction():
        hook = await events.get_webhook(conn, path_id(request))
        if hook is None or not _reaches(who, hook):
            raise NotFoundError("no such webhook subscription")
        updated = await events.update_webhook(
            conn,
            hook.id,
            url=body.get("url"),
            secret=body.get("secret"),
            keep_previous_s=3600.0 * body.get("keep_previous_secret_h", KEEP_PREVIOUS_SECRET_H),
        )
    if updated is None:  # removed by another request since it was read
        raise NotFoundError("no such webhook subscription")
    return web.json_response(webhook_json(updated))


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
