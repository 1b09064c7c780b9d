"""Matching through the running service on the demo region: offers and requests over the API,
a run in the worker pool, the proposal with stops and route, the booking lifecycle, and many
riders taking the same seats at once over real HTTP."""

from __future__ import annotations

import asyncio
import time as clock
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import shapely
from jsonschema import Draft202012Validator
from shapely.geometry import MultiPolygon, box
from support.matching_world import GAERTRINGEN, HERRENBERG, NUFRINGEN, tomorrow_at
from support.server import LiveServer, run_cli, start_server

from maas import db
from maas.app import api_routes
from maas.domain.models import Point
from maas.http.openapi import build_document
from maas.schemas import SchemaRegistry, format_checker
from maas.settings import Settings
from maas.store import communities, people, planning
from maas.store.planning import ProposedStop

pytestmark = pytest.mark.db

BERLIN = ZoneInfo("Europe/Berlin")
E2E_NAME = "E2E matching"
# Small squares around the places the tests start from: smaller than any village or other
# test community, so the API files rides starting there in this community.
E2E_PLACES = (GAERTRINGEN, NUFRINGEN, HERRENBERG)
RETIRED_AREA = (0.0, 0.0, 0.001, 0.001)

SQL_RETIRE = """
UPDATE community SET area = ST_Multi($2::geometry) WHERE name = $1
"""


@dataclass
class Actor:
    id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Scene:
    server: LiveServer
    settings: Settings
    community_id: uuid.UUID
    admin: Actor


