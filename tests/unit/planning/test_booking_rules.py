"""The booking lifecycle's rules without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maas.domain import booking
from maas.domain.booking import (
    Action,
    SeatStop,
    match_status,
    operator_transition,
    party_transition,
    peak_load,
    require_seats,
)
from maas.errors import ConflictError

T = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "match", "party", "new"),
    [
        (Action.ACCEPT, "proposed", "pending", "accepted"),
        (Action.ACCEPT, "accepted", "accepted", "accepted"),
        (Action.DECLINE, "proposed", "pending", "declined"),
        (Action.DECLINE, "declined", "declined", "declined"),
        (Action.CANCEL, "confirmed", "accepted", "cancelled"),
        (Action.CANCEL, "accepted", "pending", "cancelled"),
    ],
)
def test_allowed_answers(action: Action, match: str, party: str, new: str) -> None:
    assert party_transition(action, match, party) == new


@pytest.mark.parametrize(
    ("action", "match", "party"),
    [
        (Action.ACCEPT, "proposed", "declined"),
        (Action.ACCEPT, "declined", "pending"),
        (Action.ACCEPT, "completed", "accepted"),
        (Action.DECLINE, "confirmed", "accepted"),
        (Action.CANCEL, "proposed", "declined"),
        (Action.CANCEL, "completed", "accepted"),
    ],
)
def test_forbidden_answers_are_conflicts(action: Action, match: str, party: str) -> None:
    with pytest.raises(ConflictError):
        party_transition(action, match, party)


def test_operator_marks_only_confirmed_trips() -> None:
    assert operator_transition(Action.COMPLETE, "confirmed") == "completed"
    assert operator_transition(Action.NO_SHOW, "confirmed") == "no_show"
    assert operator_transition(Action.COMPLETE, "completed") == "completed"
    for status in ("proposed", "accepted", "declined", "no_show"):
        with pytest.raises(ConflictError):
            operator_transition(Action.COMPLETE, status)


@pytest.mark.parametrize(
    ("current", "driver", "riders", "expected"),
    [
        ("proposed", "pending", ["pending", "pending"], "proposed"),
        ("proposed", "accepted", ["pending"], "accepted"),
        ("proposed", "pending", ["accepted", "pending"], "accepted"),
        ("accepted", "accepted", ["accepted", "declined"], "confirmed"),
        ("accepted", "declined", ["accepted"], "declined"),
        ("confirmed", "cancelled", ["accepted"], "cancelled"),
        ("proposed", "pending", ["declined"], "declined"),
        ("confirmed", "accepted", ["cancelled"], "cancelled"),
        ("completed", "accepted", ["accepted"], "completed"),
    ],
)
def test_match_status_follows_the_answers(
    current: str, driver: str, riders: list[str], expected: str
) -> None:
    assert match_status(current, driver, riders) == expected


def _ride(start_min: int, end_min: int, passengers: int = 1) -> list[SeatStop]:
    return [
        SeatStop(T + timedelta(minutes=start_min), "pickup", passengers),
        SeatStop(T + timedelta(minutes=end_min), "dropoff", passengers),
    ]


def test_seats_count_riders_in_the_car_at_the_same_time() -> None:
    # One seat: one rider gets out where the next gets in.
    assert peak_load([*_ride(0, 10), *_ride(10, 20)]) == 1
    assert peak_load([*_ride(0, 10), *_ride(5, 20)]) == 2
    assert peak_load([*_ride(0, 30, 2), *_ride(5, 20), *_ride(25, 40)]) == 3
    require_seats([*_ride(0, 10), *_ride(10, 20)], 1)
    with pytest.raises(ConflictError) as caught:
        require_seats([*_ride(0, 10), *_ride(5, 20)], 1)
    assert caught.value.extra["reason"] == "no_free_seat"


def test_expired_answers_settle_the_match() -> None:
    # A silent rider leaves; the driver and the others ride.
    assert booking.match_status("accepted", "accepted", ["accepted", "expired"]) == "confirmed"
    # Nobody left to ride, without a decline or a cancellation: the match expired.
    assert booking.match_status("accepted", "accepted", ["expired"]) == "expired"
    assert booking.match_status("accepted", "accepted", ["declined", "expired"]) == "declined"
    # A silent driver ends it for everyone.
    assert booking.match_status("accepted", "expired", ["expired"]) == "expired"
    # Terminal statuses stay.
    assert booking.match_status("expired", "expired", ["expired"]) == "expired"


def test_answer_deadline_is_the_answer_time_or_the_cut_off_whichever_comes_first() -> None:
    departure = datetime(2026, 3, 10, 7, 30, tzinfo=UTC)
    early = departure - timedelta(days=2)
    late = departure - timedelta(hours=1)  # proposed after the 120 min cut-off
    deadline = booking.answer_deadline
    assert deadline(early, departure, answer_min=240, cutoff_min=120) == early + timedelta(hours=4)
    assert deadline(early, departure, answer_min=0, cutoff_min=120) == departure - timedelta(
        hours=2
    )
    near = departure - timedelta(hours=3)
    assert deadline(near, departure, answer_min=240, cutoff_min=120) == departure - timedelta(
        hours=2
    )
    # Proposed after the cut-off: it can still be answered until the departure.
    assert deadline(late, departure, answer_min=0, cutoff_min=120) == departure
    assert deadline(late, departure, answer_min=30, cutoff_min=120) == late + timedelta(minutes=30)
