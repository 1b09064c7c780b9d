"""The event hub hands each batch of new final events to the streams of their persons only,
wakes the instant answers on any event and the webhook sender only when an event queued a
delivery; its poll reads on from where it stood, quickly while events come and ever more
slowly while none do, and logs what holds the horizon back."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from maas import notify
from maas.notify import EventHub, Mail
from maas.settings import Settings
from maas.store.events import Committed, Event, Position
from maas.tasks import cancel_and_wait

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def hub(**settings: Any) -> EventHub:
    events = EventHub(Settings(database_url="postgresql://x/y", **settings))
    events.position = Position(100, 0)
    return events


def event(person: uuid.UUID, xid: int, id_: int) -> Event:
    return Event(id_, person, "test.kind", {}, NOW, xid)


def batch(*found: Event, queued: bool = False, through: int = 200) -> Committed:
    return Committed(list(found), through, through, Position(through, 0), queued)


def test_a_batch_reaches_only_its_persons_streams() -> None:
    events = hub()
    eva, otto, ida = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    eva_phone, eva_tablet, otto_phone = events.follow(eva), events.follow(eva), events.follow(otto)
    mine, theirs = event(eva, 150, 7), event(ida, 151, 8)
    events.dispatch(batch(mine, theirs))
    for follower in (eva_phone, eva_tablet):
        assert follower.wake.is_set()
        assert follower.take() == Mail((mine,), Position(200, 0))
        assert not follower.wake.is_set()
        assert follower.take() == Mail()  # taken once
    assert not otto_phone.wake.is_set()
    assert otto_phone.take() == Mail()


def test_batches_add_up_until_taken() -> None:
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    first, second = event(eva, 150, 7), event(eva, 160, 9)
    events.dispatch(batch(first, through=155))
    events.dispatch(batch(through=158))
    events.dispatch(batch(second, through=170))
    assert phone.take() == Mail((first, second), Position(170, 0))


def test_an_unfollowed_stream_hears_nothing_more() -> None:
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    events.unfollow(eva, phone)
    events.dispatch(batch(event(eva, 150, 7)))
    assert not phone.wake.is_set()
    assert events._followers == {}


def test_a_stream_that_does_not_keep_up_reads_the_table_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "MAILBOX_MAX", 3)
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    events.dispatch(batch(event(eva, 150, 1), event(eva, 150, 2), through=160))
    events.dispatch(batch(event(eva, 161, 3), event(eva, 161, 4), through=170))
    events.dispatch(batch(event(eva, 171, 5), through=180))
    assert phone.take() == Mail((), Position(180, 0), catch_up=True)
    events.dispatch(batch(event(eva, 181, 6), through=190))  # caught up: brought again
    assert phone.take().events == (event(eva, 181, 6),)


def test_readers_of_everything_wake_on_events_and_the_sender_on_deliveries() -> None:
    events = hub()
    sender = events.subscribe_deliveries()
    anyone = events.subscribe()
    events.dispatch(batch())
    assert not anyone.is_set()
    assert not sender.is_set()
    events.dispatch(batch(event(uuid.uuid4(), 150, 1)))
    assert anyone.is_set()
    assert not sender.is_set()
    events.dispatch(batch(event(uuid.uuid4(), 201, 2), queued=True))
    assert sender.is_set()


def test_following_before_the_hub_knows_where_it_stands_is_refused() -> None:
    events = EventHub(Settings(database_url="postgresql://x/y"))
    assert not events.ready.is_set()
    with pytest.raises(AssertionError):
        events.follow(uuid.uuid4())


@dataclass(frozen=True)
class Row:
    xid: int
    id: int
    person: uuid.UUID
    queued: bool = False


class Table:
    """The hub's connection as its poll sees it: the query of ``committed_events`` over a
    list of events, with a horizon and an xmax the test moves."""

    def __init__(self) -> None:
        self.horizon = 100
        self.xmax = 100
        self.rows: list[Row] = []
        self.reads: list[Position] = []
        self.holder: dict[str, object] = {
            "pid": 4242,
            "datname": "maas",
            "usename": "maas",
            "application_name": "maas import-osm",
            "state": "active",
            "age_s": 75.0,
        }

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        xid, id_, _kinds, limit, _floor = args
        self.reads.append(Position(xid, id_))
        found = sorted(
            (r for r in self.rows if (r.xid, r.id) > (xid, id_) and r.xid < self.horizon),
            key=lambda r: (r.xid, r.id),
        )[:limit]
        head = {"horizon": self.horizon, "xmax": self.xmax}
        if not found:
            return [{**head, "id": None}]
        return [
            {
                **head,
                "id": r.id,
                "xid": r.xid,
                "person_id": r.person,
                "kind": "test.kind",
                "payload": "{}",
                "created_at": NOW,
                "queued": r.queued,
            }
            for r in found
        ]

    async def fetchrow(self, sql: str) -> dict[str, object]:
        assert "pg_stat_activity" in sql
        return self.holder


class Clock:
    """The poll's time: each of its sleeps moves it on at once (and lets the test run)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def polled(events: EventHub) -> Clock:
    clock = Clock()
    events._clock, events._sleep = clock, clock.sleep
    return clock


