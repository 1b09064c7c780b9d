"""The event outbox: people's events (written by triggers, see migration 0006), webhook
subscriptions and their deliveries.

Events are written in the transaction of the change that caused them; this module reads them
back for streams (by :class:`Position`, see :func:`committed_events`) and drives webhook
deliveries (claim, succeed, retry, dead letter, replay).

A removed subscription stays as an inactive row (``active = false``, its secret overwritten)
rather than being deleted: deleting it would make an event written at that moment fail its
whole transaction on the delivery's foreign key, and its dead letters stay listed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from maas.store.common import ListFilter, Page, page_of

SQL_RECORD = "SELECT maas_event($1, $2, $3::jsonb)"
# Committed events after a position: only those of transactions below the snapshot's xmin
# (every one of which has ended, so none can still appear there), by (xid, id), none with an id
# up to the position's floor. The horizon comes from the same snapshot as the rows, and with
# them: one row without an event when there is none. By the (person_id, xid, id) or (xid, id)
# index: the cost is the new events', never the history's.
_SQL_COMMITTED = """
WITH horizon AS MATERIALIZED (
    SELECT pg_snapshot_xmin(s) AS xmin, pg_snapshot_xmax(s) AS xmax FROM pg_current_snapshot() s
)
SELECT h.xmin AS horizon, h.xmax, e.id, e.xid, e.person_id, e.kind, e.payload::text AS payload,
       e.created_at{queued}
FROM horizon h LEFT JOIN LATERAL (
    SELECT * FROM event e
    WHERE {person} (e.xid, e.id) > ($1::xid8, $2::bigint) AND e.xid < h.xmin
      AND e.id > $5::bigint
      AND ($3::text[] IS NULL OR e.kind = ANY($3::text[]))
    ORDER BY e.xid, e.id
    LIMIT $4
) e ON true
ORDER BY e.xid, e.id
"""
SQL_COMMITTED_OF_PERSON = _SQL_COMMITTED.format(person="e.person_id = $6 AND", queued="")
SQL_COMMITTED = _SQL_COMMITTED.format(person="", queued="")
# Everyone's, and whether each queued a webhook delivery (by the index of migration 0013).
SQL_COMMITTED_QUEUED = _SQL_COMMITTED.format(
    person="",
    queued=",\n       EXISTS (SELECT FROM webhook_delivery d WHERE d.event_id = e.id) AS queued",
)
SQL_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())"
SQL_XMAX = "SELECT pg_snapshot_xmax(pg_current_snapshot())"
# A plain event id N (from before positions, or a client that kept Event.id) as a position:
# before every event of the person's with an id above N, committed (by the (person_id, id)
# index: the cost is theirs) or not (at or above the horizon).
SQL_ID_POSITION = """
SELECT least((SELECT min(xid) FROM event WHERE person_id = $1 AND id > $2),
             pg_snapshot_xmin(pg_current_snapshot()))
