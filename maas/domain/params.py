"""A community's operator parameters: what each one means, its range, its default, and the
combinations that contradict each other.

Pure: no I/O. :func:`validate` turns a candidate parameter set into the complete, checked set
(or raises :class:`~maas.errors.InputError` naming the field); :func:`effective` reads a stored
set leniently (a value that does not fit keeps its default, so matching never stops for a
whole community over one bad value). The JSON Schema ``schemas/community-params.json`` states
the same ranges for API clients; a unit test keeps the two in step.

Matching uses the numeric keys through :func:`maas.planning.params.params_from_settings`; the
cut-off, fallback and volunteer limits are stored and validated here and enforced by the
live-operations side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from maas.errors import InputError


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter: its kind, range (numbers) or length (text), default, unit and label."""

    name: str
    kind: str  # "int", "float", "text", "phone", "clock"
    default: Any
    low: float = 0
    high: float = 0
    unit: str = ""
    label: str = ""


FIELDS: tuple[Field, ...] = (
    Field("max_detour_min", "int", 15, 0, 240, "min", "Longest detour a driver is asked for"),
    Field("max_detour_pct", "int", 50, 0, 1000, "%", "Longest detour as % of the direct trip"),
    Field("ride_time_factor", "float", 1.5, 1.0, 10.0, "×", "Ride time at most factor × direct"),
    Field("ride_time_extra_min", "int", 10, 0, 240, "min", "… plus this slack"),
    Field("max_walk_m", "int", 500, 0, 5000, "m", "Longest walk to a meeting point"),
    Field("horizon_h", "float", 24.0, 1.0, 336.0, "h", "How far ahead matching plans"),
    Field("board_s", "int", 60, 0, 900, "s", "Time to get in"),
    Field("alight_s", "int", 30, 0, 900, "s", "Time to get out"),
    Field("help_board_s", "int", 180, 0, 1800, "s", "Time to get in with help"),
    Field("drop_penalty", "int", 10_000_000, 1, 10**12, "", "Weight: serving every rider"),
    Field("arc_cost_weight", "int", 1, 0, 10**6, "", "Weight: fewer driven seconds"),
    Field(
        "fairness_weight", "int", 60, 0, 3600, "s", "Weight: share rides among drivers, per ride"
    ),
    Field("cutoff_min", "int", 120, 0, 20160, "min", "Fallback when unmatched this long before"),
    Field("answer_min", "int", 240, 0, 20160, "min", "Time to answer a proposal (0: cut-off)"),
    Field("fallback_text", "text", "", 0, 500, "", "Fallback message to the rider"),
    Field("fallback_phone", "phone", "", 0, 30, "", "Fallback phone number"),
    Field("volunteer_max_rides_per_week", "int", 10, 1, 100, "", "Rides per volunteer a week"),
    Field("volunteer_quiet_from", "clock", None, 0, 0, "", "Volunteers not asked from"),
    Field("volunteer_quiet_until", "clock", None, 0, 0, "", "… until"),
)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS}

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()/-]{2,29}$")
CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _check_value(f: Field, value: Any) -> Any:
    """The value converted to the field's kind, or :class:`InputError` naming the field."""
    if f.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f.name, "must be a number")
        if f.kind == "int" and not float(value).is_integer():
            raise InputError(f.name, "must be a whole number")
        if not f.low <= value <= f.high:
            unit = f" {f.unit}" if f.unit else ""
            raise InputError(f.name, f"must be between {f.low:g} and {f.high:g}{unit}")
        return int(value) if f.kind == "int" else float(value)
    if f.kind == "clock":
        if value is None:
            return None
        if not isinstance(value, str) or not CLOCK_RE.match(value):
            raise InputError(f.name, "must be a local time HH:MM, e.g. 21:00")
        return value
    if not isinstance(value, str):
        raise InputError(f.name, "must be text")
    if len(value) > f.high:
        raise InputError(f.name, f"must be at most {f.high:g} characters")
    if f.kind == "phone" and value and not PHONE_RE.match(value):
        raise InputError(f.name, "must be a phone number, e.g. +49 7032 1234")
    return value


def validate(candidate: dict[str, Any]) -> dict[str, Any]:
    """The complete parameter set: defaults for what is missing, every value checked, and no
    contradictory combination. Raises :class:`InputError` naming the first offending field."""
    for name in candidate:
        if name not in BY_NAME:
            raise InputError(name, "is not a known parameter")
    out = dict(DEFAULTS)
    for name, value in candidate.items():
        out[name] = _check_value(BY_NAME[name], value)
    _check_combinations(out)
    return out


def _check_combinations(p: dict[str, Any]) -> None:
    if p["cutoff_min"] > p["horizon_h"] * 60:
        raise InputError(
            "cutoff_min",
            f"the cut-off ({p['cutoff_min']} min) must not be longer than the planning horizon "
            f"({p['horizon_h']:g} h = {p['horizon_h'] * 60:g} min)",
        )
    if p["help_board_s"] < p["board_s"]:
        raise InputError("help_board_s", "getting in with help cannot be quicker than without")
    if p["fallback_text"] and not p["fallback_phone"] and "{phone}" in p["fallback_text"]:
        raise InputError("fallback_phone", "the fallback text mentions {phone}; give the number")
    start, end = p["volunteer_quiet_from"], p["volunteer_quiet_until"]
    if (start is None) != (end is None):
        missing = "volunteer_quiet_until" if end is None else "volunteer_quiet_from"
        raise InputError(missing, "quiet hours need both a start and an end")
    if start is not None and start == end:
        raise InputError("volunteer_quiet_until", "quiet hours cannot start and end at once")


def effective(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored set read leniently: every known key that fits, defaults for the rest."""
    out = dict(DEFAULTS)
    for name, value in stored.items():
        f = BY_NAME.get(name)
        if f is None:
            continue
        try:
            out[name] = _check_value(f, value)
        except InputError:
            continue
    return out


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between two complete sets, in field order: ``{field, old, new}``."""
    return [
        {"field": f.name, "old": old.get(f.name), "new": new.get(f.name)}
        for f in FIELDS
        if old.get(f.name) != new.get(f.name)
    ]


def quiet_hours(p: dict[str, Any]) -> tuple[time, time] | None:
    """The volunteers' quiet hours as local times, if set (they may span midnight)."""
    if p.get("volunteer_quiet_from") is None or p.get("volunteer_quiet_until") is None:
        return None
    return time.fromisoformat(p["volunteer_quiet_from"]), time.fromisoformat(
        p["volunteer_quiet_until"]
    )
