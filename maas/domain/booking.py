"""The booking lifecycle of a match: who may do what, and what the match becomes.

A match is one offer occurrence with its riders. Each party answers for itself: the driver
(``match.driver_status``) and every rider (``match_rider.status``) go from ``pending`` to
``accepted``, ``declined`` or ``cancelled``. The match's own status follows from the answers:

* ``proposed`` — nobody has accepted yet (a new matching run may replace it);
* ``accepted`` — someone accepted, not yet everyone (a run keeps it and its riders);
* ``confirmed`` — the driver and every rider still in it accepted;
* ``declined`` — the driver declined, or every rider declined before it was confirmed;
* ``cancelled`` — the driver cancelled, or every rider left after it was confirmed;
* ``expired`` — the driver did not answer in time, or every rider's answer expired (see below);
* ``completed`` / ``no_show`` — set by an operator after the trip, from ``confirmed`` only.

A rider who declines or cancels leaves just that match (their stops go, the others ride on);
the driver who declines or cancels ends the match for everyone. Whoever is left without a ride
is open for the next run again, which never pairs them with that driver occurrence again.

Answers have a deadline (:func:`answer_deadline`): whoever is still ``pending`` then is
``expired``, so one silent party never keeps the others from a confirmed ride nor holds a
seat. An expired rider leaves the match like one who declined; an expired driver ends it.
Unlike a decline, an expiry does not keep the pair apart in later runs.

Seats: a rider's accept holds their seats; it is refused (409) when, counting every accepted
rider of that occurrence (across all its live matches) in the order of their planned stops,
the car would at some moment carry more passengers than the offer's seats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from maas.errors import ConflictError

LIVE = frozenset({"proposed", "accepted", "confirmed"})
"""Match statuses in which the answers can still change."""
ACTIVE_PARTY = frozenset({"pending", "accepted"})
"""Party statuses of someone still in the match."""


class Action(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    CANCEL = "cancel"
    COMPLETE = "complete"
    NO_SHOW = "no-show"


PARTY_ACTIONS = frozenset({Action.ACCEPT, Action.DECLINE, Action.CANCEL})
OPERATOR_ACTIONS = frozenset({Action.COMPLETE, Action.NO_SHOW})


def party_transition(action: Action, match_status: str, party_status: str) -> str:
    """The party's new status, or :class:`ConflictError` for a move the lifecycle forbids.
    Repeating an accept, decline or cancel is allowed and changes nothing."""
    if action is Action.ACCEPT:
        if party_status == "accepted" and match_status in LIVE:
            return "accepted"
        if party_status != "pending" or match_status not in LIVE:
            raise ConflictError(
                f"cannot accept: the match is {match_status} and your answer is {party_status}"
            )
        return "accepted"
    if action is Action.DECLINE:
        if party_status == "declined":
            return "declined"
        if party_status != "pending" or match_status not in LIVE:
            raise ConflictError(
                f"cannot decline: the match is {match_status} and your answer is "
                f"{party_status}; cancel an accepted ride instead"
            )
        return "declined"
    if action is Action.CANCEL:
        if party_status == "cancelled":
            return "cancelled"
        if party_status not in ACTIVE_PARTY or match_status not in LIVE:
            raise ConflictError(
                f"cannot cancel: the match is {match_status} and your answer is {party_status}"
            )
        return "cancelled"
    raise ValueError(f"{action} is not a party's action")


def operator_transition(action: Action, match_status: str) -> str:
    """``complete`` and ``no-show``: from ``confirmed`` only (repeating is a no-op)."""
    target = "completed" if action is Action.COMPLETE else "no_show"
    if match_status == target:
        return target
    if match_status != "confirmed":
        raise ConflictError(f"cannot mark a {match_status} match as {target}; it is not confirmed")
    return target


def match_status(current: str, driver_status: str, rider_statuses: Iterable[str]) -> str:
    """What a live match becomes after an answer (terminal statuses stay)."""
    if current not in LIVE:
        return current
    riders = list(rider_statuses)
    ever_confirmed = current == "confirmed"
    if driver_status == "declined":
        return "declined"
    if driver_status == "cancelled":
        return "cancelled"
    if driver_status == "expired":
        return "expired"
    active = [s for s in riders if s in ACTIVE_PARTY]
    if not active:
        if ever_confirmed or "cancelled" in riders:
            return "cancelled"
        return "declined" if "declined" in riders else "expired"
    if driver_status == "accepted" and all(s == "accepted" for s in active):
        return "confirmed"
    if driver_status == "accepted" or "accepted" in active:
        return "accepted"
    return "proposed"


def answer_deadline(
    proposed_at: datetime, departure_at: datetime, *, answer_min: int, cutoff_min: int
) -> datetime:
    """When a proposal's pending answers expire: at the cut-off, ``cutoff_min`` before the
    departure (for a proposal made after the cut-off: at the departure), and no later than
    ``answer_min`` after the proposal (0: no such limit)."""
    cutoff_at = departure_at - timedelta(minutes=cutoff_min)
    deadline = cutoff_at if proposed_at < cutoff_at else departure_at
    if answer_min > 0:
        deadline = min(deadline, proposed_at + timedelta(minutes=answer_min))
    return deadline


@dataclass(frozen=True, slots=True)
class SeatStop:
    """A pickup or drop-off of an accepted rider, for counting seats."""

    planned_at: datetime
    kind: str
    passengers: int


def peak_load(stops: Sequence[SeatStop]) -> int:
    """The most passengers in the car at once; at the same moment, drop-offs come first."""
    load = peak = 0
    for s in sorted(stops, key=lambda s: (s.planned_at, s.kind != "dropoff")):
        load += s.passengers if s.kind == "pickup" else -s.passengers
        peak = max(peak, load)
    return peak


def require_seats(stops: Sequence[SeatStop], seats: int) -> None:
    if peak_load(stops) > seats:
        raise ConflictError(
            "no free seat left on this trip: other riders accepted first", reason="no_free_seat"
        )
