"""Cut-off and fallback: a request without a confirmed ride at the cut-off is told "no driver
found" with the community's fallback, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from support.api_bodies import at, request_body
from support.api_world import ApiClient, World

from maas.domain import params as community_params
from maas.planning import fallback
from maas.store import params

pytestmark = pytest.mark.db


async def test_an_unmatched_request_is_told_once_at_the_cut_off(
    client: ApiClient, world: World, api_conn: asyncpg.Connection
) -> None:
    rider = world["rider_west"]
    soon = request_body(depart_earliest=at(1), arrive_latest=at(2))
    later = request_body(depart_earliest=at(5), arrive_latest=at(6))
    ids = []
    for body in (soon, later):
        r = await client.post("/v1/requests", json=body, headers=rider.headers)
        assert r.status == 201, await r.text()
        ids.append((await r.json())["id"])
    conn = api_conn
    chosen = community_params.validate(
        {"cutoff_min": 90, "fallback_phone": "+49 7032 1234", "fallback_text": "Rufbus: {phone}"}
    )
    await params.save(conn, world.west, chosen, changed_by=None, reason="test")

    now = datetime.now(UTC)
    assert await fallback.tell_community(conn, world.west, now) >= 1
    assert await fallback.tell_community(conn, world.west, now) == 0  # told once

    rows = await conn.fetch(
        "SELECT payload FROM event WHERE person_id = $1 AND kind = $2",
        rider.id,
        fallback.KIND,
    )
    told = {json.loads(r["payload"])["request_id"]: json.loads(r["payload"]) for r in rows}
    assert ids[0] in told  # departs in 1 h, cut-off 90 min
    assert ids[1] not in told  # departs in 5 h
    assert told[ids[0]]["fallback"] == {
        "text": "Rufbus: +49 7032 1234",
        "phone": "+49 7032 1234",
        "connection": None,  # testland has no bus timetable
    }
    assert uuid.UUID(told[ids[0]]["community_id"]) == world.west
