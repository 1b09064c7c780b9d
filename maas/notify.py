"""Live delivery of the event outbox: one LISTEN connection per process waking the streams,
and the webhook sender.

The listener never carries events itself: a notification (``"<person> <event id> <deliveries>
<xid>"``, migration 0012) tells that person's streams only how far the horizon has to move
before the event is final (past its transaction, ``xid``); each stream reads its final events
from the table (see :mod:`maas.http.events`). A stream that read before the horizon had moved
far enough asks the hub to wake it when it has: while any stream waits, the hub polls the
horizon on the listener's connection (``HORIZON_POLL_FIRST_S``, doubling up to
``HORIZON_POLL_MAX_S``), one cheap query for all of them. If the horizon has not moved for
``HORIZON_STUCK_S`` while streams wait, it logs a warning naming the open transaction that
holds it (an import, a migration, a session left idle in a transaction). A notification that
is lost (the listener's connection dropped, the database restarted) loses nothing: on
reconnecting the hub tells every stream to catch up, and each reads what was committed
meanwhile. The webhook sender is woken only by events that queued a delivery.

Webhooks are posted by a background task from ``webhook_delivery`` rows (the outbox, written in
the transaction of the change). Each body is signed: the header ``Maas-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the subscription's secret>``. A slow
or failing receiver costs at most ``webhook_timeout_s`` of one of ``webhook_concurrency``
slots; failures are retried with exponential back-off and end in the dead-letter list.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from maas import appkeys, db
from maas.settings import Settings
from maas.store import events
from maas.tasks import cancel_and_wait

log = logging.getLogger("maas.notify")

SIGNATURE_HEADER = "Maas-Signature"
HORIZON_POLL_FIRST_S = 0.02
HORIZON_POLL_MAX_S = 0.25
"""While streams wait for the horizon: the first poll after this, then ever less often up to
this (a long transaction holds it); back to the first when a poll woke a stream."""
HORIZON_STUCK_S = 30.0
"""Streams have waited this long and the horizon has not moved: log the oldest open
transaction (then again at most this often while it lasts)."""
# The transaction holding the horizon: the oldest with an xid, in any database of the cluster
# (backend_xid is shown for every session; the start time only with pg_read_all_stats).
SQL_HORIZON_HOLDER = """
SELECT pid, datname, usename, application_name, state,
       extract(epoch FROM now() - xact_start) AS age_s
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL
ORDER BY age(backend_xid) DESC
LIMIT 1
"""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """Whether a signature header matches the body (for receivers and tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def event_json(event: events.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "person_id": str(event.person_id),
        "kind": event.kind,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


@dataclass(eq=False)
class Follower:
    """One stream's mailbox: the horizon that makes final every event notified for its person
    since it last looked (0: none), and whether notifications may have been lost meanwhile."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    need: int = 0
    catch_up: bool = False

    def take(self) -> tuple[int, bool]:
        """What was notified (and whether to catch up), emptying the mailbox. Clears ``wake``:
        anything notified after this call wakes it again."""
        self.wake.clear()
        need, catch_up = self.need, self.catch_up
        self.need, self.catch_up = 0, False
        return need, catch_up


class EventHub:
    """Fans notifications out to the streams of this process; one listener connection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # By the person's id as PostgreSQL writes it (``uuid::text``): no parsing per event.
        self._followers: dict[str, set[Follower]] = {}
        self._any: set[asyncio.Event] = set()
        self._senders: set[asyncio.Event] = set()
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[Follower | asyncio.Event, int] = {}  # the horizon each waits for
        self._wanted = asyncio.Event()  # set when a stream starts waiting
        self._query = asyncio.Lock()  # one query at a time on the listener's connection
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.closing = False

    def follow(self, person_id: uuid.UUID) -> Follower:
        """A mailbox for the person's event ids. Call :meth:`unfollow` when done."""
        follower = Follower()
        self._followers.setdefault(str(person_id), set()).add(follower)
        return follower

    def unfollow(self, person_id: uuid.UUID, follower: Follower) -> None:
        self._waiting.pop(follower, None)
        key = str(person_id)
        followers = self._followers.get(key)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self._followers[key]

    def wait_for_horizon(self, waiter: Follower | asyncio.Event, need: int | None) -> None:
        """Wake ``waiter`` (a stream, or a :meth:`subscribe` event) once the horizon is at
        least ``need`` (None: no longer). A reader of everyone's events, woken by any
        notification, can wait for the ``xmax`` of its read: what was notified then is below."""
        if need is None:
            self._waiting.pop(waiter, None)
            return
        self._waiting[waiter] = max(need, self._waiting.get(waiter, 0))
        self._wanted.set()

    def subscribe(self, person_id: None = None) -> asyncio.Event:
        """An event set on every notification, whoever it is for (a person's streams
        :meth:`follow` instead). Call :meth:`unsubscribe` when done."""
        wake = asyncio.Event()
        self._any.add(wake)
        return wake

    def unsubscribe(self, person_id: None, wake: asyncio.Event) -> None:
        self._any.discard(wake)
        self._waiting.pop(wake, None)

    def subscribe_deliveries(self) -> asyncio.Event:
        """An event set whenever a webhook delivery may have become due (an event queued one,
        a replay, a reconnect). Call :meth:`unsubscribe_deliveries` when done."""
        wake = asyncio.Event()
        self._senders.add(wake)
        return wake

    def unsubscribe_deliveries(self, wake: asyncio.Event) -> None:
        self._senders.discard(wake)

    def wake_all(self, *, catch_up: bool = False) -> None:
        """Wake everyone; with ``catch_up`` streams also look for what was notified while
        no one listened."""
        for followers in self._followers.values():
            for follower in followers:
                follower.catch_up = follower.catch_up or catch_up
                follower.wake.set()
        for wake in self._any:
            wake.set()
        self.wake_senders()

    def wake_senders(self) -> None:
        for wake in self._senders:
            wake.set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        person, _, rest = payload.partition(" ")
        _event_id, _, rest = rest.partition(" ")
        queued, _, raw_xid = rest.partition(" ")
        followers = self._followers.get(person)
        if followers:
            try:
                need = int(raw_xid) + 1
            except ValueError:
                # Not from the trigger of migration 0012: when it becomes final is unknown.
                for follower in followers:
                    follower.catch_up = True
                    follower.wake.set()
            else:
                for follower in followers:
                    follower.need = max(follower.need, need)
                    follower.wake.set()
        for wake in self._any:
            wake.set()
        if queued != "0":  # a count, or a notification from before migration 0011
            self.wake_senders()

    def _on_terminate(self, _conn: object) -> None:
        self._lost.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maas-event-listener")

    async def _run(self) -> None:
        delay_s = 0.1
        while True:
            try:
                conn = await db.connect(self.settings)
            except Exception as error:  # any failure: wait and retry
                log.warning("event listener cannot connect (%s); retrying", error)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            delay_s = 0.1
            self._lost.clear()
            conn.add_termination_listener(self._on_terminate)
            poller = None
            try:
                await conn.add_listener(events.CHANNEL, self._on_notify)
                self._conn = conn
                self.connected.set()
                # Whatever was notified while no one listened is in the table: catch up.
                self.wake_all(catch_up=True)
                poller = asyncio.create_task(self._poll_horizon(conn), name="maas-event-horizon")
                await self._watch(conn)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
                log.warning("event listener lost its connection (%s); reconnecting", error)
            finally:
                if poller is not None:
                    await cancel_and_wait(poller)
                self.connected.clear()
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 1.0)
            self.reconnects += 1

    async def _watch(self, conn: asyncpg.Connection) -> None:
        # asyncpg does not always see a server-side termination of an idle connection;
        # a cheap periodic query makes sure it does.
        while not self._lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.settings.event_listener_check_s)
            if not self._lost.is_set():
                async with self._query:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), 5.0)

    async def _poll_horizon(self, conn: asyncpg.Connection) -> None:
        """While streams wait for the horizon: poll it, waking those it has reached."""
        delay_s = HORIZON_POLL_FIRST_S
        last, moved_at = None, time.monotonic()  # the horizon, and since when it is that
        while True:
            if not self._waiting:
                self._wanted.clear()
                await self._wanted.wait()
                delay_s = HORIZON_POLL_FIRST_S
                last = None
            await asyncio.sleep(delay_s)
            try:
                async with self._query:
                    horizon = await asyncio.wait_for(conn.fetchval(events.SQL_HORIZON), 5.0)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as error:
                log.warning("event listener cannot read the horizon (%s); reconnecting", error)
                self._lost.set()  # the reconnect makes every stream catch up
                return
            now = time.monotonic()
            if horizon != last:
                last, moved_at = horizon, now
            elif now - moved_at >= HORIZON_STUCK_S:
                moved_at = now  # the next warning, if it lasts, after as long again
                await self._log_holder(conn, horizon)
            reached = [w for w, need in self._waiting.items() if need <= horizon]
            for waiter in reached:
                del self._waiting[waiter]
                (waiter.wake if isinstance(waiter, Follower) else waiter).set()
            delay_s = HORIZON_POLL_FIRST_S if reached else min(2 * delay_s, HORIZON_POLL_MAX_S)

    async def _log_holder(self, conn: asyncpg.Connection, horizon: int) -> None:
        """Warn that streams wait, naming the transaction that holds the horizon if it can."""
        holder = "none found"
        try:
            async with self._query:
                row = await asyncio.wait_for(conn.fetchrow(SQL_HORIZON_HOLDER), 5.0)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as error:
            holder = f"unknown ({error!r})"
        else:
            if row is not None:
                age = "?" if row["age_s"] is None else f"{float(row['age_s']):.0f} s"
                holder = (
                    f"pid {row['pid']}, database {row['datname']}, user {row['usename']}, "
                    f"application {row['application_name']!r}, open {age}, {row['state']}"
                )
        log.warning(
            "live events wait: the horizon (%s) has not moved for %.0f s; the oldest open "
            "write transaction: %s",
            horizon,
            HORIZON_STUCK_S,
            holder,
        )

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        self.wake_all()


