"""The event hub routes each notification: the horizon that makes its event final to that
person's streams only, the webhook sender only when the event queued a delivery, a catch-up to
everyone on reconnect; and it wakes streams waiting for the horizon."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from maas import notify
from maas.notify import EventHub
from maas.settings import Settings
from maas.tasks import cancel_and_wait


def hub() -> EventHub:
    return EventHub(Settings(database_url="postgresql://x/y"))


def test_a_notification_reaches_only_its_persons_streams_with_its_transaction() -> None:
    events = hub()
    eva, otto = uuid.uuid4(), uuid.uuid4()
    eva_phone, eva_tablet, otto_phone = events.follow(eva), events.follow(eva), events.follow(otto)
    events._on_notify(None, 0, "maas_event", f"{eva} 42 0 1007")
    events._on_notify(None, 0, "maas_event", f"{eva} 41 0 1003")  # an older transaction's
    for follower in (eva_phone, eva_tablet):
        assert follower.wake.is_set()
        assert follower.take() == (1008, False)  # final once the horizon passes 1007
        assert not follower.wake.is_set()
        assert follower.take() == (0, False)  # taken once
    assert not otto_phone.wake.is_set()
    assert otto_phone.take() == (0, False)


def test_an_unfollowed_stream_hears_nothing_more() -> None:
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    events.unfollow(eva, phone)
    events._on_notify(None, 0, "maas_event", f"{eva} 7 0 99")
    assert not phone.wake.is_set()
    assert events._followers == {}


def test_the_sender_wakes_only_for_queued_deliveries() -> None:
    events = hub()
    sender = events.subscribe_deliveries()
    anyone = events.subscribe()
    events._on_notify(None, 0, "maas_event", f"{uuid.uuid4()} 1 0 99")
    assert anyone.is_set()
    assert not sender.is_set()
    events._on_notify(None, 0, "maas_event", f"{uuid.uuid4()} 2 3 99")
    assert sender.is_set()
    sender.clear()
    # A notification without the count (written before migration 0011): it may have queued.
    events._on_notify(None, 0, "maas_event", f"{uuid.uuid4()} 3")
    assert sender.is_set()


def test_a_reconnect_tells_every_stream_to_catch_up() -> None:
    events = hub()
    phone = events.follow(uuid.uuid4())
    events.wake_all()
    assert phone.take() == (0, False)  # shutting down, say: woken, nothing lost
    events.wake_all(catch_up=True)
    assert phone.wake.is_set()
    assert phone.take() == (0, True)


def test_a_notification_without_its_transaction_makes_its_streams_catch_up() -> None:
    """From before migration 0012, or not from the trigger: when it is final is unknown."""
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    for payload in (f"{eva}", f"{eva} 41 0", f"{eva} 41 0 x"):
        events._on_notify(None, 0, "maas_event", payload)
        assert phone.take() == (0, True)


class Horizon:
    """The listener's connection as the horizon poll sees it."""

    def __init__(self) -> None:
        self.value = 100
        self.polls = 0

    async def fetchval(self, sql: str) -> int:
        self.polls += 1
        return self.value


async def test_the_hub_wakes_a_stream_once_the_horizon_reaches_what_it_waits_for() -> None:
    events = hub()
    conn = Horizon()
    poller = asyncio.create_task(events._poll_horizon(conn))
    try:
        eva = uuid.uuid4()
        phone, tablet = events.follow(eva), events.follow(eva)
        await asyncio.sleep(0.1)
        assert conn.polls == 0  # no one waits: no query
        events.wait_for_horizon(phone, 120)
        events.wait_for_horizon(tablet, 150)
        await asyncio.sleep(0.1)
        assert conn.polls > 0
        assert not phone.wake.is_set()
        conn.value = 130
        await asyncio.wait_for(phone.wake.wait(), 1.0)
        assert not tablet.wake.is_set()
        anyone = events.subscribe()  # a reader of everyone's events waits too
        events.wait_for_horizon(anyone, 140)
        conn.value = 140
        await asyncio.wait_for(anyone.wait(), 1.0)
        assert not tablet.wake.is_set()
        events.unfollow(eva, tablet)  # gone: no longer waited for
        await asyncio.sleep(0.1)
        polls = conn.polls
        await asyncio.sleep(0.3)
        assert conn.polls == polls
    finally:
        await cancel_and_wait(poller)


class HeldHorizon(Horizon):
    """A horizon held by an open transaction, which pg_stat_activity names."""

    def __init__(self) -> None:
        super().__init__()
        self.holder: dict[str, object] = {
            "pid": 4242,
            "datname": "maas",
            "usename": "maas",
            "application_name": "maas import-osm",
            "state": "active",
            "age_s": 75.0,
        }

    async def fetchrow(self, sql: str) -> dict[str, object]:
        assert "pg_stat_activity" in sql
        return self.holder


async def test_a_horizon_that_does_not_move_while_streams_wait_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An import or a forgotten session holds every live event back: the log says which."""
    monkeypatch.setattr(notify, "HORIZON_STUCK_S", 0.3)
    events = hub()
    conn = HeldHorizon()
    poller = asyncio.create_task(events._poll_horizon(conn))
    try:
        phone = events.follow(uuid.uuid4())
        with caplog.at_level(logging.WARNING, logger="maas.notify"):
            events.wait_for_horizon(phone, 120)
            await asyncio.sleep(0.2)
            assert not caplog.records  # not yet long
            await asyncio.sleep(0.4)
            warned = [r.getMessage() for r in caplog.records]
            assert len(warned) == 1, warned
            assert "pid 4242" in warned[0], warned
            assert "'maas import-osm'" in warned[0], warned
            conn.value = 130
            await asyncio.wait_for(phone.wake.wait(), 1.0)
            caplog.clear()
            events.wait_for_horizon(phone, 140)  # waits again: the clock starts anew
            await asyncio.sleep(0.2)
            assert not caplog.records
    finally:
        await cancel_and_wait(poller)
