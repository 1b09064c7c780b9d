"""A run that finds a standing proposal again unchanged keeps it: nobody hears "withdrawn" and
"proposed" for the same ride at every scheduler tick. A changed ride is replaced."""

from __future__ import annotations

import asyncpg
import pytest
from support.matching_world import (
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    matches_of,
    tomorrow_at,
    tomorrow_run,
)

from maas.planning.service import MatchingRunner

pytestmark = pytest.mark.db


async def kinds(conn: asyncpg.Connection, person_id: object) -> list[str]:
    rows = await conn.fetch("SELECT kind FROM event WHERE person_id = $1 ORDER BY id", person_id)
    return [r["kind"] for r in rows]


async def test_an_unchanged_proposal_stays_and_a_changed_one_is_replaced(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    driver = await world.person("Driver")
    rider = await world.person("Rider")
    await world.offer(driver, GAERTRINGEN, HERRENBERG, t, seats=3)
    await world.request(rider, NUFRINGEN, HERRENBERG, t)

    first = await runner.run(tomorrow_run(world))
    [m1] = await matches_of(conn, first)
    second = await runner.run(tomorrow_run(world))
    [m2] = await matches_of(conn, second)
    assert m2["id"] == m1["id"]  # the same proposal, now the second run's
    assert m2["params_version"] == m1["params_version"]
    assert second.served_count == 1
    assert second.matches_count == 1
    assert await kinds(conn, driver) == ["offer.created", "match.proposed"]
    assert await kinds(conn, rider) == ["request.created", "match.proposed"]

    # A second rider joins the same car: the ride changed, so it is proposed anew.
    other = await world.person("Other rider")
    await world.request(other, GAERTRINGEN, HERRENBERG, t)
    third = await runner.run(tomorrow_run(world))
    [m3] = await matches_of(conn, third)
    assert m3["id"] != m1["id"]
    assert await conn.fetchval("SELECT count(*) FROM match WHERE id = $1", m1["id"]) == 0
    assert "match.withdrawn" in await kinds(conn, driver)