async def _actor(
    conn: Any,
    name: str,
    community_id: uuid.UUID,
    *,
    is_rider: bool = False,
    is_driver: bool = False,
    is_admin: bool = False,
) -> Actor:
    person = await people.create_person(
        conn,
        name=name,
        home_community_id=community_id,
        is_rider=is_rider,
        is_driver=is_driver,
        is_admin=is_admin,
    )
    _, secret = await people.create_token(
        conn, person.id, label="e2e", expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    return Actor(person.id, secret)


@pytest.fixture(scope="module")
async def scene(
    settings: Settings, demo_region: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Scene]:
    """A fresh community on the demo region, an admin, and the service with one worker."""
    async with db.connection(settings) as conn:
        # Earlier sessions' e2e communities move out of the way (rides are filed by area).
        await conn.execute(SQL_RETIRE, E2E_NAME, shapely.set_srid(box(*RETIRED_AREA), 4326))
        community = await communities.create_community(
            conn,
            region=demo_region,
            name=E2E_NAME,
            area=shapely.set_srid(
                MultiPolygon(
                    [
                        box(p.lon - 0.001, p.lat - 0.001, p.lon + 0.001, p.lat + 0.001)
                        for p in E2E_PLACES
                    ]
                ),
                4326,
            ),
            settings={},
        )
        admin = await _actor(conn, "E2E admin", community.id, is_admin=True)
    log: Path = tmp_path_factory.mktemp("matching-server") / "server.log"
    server = start_server(settings, log, MAAS_WORKER_PROCESSES="1", MAAS_MATCHING_TIME_LIMIT_S="1")
    try:
        yield Scene(server, settings, community.id, admin)
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def local(at: datetime) -> str:
    return at.astimezone(BERLIN).isoformat()


async def call(
    http: aiohttp.ClientSession,
    scene: Scene,
    method: str,
    path: str,
    who: Actor,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    async with http.request(
        method, scene.server.base_url + path, json=body, headers=who.headers
    ) as response:
        return response.status, await response.json(content_type=None)


async def wait_for_run(http: aiohttp.ClientSession, scene: Scene, run_id: str) -> dict[str, Any]:
    deadline = clock.monotonic() + 120
    while clock.monotonic() < deadline:
        status, run = await call(http, scene, "GET", f"/v1/matching-runs/{run_id}", scene.admin)
        assert status == 200, run
        if run["status"] != "running":
            return dict(run)
        await asyncio.sleep(0.2)
    raise AssertionError("the run did not finish within 120 s")


def conforms(name: str, instance: Any) -> None:
    """The answer follows its published response schema."""
    components = build_document(api_routes(), SchemaRegistry())["components"]
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    validator = Draft202012Validator(schema, format_checker=format_checker())
    assert not [e.message for e in validator.iter_errors(instance)]


def point(p: Point) -> dict[str, float]:
    return {"lon": p.lon, "lat": p.lat}


async def test_offer_request_run_accept_confirm(scene: Scene, http: aiohttp.ClientSession) -> None:
    async with db.connection(scene.settings) as conn:
        driver = await _actor(conn, "Driver Gärtringen", scene.community_id, is_driver=True)
        rider = await _actor(conn, "Rider Nufringen", scene.community_id, is_rider=True)
        stranger = await _actor(conn, "Stranger", scene.community_id, is_rider=True)
    t = tomorrow_at(7, 30)
    status, offer = await call(
        http,
        scene,
        "POST",
        "/v1/offers",
        driver,
        {
            "origin": point(GAERTRINGEN),
            "destination": point(HERRENBERG),
            "depart_earliest": local(t),
            "depart_latest": local(t + timedelta(minutes=15)),
            "seats": 3,
        },
    )
    assert status == 201, offer
    assert offer["community_id"] == str(scene.community_id)
    status, request = await call(
        http,
        scene,
        "POST",
        "/v1/requests",
        rider,
        {
            "origin": point(NUFRINGEN),
            "destination": point(HERRENBERG),
            "depart_earliest": local(t - timedelta(minutes=10)),
            "arrive_latest": local(t + timedelta(minutes=60)),
        },
    )
    assert status == 201, request

    day = t.astimezone(BERLIN).date().isoformat()
    path = f"/v1/communities/{scene.community_id}/matching-runs"
    status, denied = await call(http, scene, "POST", path, driver, {"date": day})
    assert status == 403, denied
    started = clock.perf_counter()
    status, run = await call(http, scene, "POST", path, scene.admin, {"date": day})
    assert status == 202, run
    assert run["status"] == "running"
    run = await wait_for_run(http, scene, run["id"])
    elapsed = clock.perf_counter() - started
    assert run["status"] == "succeeded", run["error"]
    assert run["counts"]["served"] == 1
    conforms("MatchingRun", run)
    status, runs = await call(
        http, scene, "GET", f"/v1/communities/{scene.community_id}/matching-runs", scene.admin
    )
    assert status == 200
    conforms("MatchingRunPage", runs)
    assert runs["items"][0]["id"] == run["id"]
    print(f"\nrun on the demo region: {elapsed:.2f} s end to end, timings {run['timings_s']}")

    status, outcome = await call(http, scene, "GET", f"/v1/requests/{request['id']}/outcome", rider)
    assert status == 200
    assert outcome["outcome"]["served"] is True
    conforms("RequestOutcome", outcome)
    match_id = outcome["outcome"]["match_id"]

    status, seen = await call(http, scene, "GET", f"/v1/matches/{match_id}", scene.admin)
    assert status == 200
    assert [s["kind"] for s in seen["stops"]] == ["pickup", "dropoff"]
    assert all(s["planned_at"] for s in seen["stops"])
    assert seen["route"]["type"] == "LineString"
    assert len(seen["route"]["coordinates"]) > 10
    assert seen["params_version"] == 1

    status, _ = await call(http, scene, "POST", f"/v1/matches/{match_id}/accept", stranger)
    assert status == 404
    status, body = await call(http, scene, "POST", f"/v1/matches/{match_id}/accept", driver)
    assert status == 200, body
    assert body["status"] == "accepted"
    assert body["route"] is None  # not confirmed yet: the driver sees no exact route
    status, body = await call(http, scene, "POST", f"/v1/matches/{match_id}/accept", rider)
    assert status == 200, body
    assert body["status"] == "confirmed"
    conforms("Match", body)
    assert body["route"]["type"] == "LineString"
    status, problem = await call(http, scene, "POST", f"/v1/matches/{match_id}/decline", rider)
    assert status == 409
    assert problem["type"].endswith("/conflict")
    status, problem = await call(http, scene, "POST", f"/v1/matches/{match_id}/complete", rider)
    assert status == 403

    # Cancelling the request over the API frees the seat at once, before any new run.
    status, body = await call(http, scene, "POST", f"/v1/requests/{request['id']}/cancel", rider)
    assert status == 200, body
    status, seen = await call(http, scene, "GET", f"/v1/matches/{match_id}", scene.admin)
    assert status == 200
    assert seen["status"] == "cancelled", seen


async def test_many_riders_accept_at_once_and_no_seat_is_double_booked(
    scene: Scene, http: aiohttp.ClientSession
) -> None:
    """60 riders, each proposed onto two of four overlapping 3-seat trips (120 proposals),
    all accept at once over HTTP."""
    t = tomorrow_at(8, 0)
    seats = 3
    async with db.connection(scene.settings) as conn:
        run = await planning.start_run(
            conn,
            community_id=scene.community_id,
            horizon=(t - timedelta(hours=1), t + timedelta(hours=2)),
            trigger="test",
            requested_by=None,
            params_version=1,
            params={},
        )
        await planning.fail_run(conn, run.id, "seeded by a test", {})
        drivers = [
            await _actor(conn, f"Driver {i}", scene.community_id, is_driver=True) for i in range(4)
        ]
        offers = []
        for d in drivers:
            offers.append(
                await conn.fetchval(
                    "INSERT INTO ride_offer (person_id, community_id, origin, destination, "
                    "depart_earliest, depart_latest, seats) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "RETURNING id",
                    d.id,
                    scene.community_id,
                    shapely.set_srid(shapely.Point(GAERTRINGEN.lon, GAERTRINGEN.lat), 4326),
                    shapely.set_srid(shapely.Point(HERRENBERG.lon, HERRENBERG.lat), 4326),
                    t,
                    t + timedelta(minutes=10),
                    seats,
                )
            )
        riders: list[tuple[Actor, list[uuid.UUID]]] = []
        for i in range(60):
            rider = await _actor(conn, f"Rider {i}", scene.community_id, is_rider=True)
            request_id = await conn.fetchval(
                "INSERT INTO ride_request (person_id, community_id, origin, destination, "
                "depart_earliest, arrive_latest) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                rider.id,
                scene.community_id,
                shapely.set_srid(shapely.Point(NUFRINGEN.lon, NUFRINGEN.lat), 4326),
                shapely.set_srid(shapely.Point(HERRENBERG.lon, HERRENBERG.lat), 4326),
                t,
                t + timedelta(hours=1),
            )
            mine = []
            for offer in (offers[i % 4], offers[(i + 1) % 4]):
                mine.append(
                    await planning.insert_proposal(
                        conn,
                        run_id=run.id,
                        community_id=scene.community_id,
                        offer_id=offer,
                        occurrence_date=t.astimezone(BERLIN).date(),
                        departure_at=t,
                        params_version=1,
                        request_ids=[request_id],
                        stops=[
                            ProposedStop(
                                request_id, "pickup", NUFRINGEN, None, t + timedelta(minutes=5)
                            ),
                            ProposedStop(
                                request_id, "dropoff", HERRENBERG, None, t + timedelta(minutes=14)
                            ),
                        ],
                        route=[],
                    )
                )
            riders.append((rider, mine))

    calls = [
        call(http, scene, "POST", f"/v1/matches/{match_id}/accept", rider)
        for rider, mine in riders
        for match_id in mine
    ]
    results = await asyncio.gather(*calls)
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 409}, [b for s, b in results if s not in (200, 409)][:3]
    assert statuses.count(200) == len(offers) * seats  # every seat taken, none twice

    async with db.connection(scene.settings) as conn:
        per_offer = await conn.fetch(
            "SELECT m.offer_id, count(*) AS riders FROM match m "
            "JOIN match_rider r ON r.match_id = m.id "
            "WHERE m.offer_id = ANY($1::uuid[]) AND r.status = 'accepted' GROUP BY m.offer_id",
            offers,
        )
        per_request = await conn.fetchval(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM match_rider r "
            "JOIN match m ON m.id = r.match_id WHERE m.offer_id = ANY($1::uuid[]) "
            "AND r.status = 'accepted' GROUP BY r.request_id) x",
            offers,
        )
    assert {r["offer_id"]: r["riders"] for r in per_offer} == dict.fromkeys(offers, seats)
    assert per_request == 1  # nobody holds two seats


def test_cli_runs_a_community(scene: Scene) -> None:
    day = tomorrow_at(12).astimezone(BERLIN).date().isoformat()
    result = run_cli(
        scene.settings,
        "match",
        "--community",
        str(scene.community_id),
        "--date",
        day,
        MAAS_MATCHING_TIME_LIMIT_S="1",
    )
    assert result.returncode == 0, result.stderr
    assert f"of community {scene.community_id}: succeeded" in result.stdout
    bad = run_cli(scene.settings, "match", "--community", "not-a-uuid")
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("maas: error: --community: is not a UUID")
