"""Matching runs against PostGIS and the demo road network: inputs, results, replacement,
atomic writes and the run lock."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from support.matching_world import (
    AFFSTAETT,
    GAERTRINGEN,
    HERRENBERG,
    NUFRINGEN,
    World,
    matches_of,
    stops_of,
    tomorrow_at,
    tomorrow_run,
    weekly_on,
)

import matching
from maas.domain.models import Point
from maas.errors import ConflictError
from maas.planning import plan as plan_mod
from maas.planning.params import MatchingParams, walk_s
from maas.planning.service import MatchingRunner, RunRequest, day_horizon, read_input
from maas.store import planning

pytestmark = pytest.mark.db

BERLIN = ZoneInfo("Europe/Berlin")


async def test_run_proposes_a_match_with_stops_route_and_version(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    driver = await world.person("Driver from Gärtringen")
    rider = await world.person("Rider from Nufringen")
    offer = await world.offer(driver, GAERTRINGEN, HERRENBERG, t)
    request = await world.request(rider, NUFRINGEN, HERRENBERG, t - timedelta(minutes=10))
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert (run.requests_count, run.occurrences_count, run.served_count) == (1, 1, 1)
    assert run.params_version == 1
    assert run.params["max_detour_min"] == 15
    [m] = await matches_of(conn, run)
    assert m["offer_id"] == offer
    assert m["status"] == "proposed"
    assert m["occurrence_date"] == t.astimezone(BERLIN).date()
    assert len(m["route"].coords) > 10
    stops = await stops_of(conn, m["id"])
    assert [(s["kind"], s["request_id"]) for s in stops] == [
        ("pickup", request),
        ("dropoff", request),
    ]
    assert t <= m["departure_at"] <= stops[0]["planned_at"] < stops[1]["planned_at"]
    outcome = await planning.latest_outcome(conn, request)
    assert outcome is not None
    assert outcome.served
    assert outcome.match_id == m["id"]


async def test_unserved_requests_get_a_reason(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    driver = await world.person("Driver")
    await world.offer(driver, GAERTRINGEN, HERRENBERG, t)
    late = await world.request(
        await world.person("Late"), NUFRINGEN, HERRENBERG, t.replace(hour=15)
    )
    own = await world.request(driver, GAERTRINGEN, HERRENBERG, t)
    wheelchair = await world.request(
        await world.person("Needs a wheelchair place"), NUFRINGEN, HERRENBERG, t, wheelchair=True
    )
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    assert run.served_count == 0
    reasons = {}
    for r in (late, own, wheelchair):
        outcome = await planning.latest_outcome(conn, r)
        assert outcome is not None
        reasons[r] = outcome.reason
    assert reasons[late] == "no_driver_in_time_window"
    # The driver is never matched with themself: no other driver is there.
    assert reasons[own] == "no_driver_in_time_window"
    assert reasons[wheelchair] == "needs_not_met"


async def test_weekly_offer_occurs_on_the_run_day(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    day = t.astimezone(BERLIN).date()
    driver = await world.person("Weekly driver")
    offer = await world.offer(driver, GAERTRINGEN, HERRENBERG, weekly=weekly_on(day, 7, 30))
    await world.request(
        await world.person("Rider"), NUFRINGEN, HERRENBERG, t - timedelta(minutes=5)
    )
    req = tomorrow_run(world)
    assert req.horizon is not None
    run = await planning.start_run(
        conn,
        community_id=world.community_id,
        horizon=req.horizon,
        trigger="test",
        requested_by=None,
        params_version=1,
        params={},
    )
    await planning.fail_run(conn, run.id, "only reading inputs", {})
    inp = await read_input(conn, run, MatchingParams(), network_path=None, snap_max_distance_m=1000)
    [occ] = inp.occurrences
    assert occ.offer_id == offer
    assert occ.occurrence_date == day
    assert inp.t0 + timedelta(seconds=occ.earliest_s) == t
    assert inp.t0 + timedelta(seconds=occ.latest_s) == t + timedelta(minutes=15)
    done = await runner.run(tomorrow_run(world))
    assert done.status == "succeeded", done.error
    [m] = await matches_of(conn, done)
    assert (m["offer_id"], m["occurrence_date"]) == (offer, day)


def _north_of(p: Point, metres: float) -> Point:
    return Point(p.lon, p.lat + metres / 111_200)


async def test_meeting_points_within_walking_distance_are_candidates(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    near = await world.meeting_point("Mitfahrbank near", _north_of(NUFRINGEN, 150))
    far = await world.meeting_point("Mitfahrbank far", _north_of(NUFRINGEN, 450))
    at_end = await world.meeting_point("Bus stop at the end", _north_of(HERRENBERG, 100))
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    request = await world.request(
        await world.person("Rider"), NUFRINGEN, HERRENBERG, t, max_walk_m=400
    )
    req = tomorrow_run(world)
    assert req.horizon is not None
    run = await planning.start_run(
        conn,
        community_id=world.community_id,
        horizon=req.horizon,
        trigger="test",
        requested_by=None,
        params_version=1,
        params={},
    )
    await planning.fail_run(conn, run.id, "only reading inputs", {})
    inp = await read_input(conn, run, MatchingParams(), network_path=None, snap_max_distance_m=1000)
    [r] = [r for r in inp.requests if r.id == request]
    assert r.pickups[0].walk_s == 0  # the rider's own point comes first
    # Other tests leave meeting points at the same spots: compare places, not ids.
    walks = {(p.lon, p.lat): p.walk_s for p in r.pickups[1:]}
    near_at, far_at = _north_of(NUFRINGEN, 150), _north_of(NUFRINGEN, 450)
    assert (near_at.lon, near_at.lat) in walks
    # 450 m straight is 585 m on foot (× 1.3): beyond the rider's 400 m.
    assert (far_at.lon, far_at.lat) not in walks
    assert walks[(near_at.lon, near_at.lat)] == walk_s(150) == math.ceil(150 * 1.3 / 1.2)
    assert all(w <= math.ceil(400 / 1.2) for w in walks.values())
    # The same holds at the other end, for drop-offs.
    end_at = _north_of(HERRENBERG, 100)
    dropoff_walks = {(p.lon, p.lat): p.walk_s for p in r.dropoffs[1:]}
    assert dropoff_walks[(end_at.lon, end_at.lat)] == walk_s(100)
    assert (near_at.lon, near_at.lat) not in dropoff_walks
    del near, far, at_end


async def test_a_new_run_replaces_proposals_but_keeps_accepted_matches(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    d1 = await world.person("Driver 1")
    d2 = await world.person("Driver 2")
    await world.offer(d1, GAERTRINGEN, HERRENBERG, t)
    await world.offer(d2, GAERTRINGEN, HERRENBERG, t + timedelta(minutes=5))
    r1 = await world.request(await world.person("Rider 1"), NUFRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider 2"), NUFRINGEN, HERRENBERG, t, passengers=3)
    first = await runner.run(tomorrow_run(world))
    assert first.status == "succeeded", first.error
    assert first.served_count == 2
    firsts = await matches_of(conn, first)
    # Someone accepts one match: it is kept; the other, untouched, is replaced.
    riders = {m["id"]: {s["request_id"] for s in await stops_of(conn, m["id"])} for m in firsts}
    [kept] = [m for m in firsts if r1 in riders[m["id"]]]
    await conn.execute(
        "UPDATE match SET status = 'accepted', driver_status = 'accepted' WHERE id = $1",
        kept["id"],
    )
    second = await runner.run(tomorrow_run(world))
    assert second.status == "succeeded", second.error
    assert second.requests_count == 1  # rider 1 is held by the kept match
    remaining = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM match WHERE community_id = $1", world.community_id
        )
    }
    seconds = await matches_of(conn, second)
    assert remaining == {kept["id"]} | {m["id"] for m in seconds}
    kept_now = await conn.fetchrow("SELECT status, run_id FROM match WHERE id = $1", kept["id"])
    assert kept_now["status"] == "accepted"
    assert kept_now["run_id"] == first.id


async def test_a_failure_while_writing_leaves_nothing(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    request = await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    first = await runner.run(tomorrow_run(world))
    [proposal] = await matches_of(conn, first)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full (simulated) after the matches were written")

    monkeypatch.setattr(planning, "insert_outcomes", broken)
    second = await runner.run(tomorrow_run(world))
    assert second.status == "failed"
    assert second.error is not None
    assert "disk full" in second.error
    assert second.finished_at is not None
    assert await matches_of(conn, second) == []
    # The previous proposal is still there, as are its stops and outcome.
    assert await conn.fetchval("SELECT count(*) FROM match WHERE id = $1", proposal["id"]) == 1
    outcome = await planning.latest_outcome(conn, request)
    assert outcome is not None
    assert outcome.run_id == first.id


async def test_a_result_that_fails_the_check_is_not_written(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)

    def always_broken(
        problem: matching.Problem, result: matching.Result
    ) -> list[matching.Violation]:
        return [matching.Violation(matching.ViolationKind.SEATS, "simulated bug", "d", "r")]

    monkeypatch.setattr(matching, "check", always_broken)
    run = await runner.run(tomorrow_run(world))
    assert run.status == "failed"
    assert run.error is not None
    assert "simulated bug" in run.error
    assert await matches_of(conn, run) == []


async def test_two_runs_of_one_community_never_interleave(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, AFFSTAETT, t)
    first, task = await runner.start(tomorrow_run(world))
    with pytest.raises(ConflictError):
        await runner.start(tomorrow_run(world))
    done = await task
    assert done.id == first.id
    assert done.status == "succeeded", done.error
    again = await runner.run(tomorrow_run(world))
    assert again.status == "succeeded"
    # Started at once from two places, exactly one run proceeds.
    results = await asyncio.gather(
        runner.run(tomorrow_run(world)), runner.run(tomorrow_run(world)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "MatchingRun"]


async def test_only_declined_drivers_is_the_reason_after_a_decline(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    request = await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    first = await runner.run(tomorrow_run(world))
    [m] = await matches_of(conn, first)
    await conn.execute("UPDATE match_rider SET status = 'declined' WHERE match_id = $1", m["id"])
    await conn.execute("UPDATE match SET status = 'declined' WHERE id = $1", m["id"])
    second = await runner.run(tomorrow_run(world))
    assert second.status == "succeeded", second.error
    assert second.served_count == 0
    outcome = await planning.latest_outcome(conn, request)
    assert outcome is not None
    assert outcome.reason == plan_mod.REASON_ONLY_DECLINED


async def test_a_run_of_another_day_leaves_this_days_proposals(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    await world.offer(await world.person("Driver"), GAERTRINGEN, HERRENBERG, t)
    await world.request(await world.person("Rider"), NUFRINGEN, HERRENBERG, t)
    first = await runner.run(tomorrow_run(world))
    [m] = await matches_of(conn, first)
    later = (t + timedelta(days=2)).astimezone(BERLIN).date()
    other = await runner.run(
        RunRequest(world.community_id, horizon=day_horizon(later), trigger="test")
    )
    assert other.status == "succeeded", other.error
    assert other.requests_count == 0
    assert await conn.fetchval("SELECT count(*) FROM match WHERE id = $1", m["id"]) == 1


async def test_a_car_whose_held_riders_no_longer_fit_does_not_stop_the_run(
    runner: MatchingRunner, world: World, conn: asyncpg.Connection
) -> None:
    t = tomorrow_at(7, 30)
    stuck_driver = await world.person("Driver with an impossible booking")
    stuck_offer = await world.offer(stuck_driver, GAERTRINGEN, HERRENBERG, t)
    held_rider = await world.request(await world.person("Held"), HERRENBERG, GAERTRINGEN, t)
    req = tomorrow_run(world)
    assert req.horizon is not None
    seeded = await planning.start_run(
        conn,
        community_id=world.community_id,
        horizon=req.horizon,
        trigger="test",
        requested_by=None,
        params_version=1,
        params={},
    )
    await planning.fail_run(conn, seeded.id, "seeded by a test", {})
    # Accepted long ago: a ride the wrong way, which no rule lets the driver make now.
    held = await planning.insert_proposal(
        conn,
        run_id=seeded.id,
        community_id=world.community_id,
        offer_id=stuck_offer,
        occurrence_date=t.astimezone(BERLIN).date(),
        departure_at=t,
        params_version=1,
        request_ids=[held_rider],
        stops=[
            planning.ProposedStop(held_rider, "pickup", HERRENBERG, None, t + timedelta(minutes=2)),
            planning.ProposedStop(
                held_rider, "dropoff", GAERTRINGEN, None, t + timedelta(minutes=4)
            ),
        ],
        route=[],
    )
    await conn.execute(
        "UPDATE match SET status = 'confirmed', driver_status = 'accepted' WHERE id = $1", held
    )
    await conn.execute("UPDATE match_rider SET status = 'accepted' WHERE match_id = $1", held)
    await world.offer(await world.person("Other driver"), GAERTRINGEN, HERRENBERG, t)
    newcomer = await world.request(await world.person("Newcomer"), NUFRINGEN, HERRENBERG, t)
    run = await runner.run(tomorrow_run(world))
    assert run.status == "succeeded", run.error
    outcome = await planning.latest_outcome(conn, newcomer)
    assert outcome is not None
    assert outcome.served
    assert await conn.fetchval("SELECT status FROM match WHERE id = $1", held) == "confirmed"
    offer = await conn.fetchval("SELECT offer_id FROM match WHERE id = $1", outcome.match_id)
    assert offer != stuck_offer
