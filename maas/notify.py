"""Live delivery of the event outbox: one poll of the event table per process feeding the
streams, and the webhook sender.

The hub reads the final events (see :func:`maas.store.events.committed_events`) of everyone
after its position, in batches, and hands each person's to that person's streams in this
process: a stream reads the table itself once, when it opens (or when it fell too far behind),
and from then on sends what the hub brings, without a query of its own. The instant answers
are woken by any batch with events, the webhook sender by a batch with an event that queued a
delivery.

The hub polls every ``POLL_FIRST_S`` while events come, and ever less often up to
``POLL_MAX_S`` while none do, as long as anyone in the process listens: an event reaches a
connected stream a few tens of milliseconds after it is final. Nothing is lost when the hub's
connection drops or the database restarts: its position stays, and the next poll reads on from
it. If the horizon has been held by the same open transaction for ``HORIZON_STUCK_S``, it logs
a warning naming that transaction (an import, a migration, a session left
idle in a transaction): events wait behind it.

Why not LISTEN/NOTIFY (until migration 0013): a NOTIFY takes a lock from the commit's start to
its end, the WAL flush included, so every transaction that wrote an event committed one at a
time; and each notification went to every process, to wake one stream that then ran a query
for one event. A poll costs one query per process and batch, however many events and streams.

Webhooks are posted by a background task from ``webhook_delivery`` rows (the outbox, written in
the transaction of the change). Each body is signed: the header ``Maas-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the subscription's secret>``; while
a replaced secret still signs (a rotation's overlap), a second ``v1=`` follows, made with it,
and a receiver accepts the body if any ``v1`` matches its secret. A slow
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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from maas import appkeys, db
from maas.settings import Settings
from maas.store import events
from maas.store.events import Event, Position
from maas.tasks import cancel_and_wait

log = logging.getLogger("maas.notify")

SIGNATURE_HEADER = "Maas-Signature"
POLL_FIRST_S = 0.02
POLL_MAX_S = 0.2
"""The hub's poll: this soon again after a batch with events, then ever less often up to this
while none come (the first event after a quiet spell waits at most this long)."""
POLL_BATCH = 1000
"""Events read by one poll; a full batch is followed by the next at once."""
MAILBOX_MAX = 1000
"""Events kept for one stream that has not sent them yet; beyond, they are dropped and the
stream reads from the table (a client that reads slowly costs memory no longer)."""
HORIZON_STUCK_S = 30.0
"""The same open transaction has held the horizon this long: log it (then again at most this
often while it lasts)."""
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


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes, previous: str | None = None) -> str:
    """The signature header's value for a body sent at ``timestamp`` (unix seconds): one
    ``v1`` per secret that signs, the current one first."""
    signed = [f"v1={_mac(key, timestamp, body)}" for key in (secret, previous) if key is not None]
    return ",".join([f"t={timestamp}", *signed])


def verify(secret: str, header: str, body: bytes) -> bool:
    """Whether any ``v1`` signature of the header was made of the body with ``secret`` (for
    receivers and tests). Receivers should also refuse a ``t`` too far from their clock."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [value for name, value in parts if name == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    expected = _mac(secret, int(stamps[0]), body).encode()
    return any(
        hmac.compare_digest(expected, value.encode()) for name, value in parts if name == "v1"
    )