"""
# A subscription's columns never include its secrets; the previous secret's end shows only
# while it signs.
SQL_CREATE_WEBHOOK = """
INSERT INTO webhook (community_id, person_id, url, secret, created_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, community_id, person_id, url, active, created_at, secret_changed_at,
       CASE WHEN previous_secret_until > now() THEN previous_secret_until END
           AS previous_secret_until
"""
SQL_LIST_WEBHOOKS = """
SELECT id, community_id, person_id, url, active, created_at, secret_changed_at,
       CASE WHEN previous_secret_until > now() THEN previous_secret_until END
           AS previous_secret_until FROM webhook
WHERE active
  AND ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
  AND ($3::bool OR community_id = ANY($4::uuid[]))
  AND ($5::uuid IS NULL OR community_id = $5)
  AND ($6::uuid IS NULL OR person_id = $6)
ORDER BY created_at, id
LIMIT $7
"""
SQL_GET_WEBHOOK = """
SELECT id, community_id, person_id, url, active, created_at, secret_changed_at,
       CASE WHEN previous_secret_until > now() THEN previous_secret_until END
           AS previous_secret_until FROM webhook
WHERE id = $1 AND active
"""
# Every SET expression reads the row as it was. A secret given again (a retried PATCH) changes
# nothing, so a retry never makes the new secret its own previous one.
SQL_UPDATE_WEBHOOK = """
UPDATE webhook SET
    url = COALESCE($2, url),
    secret = COALESCE($3, secret),
    secret_changed_at = CASE WHEN $3 <> secret THEN now() ELSE secret_changed_at END,
    previous_secret = CASE
        WHEN $3 IS NULL OR $3 = secret THEN previous_secret
        WHEN $4::float8 > 0 THEN secret
    END,
    previous_secret_until = CASE
        WHEN $3 IS NULL OR $3 = secret THEN previous_secret_until
        WHEN $4 > 0 THEN now() + make_interval(secs => $4)
    END
WHERE id = $1 AND active
RETURNING id, community_id, person_id, url, active, created_at, secret_changed_at,
       CASE WHEN previous_secret_until > now() THEN previous_secret_until END
           AS previous_secret_until
"""
# The secrets are overwritten: nothing is signed with them any more, so they are not kept.
SQL_REMOVE_WEBHOOK = """
UPDATE webhook SET active = false, secret = gen_random_uuid()::text,
    previous_secret = NULL, previous_secret_until = NULL
WHERE id = $1 AND active
RETURNING id
"""
SQL_DROP_PENDING = """
DELETE FROM webhook_delivery WHERE webhook_id = $1 AND status = 'pending'
"""
# A claim leases the delivery (moves next_attempt_at ahead) so that two senders never post
# the same delivery at once; a sender that dies lets the lease expire and it is retried.
# Removed subscriptions are skipped: an event written while one was being removed can still
# have queued a delivery for it.
SQL_CLAIM_DUE = """
WITH due AS (
    SELECT d.id FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.active
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_delivery d
SET next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
FROM due, webhook w, event e
WHERE d.id = due.id AND w.id = d.webhook_id AND e.id = d.event_id
RETURNING d.id, d.attempts, w.url, w.secret,
          CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END AS previous_secret,
          e.id AS event_id, e.person_id, e.kind, e.payload::text AS payload, e.created_at
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
       w.active AS webhook_active, d.event_id, e.kind, d.status::text AS status, d.attempts,
       d.next_attempt_at, d.last_error, d.last_status_code, d.created_at, d.delivered_at
FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id JOIN event e ON e.id = d.event_id
WHERE d.status = $1::webhook_delivery_status AND d.id > $2
  AND ($3 OR w.community_id = ANY($4::uuid[]))
ORDER BY d.id
LIMIT $5
"""
SQL_GET_DELIVERY = """
SELECT d.id, d.webhook_id, w.community_id, w.person_id AS webhook_person_id, w.url,
       w.active AS webhook_active, d.event_id, e.kind, d.status::text AS status, d.attempts,
       d.next_attempt_at, d.last_error, d.last_status_code, d.created_at, d.delivered_at
FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id JOIN event e ON e.id = d.event_id
WHERE d.id = $1
"""
SQL_REPLAY = """
UPDATE webhook_delivery
SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
WHERE id = $1 AND status = 'dead'
  AND EXISTS (SELECT 1 FROM webhook w WHERE w.id = webhook_id AND w.active)
RETURNING id
"""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place among events in (xid, id) order: after the events of transactions below ``xid``
    and those of ``xid`` up to event ``id``. Written ``"<xid>-<id>"``.

    A position from a plain event id N (see :func:`id_position`) also has the ``floor`` N: no
    event with an id up to N comes after it, whatever its transaction (the client had those).
    Written ``"<xid>-<id>-<floor>"``; every position read on from it keeps the floor."""

    xid: int
    id: int
    floor: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.xid}-{self.id}" + (f"-{self.floor}" if self.floor else "")

    def past(self, event: Event) -> Position:
        """The position right after ``event`` (read from this one)."""
        return Position(event.xid, event.id, self.floor)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    person_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    xid: int = 0
    """The writing transaction (0 for events written before migration 0012)."""

    @property
    def position(self) -> Position:
        return Position(self.xid, self.id)


@dataclass(frozen=True, slots=True)
class Committed:
    """What :func:`committed_events` read, and where the next read starts."""

    events: list[Event]
    horizon: int
    """The snapshot's xmin: every transaction below it had ended; later ones may still add
    events (at or after ``Position(horizon, 0)``)."""
    xmax: int
    """Every transaction that had committed when the events were read is below it."""
    position: Position
    """After the last event read, or (a batch that was not full) the horizon: nothing before it
    is still to come."""
    queued: bool = False
    """Some event read queued a webhook delivery (asked for with ``queued=True`` only)."""


@dataclass(frozen=True, slots=True)
class Webhook:
    id: uuid.UUID
    community_id: uuid.UUID | None
    person_id: uuid.UUID | None
    url: str
    active: bool
    created_at: datetime
    secret_changed_at: datetime | None
    # While the secret replaced last still signs deliveries alongside the current one.
    previous_secret_until: datetime | None


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: int
    attempts: int
    url: str
    secret: str
    previous_secret: str | None  # still signing alongside ``secret`` (a rotation's overlap)
    event: Event


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: uuid.UUID
    community_id: uuid.UUID | None
    webhook_person_id: uuid.UUID | None
    url: str
    webhook_active: bool
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
        row.get("xid", 0),
    )


async def record(
    conn: asyncpg.Connection, person_id: uuid.UUID, kind: str, payload: dict[str, Any]
) -> None:
    """One event for one person, in the caller's transaction (for changes no trigger sees)."""
    await conn.execute(SQL_RECORD, person_id, kind, json.dumps(payload, default=str))