class WebhookSender:
    """Posts due webhook deliveries: bounded concurrency, timeouts, retries, dead letters."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, hub: EventHub) -> None:
        self.settings = settings
        self.pool = pool
        self.hub = hub
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._backlog = False  # the last claim filled every free slot: more may be due

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maas-webhook-sender")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._backlog:  # a slot is free for what the last claim had to leave
            self._backlog = False
            self.hub.wake_senders()

    async def _run(self) -> None:
        wake = self.hub.subscribe_deliveries()
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                while True:
                    wake.clear()
                    try:
                        await self.send_due(session)
                    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
                        log.warning("webhook sender: %s", error)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self.settings.webhook_interval_s)
        finally:
            self.hub.unsubscribe_deliveries(wake)
            for task in list(self._inflight):
                task.cancel()

    async def send_due(self, session: aiohttp.ClientSession) -> int:
        """Claim what is due (as many as there are free slots) and post each in a task."""
        free = self.settings.webhook_concurrency - len(self._inflight)
        if free <= 0:
            return 0
        lease_s = self.settings.webhook_timeout_s * 2 + 5
        async with self.pool.acquire() as conn:
            due = await events.claim_due(conn, limit=free, lease_s=lease_s)
        self._backlog = len(due) == free
        for delivery in due:
            task = asyncio.create_task(self._post(session, delivery))
            self._inflight.add(task)
            task.add_done_callback(self._finished)
        return len(due)

    async def _post(self, session: aiohttp.ClientSession, delivery: events.DueDelivery) -> None:
        async with self._slots:
            body = json.dumps(event_json(delivery.event)).encode()
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
                "Maas-Event-Id": str(delivery.event.id),
                "Maas-Delivery-Id": str(delivery.id),
            }
            status: int | None = None
            error = ""
            try:
                async with session.post(delivery.url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
                    if not 200 <= status < 300:
                        error = f"answered {status}"
            except TimeoutError:
                error = f"no answer within {self.settings.webhook_timeout_s} s"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
            async with self.pool.acquire() as conn:
                if not error:
                    await events.delivered(conn, delivery.id, status or 0)
                    return
                outcome = await events.failed(
                    conn,
                    delivery.id,
                    status_code=status,
                    error=error,
                    max_attempts=self.settings.webhook_max_attempts,
                    backoff_s=self.settings.webhook_backoff_s,
                )
            log.info("webhook delivery %s failed (%s): %s", delivery.id, outcome, error)

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)


async def events_ctx(app: web.Application) -> AsyncIterator[None]:
    """The event listener (always: streams need it) and, when ``webhook_interval_s`` > 0, the
    webhook sender."""
    settings = app[appkeys.SETTINGS]
    hub = EventHub(settings)
    hub.start()
    app[appkeys.EVENT_HUB] = hub
    sender = None
    if settings.webhook_interval_s > 0:
        sender = WebhookSender(settings, app[appkeys.DB_POOL], hub)
        sender.start()
    try:
        yield
    finally:
        if sender is not None:
            await sender.close()
        await hub.close()


async def instant_ctx(app: web.Application) -> AsyncIterator[None]:
    """Instant answers to new requests (when ``instant_answers`` is set and the road network
    is loaded): in the matching worker pool of a server process, so that they never hold its
    event loop; in the background process, which answers no HTTP, in a thread of its own,
    which spares shipping the day to another process on every pass."""
    from maas.planning.instant import InstantAnswers

    settings = app[appkeys.SETTINGS]
    network = app[appkeys.ROAD_NETWORK]
    hub = app[appkeys.EVENT_HUB]
    if not settings.instant_answers or network is None or not isinstance(hub, EventHub):
        yield
        return
    wake = hub.subscribe(None)
    runner = app[appkeys.MATCHING]
    in_thread = app.get(appkeys.BACKGROUND, False)
    answers = InstantAnswers(
        app[appkeys.DB_POOL],
        (lambda: None) if in_thread else (lambda: getattr(runner, "executor", None)),
        network,
        wake,
        snap_max_distance_m=settings.snap_max_distance_m,
        # One day at a time in a thread: the days kept and the road network are not shared
        # between threads.
        concurrency=1 if in_thread else 2,
        hub=hub,
    )
    answers.start()
    try:
        yield
    finally:
        await answers.close()
        hub.unsubscribe(None, wake)