def event_json(event: events.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "person_id": str(event.person_id),
        "kind": event.kind,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class Mail:
    """What the hub brought a stream since it last looked: the person's events, and how far
    the batches that brought them reached (None: none came); or ``catch_up``: the mailbox
    overflowed, read from the table instead."""

    events: tuple[Event, ...] = ()
    through: Position | None = None
    catch_up: bool = False


@dataclass(eq=False)
class Follower:
    """One stream's mailbox. Every batch the hub reads after :meth:`EventHub.follow` passes
    through it, so a stream that has read the table once after following misses nothing."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[Event] = field(default_factory=list)
    through: Position | None = None
    catch_up: bool = False

    def take(self) -> Mail:
        """What came, emptying the mailbox. Clears ``wake``: anything that comes after this
        call wakes it again."""
        self.wake.clear()
        mail = Mail(tuple(self.events), self.through, self.catch_up)
        self.events, self.through, self.catch_up = [], None, False
        return mail

    def bring(self, found: list[Event], through: Position) -> None:
        """The person's events of a batch that read up to ``through``."""
        self.through = through
        if not self.catch_up:
            if len(self.events) + len(found) > MAILBOX_MAX:
                self.events, self.catch_up = [], True
            else:
                self.events.extend(found)
        self.wake.set()


class EventHub:
    """Reads the new final events for this process (one connection, one query a poll) and
    hands them to the streams of their persons; wakes the instant answers and the webhook
    sender."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # By the person's id: no parsing per event.
        self._followers: dict[uuid.UUID, set[Follower]] = {}
        self._any: set[asyncio.Event] = set()
        self._senders: set[asyncio.Event] = set()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()  # set when anyone follows or subscribes
        self.position: Position | None = None
        """Where the next poll reads on (None until the hub first connected): kept across
        reconnects, so that nothing committed meanwhile is missed."""
        self.ready = asyncio.Event()
        """Set once :attr:`position` is known (and then for good): streams follow only then."""
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.closing = False
        self._clock: Callable[[], float] = time.monotonic  # the poll's time (tests replace it)
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def follow(self, person_id: uuid.UUID) -> Follower:
        """A mailbox for the person's events from :attr:`position` on (wait for
        :attr:`ready` first). Call :meth:`unfollow` when done."""
        assert self.position is not None, "follow only once the hub is ready"
        follower = Follower()
        self._followers.setdefault(person_id, set()).add(follower)
        self._listening.set()
        return follower

    def unfollow(self, person_id: uuid.UUID, follower: Follower) -> None:
        followers = self._followers.get(person_id)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self._followers[person_id]

    def subscribe(self, person_id: None = None) -> asyncio.Event:
        """An event set whenever a poll found new events, whoever they are for (a person's
        streams :meth:`follow` instead). Call :meth:`unsubscribe` when done."""
        wake = asyncio.Event()
        self._any.add(wake)
        self._listening.set()
        return wake

    def unsubscribe(self, person_id: None, wake: asyncio.Event) -> None:
        self._any.discard(wake)

    def subscribe_deliveries(self) -> asyncio.Event:
        """An event set whenever a webhook delivery may have become due (an event queued one,
        a replay). Call :meth:`unsubscribe_deliveries` when done."""
        wake = asyncio.Event()
        self._senders.add(wake)
        self._listening.set()
        return wake

    def unsubscribe_deliveries(self, wake: asyncio.Event) -> None:
        self._senders.discard(wake)

    def wake_all(self) -> None:
        """Wake everyone (shutting down: streams look at ``closing``)."""
        for followers in self._followers.values():
            for follower in followers:
                follower.wake.set()
        for wake in self._any:
            wake.set()
        self.wake_senders()

    def wake_senders(self) -> None:
        for wake in self._senders:
            wake.set()

    def dispatch(self, read: events.Committed) -> None:
        """Hand a batch's events to their persons' streams and wake who waits for one."""
        mine: dict[uuid.UUID, list[Event]] = {}
        for event in read.events:
            if event.person_id in self._followers:
                mine.setdefault(event.person_id, []).append(event)
        for person_id, found in mine.items():
            for follower in self._followers[person_id]:
                follower.bring(found, read.position)
        if read.events:
            for wake in self._any:
                wake.set()
        if read.queued:
            self.wake_senders()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maas-event-hub")

    def _someone_listens(self) -> bool:
        return bool(self._followers or self._any or self._senders)

    async def _run(self) -> None:
        delay_s = 0.1
        while True:
            try:
                conn = await db.connect(self.settings)
            except Exception as error:  # any failure: wait and retry
                log.warning("event hub cannot connect (%s); retrying", error)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            delay_s = 0.1
            unexpected = False
            try:
                if self.position is None:  # from what commits from now on
                    self.position = Position(await events.horizon(conn), 0)
                    self.ready.set()
                self._conn = conn
                self.connected.set()
                await self._poll(conn)
            except db.DATABASE_LOST as error:
                log.warning("event hub lost its connection (%s); reconnecting", error)
            except Exception:
                # Anything else (a bug): the process must not lose its live events for good,
                # so reconnect too, after a pause.
                log.exception("event hub failed; reconnecting")
                unexpected = True
            finally:
                self.connected.clear()
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 1.0)
            self.reconnects += 1
            if unexpected:
                await asyncio.sleep(1.0)

    async def _poll(self, conn: asyncpg.Connection) -> None:
        """Read on from :attr:`position` while anyone listens, handing out what comes."""
        delay_s = POLL_FIRST_S
        horizon, moved_at = 0, self._clock()  # since when the horizon is that
        while True:
            if not self._someone_listens():
                self._listening.clear()
                # Still a query now and then: a connection lost meanwhile is noticed.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._listening.wait(), self.settings.event_listener_check_s
                    )
                delay_s = POLL_FIRST_S
            assert self.position is not None
            read = await asyncio.wait_for(
                events.committed_events(conn, self.position, limit=POLL_BATCH, queued=True), 10.0
            )
            # No await between the two: a stream following now gets every later batch.
            self.position = read.position
            self.dispatch(read)
            now = self._clock()
            # Held: a transaction below xmax is still open, the same one as before.
            if read.horizon != horizon or read.horizon >= read.xmax:
                horizon, moved_at = read.horizon, now
            elif now - moved_at >= HORIZON_STUCK_S:
                moved_at = now  # the next warning, if it lasts, after as long again
                await self._log_holder(conn, read.horizon)
            if len(read.events) == POLL_BATCH:
                continue
            delay_s = POLL_FIRST_S if read.events else min(2 * delay_s, POLL_MAX_S)
            await self._sleep(delay_s)

    async def _log_holder(self, conn: asyncpg.Connection, horizon: int) -> None:
        """Warn that events wait, naming the transaction that holds the horizon if it can."""
        holder = "none found"
        try:
            row = await asyncio.wait_for(conn.fetchrow(SQL_HORIZON_HOLDER), 5.0)
        except db.DATABASE_LOST as error:
            holder = f"unknown ({error!r})"
        else:
            if row is not None:
                age = "?" if row["age_s"] is None else f"{float(row['age_s']):.0f} s"
                holder = (
                    f"pid {row['pid']}, database {row['datname']}, user {row['usename']}, "
                    f"application {row['application_name']!r}, open {age}, {row['state']}"
                )
        log.warning(
            "live events wait: the horizon (%s) has been held for %.0f s; the oldest open write "
            "transaction: %s",
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
        if not task.cancelled() and (error := task.exception()) is not None:
            # The outcome was not recorded (the database went away meanwhile): the delivery
            # stays pending and is sent again once its lease has run out.
            log.warning("webhook delivery left pending: %r", error)
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
                    except db.DATABASE_LOST as error:
                        log.warning("webhook sender: %s", error)
                    except Exception:  # never stop sending for good; the next round retries
                        log.exception("webhook sender failed")
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
                SIGNATURE_HEADER: sign(delivery.secret, timestamp, body, delivery.previous_secret),
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
    )
    answers.start()
    try:
        yield
    finally:
        await answers.close()
        hub.unsubscribe(None, wake)
