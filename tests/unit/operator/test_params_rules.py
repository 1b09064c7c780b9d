"""Community parameters: ranges, contradictions, lenient reading; the JSON Schema agrees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from maas.domain import params
from maas.errors import InputError
from maas.schemas import SCHEMA_DIR


def test_defaults_fill_what_is_missing() -> None:
    p = params.validate({"max_walk_m": 300})
    assert p["max_walk_m"] == 300
    assert p["ride_time_factor"] == 1.5
    assert set(p) == {f.name for f in params.FIELDS}


@pytest.mark.parametrize(
    ("candidate", "field"),
    [
        ({"max_detour_min": 241}, "max_detour_min"),
        ({"max_detour_min": 2.5}, "max_detour_min"),
        ({"ride_time_factor": 0.9}, "ride_time_factor"),
        ({"horizon_h": 0}, "horizon_h"),
        ({"max_walk_m": "far"}, "max_walk_m"),
        ({"max_walk_m": True}, "max_walk_m"),
        ({"fallback_phone": "call us"}, "fallback_phone"),
        (
            {"volunteer_quiet_from": "25:00", "volunteer_quiet_until": "06:00"},
            "volunteer_quiet_from",
        ),
        ({"wings": 2}, "wings"),
    ],
)
def test_out_of_range_names_the_field(candidate: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        params.validate(candidate)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("candidate", "field"),
    [
        ({"horizon_h": 2, "cutoff_min": 180}, "cutoff_min"),
        ({"board_s": 120, "help_board_s": 60}, "help_board_s"),
        ({"volunteer_quiet_from": "21:00"}, "volunteer_quiet_until"),
        ({"volunteer_quiet_until": "06:00"}, "volunteer_quiet_from"),
        (
            {"volunteer_quiet_from": "21:00", "volunteer_quiet_until": "21:00"},
            "volunteer_quiet_until",
        ),
        ({"fallback_text": "Ring {phone}"}, "fallback_phone"),
    ],
)
def test_contradictions_are_refused(candidate: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        params.validate(candidate)
    assert caught.value.field == field


def test_quiet_hours_may_span_midnight() -> None:
    p = params.validate({"volunteer_quiet_from": "21:00", "volunteer_quiet_until": "07:00"})
    hours = params.quiet_hours(p)
    assert hours is not None
    assert (hours[0].hour, hours[1].hour) == (21, 7)


def test_stored_values_are_read_leniently() -> None:
    p = params.effective({"max_walk_m": 99999, "max_detour_min": 20, "theme": "dark"})
    assert p["max_walk_m"] == 500
    assert p["max_detour_min"] == 20
    assert "theme" not in p


def test_changes_list_old_and_new() -> None:
    old = params.validate({})
    new = params.validate({"max_walk_m": 300})
    assert params.changes(old, new) == [{"field": "max_walk_m", "old": 500, "new": 300}]


def test_the_json_schema_states_the_same_ranges() -> None:
    schema = json.loads((SCHEMA_DIR / "community-params.json").read_text())
    props = schema["properties"]["params"]["properties"]
    assert set(props) == {f.name for f in params.FIELDS}
    for f in params.FIELDS:
        if f.kind in ("int", "float"):
            assert (props[f.name]["minimum"], props[f.name]["maximum"]) == (f.low, f.high), f.name
        if f.kind in ("text", "phone"):
            assert props[f.name]["maxLength"] == f.high, f.name
