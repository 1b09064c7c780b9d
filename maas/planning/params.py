"""Matching parameters of a community, with documented defaults.

A run reads these keys of the community's current parameter version
(``community_params_version``, changed by operators through ``/v1/communities/{id}/params``,
see :mod:`maas.domain.params`; absent keys take the default) and records that version's number
with every run and match:

========================  =========  ======================================================
key                       default    meaning
========================  =========  ======================================================
``max_detour_min``        15         a driver's added time at most this … (never more than
``max_detour_pct``        50         … or this % of the direct time the driver's own limits)
``ride_time_factor``      1.5        a rider's ride time ≤ factor × direct time …
``ride_time_extra_min``   10         … + this many minutes
``max_walk_m``            500        walking to a meeting point at most this (and at most
                                     the request's own ``max_walk_m``)
``horizon_h``             24         a run without a given day covers the next hours
``board_s``/``alight_s``  60 / 30    dwell time when a rider gets in / out
``help_board_s``          180        dwell time for a rider who needs help getting in
``drop_penalty``          10^7       objective: cost of leaving a rider unserved (weight)
``arc_cost_weight``       1          objective: cost per second of driving
``fairness_weight``       60         objective: spreading rides across volunteers; giving a
                                     driver who already has n rides this week (before and
                                     in this run) one more costs n × this (with
                                     ``arc_cost_weight`` 1: seconds of driving per ride;
                                     0 = off; see :mod:`matching.fairness`)
========================  =========  ======================================================

The fairness weight does not compete with serving riders: :mod:`matching.fairness` caps it so
that the fairness cost of one more rider stays below ``drop_penalty``, so it trades against
driving time only. Its default, 60, means a driver with one ride more this week gets the next
rider only if giving them to the other driver would add more than a minute of driving.

Walking is estimated as straight-line distance × 1.3 (streets are not straight) at 1.2 m/s
(4.3 km/h, a slow walking pace that suits elderly riders).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

WALK_DETOUR_FACTOR = 1.3
"""Walking distance along streets per metre of straight-line distance."""
WALK_SPEED_M_S = 1.2
"""Walking speed (4.3 km/h)."""


def walk_s(straight_m: float) -> int:
    """Walking time in whole seconds for a straight-line distance."""
    return math.ceil(straight_m * WALK_DETOUR_FACTOR / WALK_SPEED_M_S)


@dataclass(frozen=True, slots=True)
class MatchingParams:
    """The effective parameters of one run (plain data: it crosses into worker processes)."""

    max_detour_min: int = 15
    max_detour_pct: int = 50
    ride_time_factor: float = 1.5
    ride_time_extra_min: int = 10
    max_walk_m: int = 500
    horizon_h: float = 24.0
    board_s: int = 60
    alight_s: int = 30
    help_board_s: int = 180
    drop_penalty: int = 10_000_000
    arc_cost_weight: int = 1
    fairness_weight: int = 60
    time_limit_s: float = 5.0
    seed: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_KEYS: dict[str, tuple[type, float, float]] = {
    "max_detour_min": (int, 0, 240),
    "max_detour_pct": (int, 0, 1000),
    "ride_time_factor": (float, 1.0, 10.0),
    "ride_time_extra_min": (int, 0, 240),
    "max_walk_m": (int, 0, 5000),
    "horizon_h": (float, 1.0, 24.0 * 14),
    "board_s": (int, 0, 900),
    "alight_s": (int, 0, 900),
    "help_board_s": (int, 0, 1800),
    "drop_penalty": (int, 1, 10**12),
    "arc_cost_weight": (int, 0, 10**6),
    "fairness_weight": (int, 0, 3600),
}


def params_from_settings(settings: dict[str, Any], *, time_limit_s: float) -> MatchingParams:
    """The parameters a community's settings ask for; unknown keys (the community's other
    options) are ignored, and a value of the wrong type or out of range keeps the default
    rather than stopping matching for the whole community."""
    values: dict[str, Any] = {}
    for key, (kind, low, high) in _KEYS.items():
        raw = settings.get(key)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            continue
        if kind is int and not float(raw).is_integer():
            continue
        if low <= raw <= high:
            values[key] = kind(raw)
    return MatchingParams(**values, time_limit_s=time_limit_s)
