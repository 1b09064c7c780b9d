"""Events the service writes itself (not the database triggers) follow the documented Event
schema: the instant answer, likely or not. (The triggers' events and the cut-off notice are
checked against a real database in tests/integration/api/test_events.py.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest
from jsonschema import Draft202012Validator

from maas.app import api_routes
from maas.http.openapi import build_document
from maas.planning.instant import KIND, Answer, answer_payload
from maas.planning.params import MatchingParams
from maas.planning.plan import PlanInput
from maas.schemas import SchemaRegistry, format_checker

T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    components = build_document(api_routes(), SchemaRegistry())["components"]
    schema = {"$ref": "#/components/schemas/Event", "components": components}
    return Draft202012Validator(schema, format_checker=format_checker())


def event(payload: dict[str, Any]) -> dict[str, Any]:
    """The envelope :func:`maas.notify.event_json` puts around a recorded payload."""
    return {
        "id": 7,
        "person_id": str(uuid.uuid4()),
        "kind": KIND,
        "payload": payload,
        "created_at": T0.isoformat(),
    }


@pytest.mark.parametrize(
    "answer",
    [
        Answer(likely=False),
        Answer(
            likely=True,
            offer_id=str(uuid.uuid4()),
            occurrence_date="2026-12-01",
            pickup_s=3600,
            dropoff_s=4500,
            pickup={"lon": 8.87, "lat": 48.59, "walk_s": 120, "meeting_point_id": None},
            dropoff={
                "lon": 8.9,
                "lat": 48.6,
                "walk_s": 0,
                "meeting_point_id": str(uuid.uuid4()),
            },
        ),
    ],
)
def test_an_instant_answer_is_a_documented_event(
    validator: Draft202012Validator, answer: Answer
) -> None:
    inp = PlanInput(None, 1000.0, T0, MatchingParams(), (), ())
    row = cast(asyncpg.Record, {"community_id": uuid.uuid4(), "id": uuid.uuid4()})
    payload = answer_payload(inp, row, answer)
    assert not [e.message for e in validator.iter_errors(event(payload))]
    assert payload["likely"] is answer.likely


def test_an_undocumented_payload_is_refused(validator: Draft202012Validator) -> None:
    """The schema is not a blank cheque: a payload without its request is refused."""
    assert list(validator.iter_errors(event({"likely": False})))
    assert list(validator.iter_errors({**event({}), "kind": "match.proposed"}))