async def committed_events(
    conn: asyncpg.Connection,
    after: Position,
    *,
    person_id: uuid.UUID | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = 500,
    queued: bool = False,
) -> Committed:
    """Up to ``limit`` final events after ``after`` (of one person, or everyone's; of some
    kinds, or all) in (xid, id) order, in one query. Reading on from the returned ``position``
    never misses an event that commits later, whatever its id, and never reads one twice; an
    event not final yet (an older transaction is still open) comes in a later read. Start a
    reader at ``Position(await horizon(conn), 0)`` to get what commits from now on. Run it
    outside a transaction that wrote: its own xid holds the horizon. With ``queued`` (everyone's
    events only) it also tells whether any of them queued a webhook delivery."""
    kind_list = None if kinds is None else list(kinds)
    args = (after.xid, after.id, kind_list, limit, after.floor)
    if person_id is None:
        rows = await conn.fetch(SQL_COMMITTED_QUEUED if queued else SQL_COMMITTED, *args)
    else:
        rows = await conn.fetch(SQL_COMMITTED_OF_PERSON, *args, person_id)
    found = [_event(r) for r in rows if r["id"] is not None]
    horizon, xmax = rows[0]["horizon"], rows[0]["xmax"]
    # A full batch: more may follow at once. Else nothing before the horizon is left.
    if len(found) == limit:
        position = after.past(found[-1])
    elif Position(horizon, 0) > after:
        position = Position(horizon, 0, after.floor)
    else:
        position = after
    any_queued = (
        queued and person_id is None and any(r["queued"] for r in rows if r["id"] is not None)
    )
    return Committed(found, horizon, xmax, position, any_queued)


async def horizon(conn: asyncpg.Connection) -> int:
    """The current horizon: every transaction below it has ended (see :class:`Committed`)."""
    value: int = await conn.fetchval(SQL_HORIZON)
    return value


async def xmax(conn: asyncpg.Connection) -> int:
    """Every transaction of this cluster so far is below it: a position whose ``xid`` is
    higher was not made here (see :func:`maas.http.events.stream_events`)."""
    value: int = await conn.fetchval(SQL_XMAX)
    return value


async def id_position(conn: asyncpg.Connection, person_id: uuid.UUID, event_id: int) -> Position:
    """A plain event id (what streams sent before positions, or ``Event.id``) as a position:
    reading on from it gets every event of the person's with a higher id, each once, whenever
    it commits. Its floor is ``event_id``: the events up to it never come (by id, the client
    had them), even those of later transactions."""
    xid: int = await conn.fetchval(SQL_ID_POSITION, person_id, event_id)
    return Position(xid, 0, event_id)


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
    return _webhook(row)


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook(
        row["id"], row["community_id"], row["person_id"], row["url"], row["active"],
        row["created_at"], row["secret_changed_at"], row["previous_secret_until"],
    )  # fmt: skip


async def list_webhooks(
    conn: asyncpg.Connection,
    flt: ListFilter,
    *,
    person_id: uuid.UUID | None,
    see_all: bool,
    scope: Sequence[uuid.UUID],
) -> Page[Webhook]:
    """Subscriptions in the order they were made; without ``see_all`` only those of the
    communities in ``scope`` (a person's subscriptions are for admins)."""
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_WEBHOOKS,
        after_at,
        after_id,
        see_all,
        list(scope),
        flt.community_id,
        person_id,
        flt.limit + 1,
    )
    return page_of([_webhook(r) for r in rows], flt.limit)


async def get_webhook(conn: asyncpg.Connection, webhook_id: uuid.UUID) -> Webhook | None:
    """The subscription, or None if there is none or it was removed."""
    row = await conn.fetchrow(SQL_GET_WEBHOOK, webhook_id)
    return None if row is None else _webhook(row)


async def update_webhook(
    conn: asyncpg.Connection,
    webhook_id: uuid.UUID,
    *,
    url: str | None = None,
    secret: str | None = None,
    keep_previous_s: float = 0.0,
) -> Webhook | None:
    """Change an active subscription's URL, its secret, or both; ``None`` if there is no such
    active subscription. A new secret signs every delivery from now on (pending ones and
    replays included); with ``keep_previous_s`` > 0 the secret it replaces signs them too, for
    that long. Giving the current secret again changes nothing about the secrets."""
    row = await conn.fetchrow(SQL_UPDATE_WEBHOOK, webhook_id, url, secret, keep_previous_s)
    return None if row is None else _webhook(row)


async def remove_webhook(conn: asyncpg.Connection, webhook_id: uuid.UUID) -> bool:
    """Unsubscribe: no new deliveries, and the pending ones are dropped (never sent). Dead and
    delivered ones stay as the record of what the app got and missed. False if there was no
    such active subscription. Run it in a transaction."""
    if await conn.fetchval(SQL_REMOVE_WEBHOOK, webhook_id) is None:
        return False
    await conn.execute(SQL_DROP_PENDING, webhook_id)
    return True


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_s: float) -> list[DueDelivery]:
    rows = await conn.fetch(SQL_CLAIM_DUE, limit, lease_s)
    return [
        DueDelivery(
            r["id"],
            r["attempts"],
            r["url"],
            r["secret"],
            r["previous_secret"],
            _event(r, "event_id"),
        )
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
    """A dead delivery is due again with fresh attempts; False if it was not dead or its
    subscription was removed."""
    return await conn.fetchval(SQL_REPLAY, delivery_id) is not None