async def until(condition: Any) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the poll did not get there")


async def test_the_poll_reads_on_from_where_it_stood_and_hands_out_what_comes() -> None:
    events = hub()
    polled(events)
    table = Table()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    poller = asyncio.create_task(events._poll(table))
    try:
        table.rows += [Row(100, 5, eva), Row(101, 3, uuid.uuid4()), Row(102, 9, eva)]
        table.horizon = 102  # the third is not final yet
        await until(phone.wake.is_set)
        assert [e.id for e in phone.take().events] == [5]
        table.horizon = table.xmax = 110
        await until(phone.wake.is_set)
        mail = phone.take()
        assert [e.id for e in mail.events] == [9]
        assert mail.through == Position(110, 0)
        assert events.position == Position(110, 0)
        # Each read starts where the one before ended: nothing is read twice.
        assert table.reads[0] == Position(100, 0)
        assert all(b >= a for a, b in zip(table.reads, table.reads[1:], strict=False))
    finally:
        await cancel_and_wait(poller)


async def test_a_full_batch_is_followed_by_the_next_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "POLL_BATCH", 2)
    events = hub()
    clock = polled(events)
    table = Table()
    eva = uuid.uuid4()
    table.rows += [Row(100, n, eva) for n in range(1, 6)]
    table.horizon = table.xmax = 101
    phone = events.follow(eva)
    poller = asyncio.create_task(events._poll(table))
    try:
        await until(lambda: clock.sleeps)
        assert [e.id for e in phone.take().events] == [1, 2, 3, 4, 5]
        assert len(table.reads) == 3  # without a pause between them
        assert clock.sleeps == [0.02]
    finally:
        await cancel_and_wait(poller)


async def test_the_poll_slows_down_while_nothing_comes_and_speeds_up_again() -> None:
    events = hub()
    clock = polled(events)
    table = Table()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    poller = asyncio.create_task(events._poll(table))
    try:
        await until(lambda: len(clock.sleeps) >= 6)
        assert clock.sleeps[:6] == [0.04, 0.08, 0.16, 0.2, 0.2, 0.2]
        table.rows.append(Row(100, 1, eva))
        table.horizon = table.xmax = 101
        await until(phone.wake.is_set)
        await until(lambda: len(clock.sleeps) >= 8)
        assert clock.sleeps[-2:] == [0.02, 0.04]  # right after an event, the fast pace
    finally:
        await cancel_and_wait(poller)


async def test_no_listener_no_polling_but_a_check_now_and_then() -> None:
    events = hub(event_listener_check_s=60.0)
    polled(events)
    table = Table()
    poller = asyncio.create_task(events._poll(table))
    try:
        await asyncio.sleep(0.2)
        assert table.reads == []  # no one listens: the next check in a minute
        events.follow(uuid.uuid4())
        await until(lambda: table.reads)  # someone listens: polled at once
    finally:
        await cancel_and_wait(poller)


async def test_a_horizon_held_by_one_transaction_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An import or a forgotten session holds every live event back: the log says which. A
    quiet database, with no transaction open, is not held, nor a busy one whose transactions
    each end soon."""
    events = hub()
    clock = polled(events)
    table = Table()
    events.follow(uuid.uuid4())
    poller = asyncio.create_task(events._poll(table))
    try:
        with caplog.at_level(logging.WARNING, logger="maas.notify"):
            await until(lambda: clock.now > 2 * notify.HORIZON_STUCK_S)
            assert not caplog.records  # no transaction open: nothing is held
            table.xmax = 105  # the oldest open transaction is 100's
            start = clock.now
            await until(lambda: clock.now > start + 1.5 * notify.HORIZON_STUCK_S)
            warned = [r.getMessage() for r in caplog.records]
            assert len(warned) == 1, warned
            assert "pid 4242" in warned[0], warned
            assert "'maas import-osm'" in warned[0], warned
            caplog.clear()
            busy_start = clock.now
            while clock.now < busy_start + 2 * notify.HORIZON_STUCK_S:  # busy, each ends soon
                table.horizon, table.xmax = table.xmax, table.xmax + 5
                sleeps = len(clock.sleeps)
                await until(lambda n=sleeps: len(clock.sleeps) > n)
            assert not caplog.records
    finally:
        await cancel_and_wait(poller)
