"""The compiled fast check of request bodies never accepts a body that ``jsonschema`` (which
lists the errors and decides) refuses: valid bodies, each field replaced by awkward values,
fields dropped or added, and arbitrary JSON."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maas.errors import InputError
from maas.schemas import SchemaRegistry

REGISTRY = SchemaRegistry()

EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "request-create": [
        {
            "origin": {"lon": 8.86, "lat": 48.59},
            "destination": {"meeting_point_id": str(uuid.uuid4())},
            "depart_earliest": "2026-05-04T07:30:00+02:00",
            "arrive_latest": "2026-05-04T08:30:00Z",
            "passengers": 2,
            "needs": {"wheelchair": True, "child_seat": False, "help_getting_in": False},
            "max_walk_m": 300,
            "note": "at the bench",
            "person_id": str(uuid.uuid4()),
        }
    ],
    "offer-create": [
        {
            "origin": {"lon": 8.86, "lat": 48.59},
            "destination": {"lon": 8.87, "lat": 48.6},
            "recurrence": {
                "weekdays": [1, 3],
                "depart_earliest": "07:30",
                "depart_latest": "08:00",
                "valid_from": "2026-05-04",
                "exception_dates": ["2026-05-06"],
            },
            "seats": 3,
            "vehicle": {"wheelchair": False, "child_seat": True, "luggage": True},
            "note": None,
        }
    ],
}

AWKWARD: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    1.5,
    -1,
    9,
    10**12,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x",
    "\n",
    "12:30",
    "12:30\n",
    "25:61",
    "2026-05-04",
    "2026-02-30",
    "2026-05-04T07:30:00",
    "2026-05-04T07:30:00Z",
    "2026-05-04t07:30:00z",
    "2026-05-04T07:30:00+02:00\n",
    "2026-13-04T07:30:00Z",
    str(uuid.uuid4()),
    str(uuid.uuid4()).upper(),
    "not-a-uuid",
    "https://example.org/hook",
    "x" * 600,
    [],
    [1, 1],
    [1, 2, 3],
    {},
    {"lon": 8.8, "lat": 48.5},
    {"meeting_point_id": str(uuid.uuid4())},
]


def _python_accepts(name: str, body: Any) -> bool:
    validator = REGISTRY._validators[name]
    return not any(True for _ in validator.iter_errors(body))


def _variants(body: Any) -> Iterator[Any]:
    """The body with each field (at any depth) replaced, dropped, or joined by an unknown one."""
    yield body
    if isinstance(body, dict):
        yield {**body, "unknown_field": 1}
        for key, value in body.items():
            yield {k: v for k, v in body.items() if k != key}
            for other in AWKWARD:
                yield {**body, key: other}
            for inner in _variants(value):
                if inner is not value:
                    yield {**body, key: inner}
    elif isinstance(body, list):
        for i, value in enumerate(body):
            for other in AWKWARD:
                yield [*body[:i], other, *body[i + 1 :]]
            for inner in _variants(value):
                if inner is not value:
                    yield [*body[:i], inner, *body[i + 1 :]]


def _check(name: str, body: Any) -> bool:
    """Whether the registry accepted the body; fails if the fast check accepted a body that
    jsonschema refuses."""
    fast = REGISTRY._fast[name].is_valid(body)
    slow = _python_accepts(name, body)
    assert not (fast and not slow), (name, json.dumps(body, default=str)[:300])
    try:
        REGISTRY.validate(name, copy.deepcopy(body))
    except InputError:
        assert not slow
        return False
    assert slow
    return True


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_fast_check_never_accepts_what_jsonschema_refuses(name: str) -> None:
    accepted = refused = 0
    for example in EXAMPLES[name]:
        assert _check(name, example)
        for variant in _variants(example):
            if _check(name, variant):
                accepted += 1
            else:
                refused += 1
    # Both kinds were tried, many of each.
    assert accepted > 20
    assert refused > 100


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([a for a in AWKWARD if not isinstance(a, list | dict)]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["origin", "lon", "lat", "seats", "note", "depart_earliest", "x"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(REGISTRY.schemas)), body=JSON)
def test_the_fast_check_agrees_on_arbitrary_json(name: str, body: Any) -> None:
    _check(name, body)
