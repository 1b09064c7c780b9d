"""The event hub routes each notification: its event id to that person's streams only, the
webhook sender only when the event queued a delivery, a catch-up to everyone on reconnect."""

from __future__ import annotations

import uuid

from maas.notify import EventHub
from maas.settings import Settings


def hub() -> EventHub:
    return EventHub(Settings(database_url="postgresql://x/y"))


def test_a_notification_reaches_only_its_persons_streams_with_its_id() -> None:
    events = hub()
    eva, otto = uuid.uuid4(), uuid.uuid4()
    eva_phone, eva_tablet, otto_phone = events.follow(eva), events.follow(eva), events.follow(otto)
    events._on_notify(None, 0, "maas_event", f"{eva} 41 0")
    events._on_notify(None, 0, "maas_event", f"{eva} 42 0")
    for follower in (eva_phone, eva_tablet):
        assert follower.wake.is_set()
        assert follower.take() == ({41, 42}, False)
        assert not follower.wake.is_set()
        assert follower.take() == (set(), False)  # taken once
    assert not otto_phone.wake.is_set()
    assert otto_phone.take() == (set(), False)


def test_an_unfollowed_stream_hears_nothing_more() -> None:
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    events.unfollow(eva, phone)
    events._on_notify(None, 0, "maas_event", f"{eva} 7 0")
    assert not phone.wake.is_set()
    assert events._followers == {}


def test_the_sender_wakes_only_for_queued_deliveries() -> None:
    events = hub()
    sender = events.subscribe_deliveries()
    anyone = events.subscribe()
    events._on_notify(None, 0, "maas_event", f"{uuid.uuid4()} 1 0")
    assert anyone.is_set()
    assert not sender.is_set()
    events._on_notify(None, 0, "maas_event", f"{uuid.uuid4()} 2 3")
    assert sender.is_set()
    sender.clear()
    # A notification without the count (written before migration 0011): it may have queued.
    events._on_notify(None, 0, "maas_event", f"{uuid.uuid4()} 3")
    assert sender.is_set()


def test_a_reconnect_tells_every_stream_to_catch_up() -> None:
    events = hub()
    phone = events.follow(uuid.uuid4())
    events.wake_all()
    assert phone.take() == (set(), False)  # shutting down, say: woken, nothing lost
    events.wake_all(catch_up=True)
    assert phone.wake.is_set()
    assert phone.take() == (set(), True)


def test_a_notification_without_an_event_id_makes_its_streams_catch_up() -> None:
    events = hub()
    eva = uuid.uuid4()
    phone = events.follow(eva)
    events._on_notify(None, 0, "maas_event", f"{eva}")
    assert phone.take() == (set(), True)
