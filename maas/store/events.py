"""The event outbox: people's events (written by triggers, see migration 0006), webhook
subscriptions and their deliveries.

Events are written in the transaction of the change that caused them; this module reads them
back for streams and drives webhook deliveries (claim, succeed, retry, dead letter, replay).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

CHANNEL = "maas_event"
"""The NOTIFY channel; each payload is ``"<person_id> <event_id>"``."""

SQL_RECORD = "SELECT maas_event($1, $2, $3::jsonb)"
SQL_EVENTS_AFTER = """
SELECT id, person_id, kind, payload::text AS payload, created_at FROM event
WHERE person_id = $1 AND id > $2
ORDER BY id
LIMIT $3
"""
# Ids are taken when a row is inserted but become visible at commit, so a transaction that
# commits late can add an id below one already sent. A live stream therefore also looks back
# at the recent past (by the writing transaction's start time) for ids it has not sent.
SQL_RECENT_EVENTS = """
SELECT id, person_id, kind, payload::text AS payload, created_at FROM event
WHERE person_id = $1 AND id > $2 AND id <= $3 AND created_at > now() - make_interval(secs => $4)
ORDER BY id
"""
SQL_LAST_EVENT_ID = "SELECT coalesce(max(id), 0) FROM event WHERE person_id = $1"
SQL_CREATE_WEBHOOK = """
INSERT INTO webhook (community_id, person_id, url, secret, created_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, community_id, person_id, url, active, created_at
"""
# A claim leases the delivery (moves next_attempt_at ahead) so that two senders never post
# the same delivery at once; a sender that dies lets the lease expire and it is retried.
SQL_CLAIM_DUE = """
WITH due AS (
    SELECT d.id FROM webhook_delivery d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_delivery d
SET next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
FROM due, webhook w, event e
WHERE d.id = due.id AND w.id = d.webhook_id AND e.id = d.event_id
RETURNING d.id, d.attempts, w.url, w.secret, e.id AS event_id, e.person_id, e.kind,
          e.payload::text AS payload, e.created_at
"""
SQL_DELIVERED = """
UPDATE webhook_delivery
SET status = 'delivered', attempts = attempts + 1, delivered_at = now(), updated_at = now(),
    last_status_code = $2, last_error = NULL
WHERE id = $1
"""
SQL_FAILED = """
UPDATE webhook_delivery
SET attempts = attempts + 1, updated_at = now(), last_status_code = $2, last_error = $3,
    status = CASE WHEN attempts + 1 >= $4 THEN 'dead' ELSE 'pending' END::webhook_delivery_status,
    next_attempt_at = now() + make_interval(secs => $5 * power(2, attempts))
WHERE id = $1
RETURNING status::text
"""
SQL_LIST_DELIVERIES = """
SELECT d.id, d.webhook_id, w.community_id, w.person_id AS webhook_person_id, w.url,
       d.event_id, e.kind, d.status::text AS status, d.attempts, d.next_attempt_at,
       d.last_error, d.last_status_code, d.created_at, d.delivered_at
FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id JOIN event e ON e.id = d.event_id
WHERE d.status = $1::webhook_delivery_status AND d.id > $2
  AND ($3 OR w.community_id = ANY($4::uuid[]))
ORDER BY d.id
LIMIT $5
"""
SQL_GET_DELIVERY = """
SELECT d.id, d.webhook_id, w.community_id, w.person_id AS webhook_person_id, w.url,
       d.event_id, e.kind, d.status::text AS status, d.attempts, d.next_attempt_at,
       d.last_error, d.last_status_code, d.created_at, d.delivered_at
FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id JOIN event e ON e.id = d.event_id
WHERE d.id = $1
"""
SQL_REPLAY = """
UPDATE webhook_delivery
SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
WHERE id = $1 AND status = 'dead'
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    person_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Webhook:
    id: uuid.UUID
    community_id: uuid.UUID | None
    person_id: uuid.UUID | None
    url: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: int
    attempts: int
    url: str
    secret: str
    event: Event


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: uuid.UUID
    community_id: uuid.UUID | None
    webhook_person_id: uuid.UUID | None
    url: str
    event_id: int
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


def _event(row: asyncpg.Record, id_key: str = "id") -> Event:
    return Event(
        row[id_key],
        row["person_id"],
        row["kind"],
        json.loads(row["payload"]),
        row["created_at"],
    )


async def record(
    conn: asyncpg.Connection, person_id: uuid.UUID, kind: str, payload: dict[str, Any]
) -> None:
    """One event for one person, in the caller's transaction (for changes no trigger sees)."""
    await conn.execute(SQL_RECORD, person_id, kind, json.dumps(payload, default=str))


async def events_after(
    conn: asyncpg.Connection, person_id: uuid.UUID, after_id: int, *, limit: int = 500
) -> list[Event]:
    return [_event(r) for r in await conn.fetch(SQL_EVENTS_AFTER, person_id, after_id, limit)]


async def recent_events(
    conn: asyncpg.Connection, person_id: uuid.UUID, first_id: int, last_id: int, window_s: float
) -> list[Event]:
    """Events with ids in ``(first_id, last_id]`` written by transactions that started less
    than ``window_s`` ago (late commits a stream may not have sent yet)."""
    rows = await conn.fetch(SQL_RECENT_EVENTS, person_id, first_id, last_id, window_s)
    return [_event(r) for r in rows]


async def last_event_id(conn: asyncpg.Connection, person_id: uuid.UUID) -> int:
    value: int = await conn.fetchval(SQL_LAST_EVENT_ID, person_id)
    return value


async def create_webhook(
    conn: asyncpg.Connection,
    *,
    community_id: uuid.UUID | None,
    person_id: uuid.UUID | None,
    url: str,
    secret: str,
    created_by: uuid.UUID,
) -> Webhook:
    row = await conn.fetchrow(SQL_CREATE_WEBHOOK, community_id, person_id, url, secret, created_by)
    assert row is not None
    return Webhook(
        row["id"], row["community_id"], row["person_id"], row["url"], row["active"],
        row["created_at"],
    )  # fmt: skip


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_s: float) -> list[DueDelivery]:
    rows = await conn.fetch(SQL_CLAIM_DUE, limit, lease_s)
    return [
        DueDelivery(r["id"], r["attempts"], r["url"], r["secret"], _event(r, "event_id"))
        for r in rows
    ]


async def delivered(conn: asyncpg.Connection, delivery_id: int, status_code: int) -> None:
    await conn.execute(SQL_DELIVERED, delivery_id, status_code)


async def failed(
    conn: asyncpg.Connection,
    delivery_id: int,
    *,
    status_code: int | None,
    error: str,
    max_attempts: int,
    backoff_s: float,
) -> str:
    """Count a failed attempt; returns the new status ('pending' to retry later, or 'dead')."""
    status: str = await conn.fetchval(
        SQL_FAILED, delivery_id, status_code, error[:500], max_attempts, backoff_s
    )
    return status


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(**dict(row))


async def list_deliveries(
    conn: asyncpg.Connection,
    *,
    status: str,
    after_id: int,
    see_all: bool,
    scope: list[uuid.UUID],
    limit: int,
) -> list[Delivery]:
    rows = await conn.fetch(SQL_LIST_DELIVERIES, status, after_id, see_all, scope, limit)
    return [_delivery(r) for r in rows]


async def get_delivery(conn: asyncpg.Connection, delivery_id: int) -> Delivery | None:
    row = await conn.fetchrow(SQL_GET_DELIVERY, delivery_id)
    return None if row is None else _delivery(row)


async def replay(conn: asyncpg.Connection, delivery_id: int) -> bool:
    """A dead delivery is due again with fresh attempts; False if it was not dead."""
    return await conn.fetchval(SQL_REPLAY, delivery_id) is not None
