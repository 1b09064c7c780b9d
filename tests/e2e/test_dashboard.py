"""The operator dashboard in a real headless Chromium against the running service on the demo
region: sign in, the map with the region's roads and villages, key figures, a parameter change
seen in the history (and a refused one), a what-if replay of yesterday and its comparison, the
German texts; and a what-if cancelled over the API. A screenshot of each screen is saved under
``test-artifacts/``."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import shapely
from jsonschema import Draft202012Validator
from playwright.async_api import Page, async_playwright, expect
from shapely.geometry import LineString, box
from support.matching_world import GAERTRINGEN, HERRENBERG, NAGOLD, NUFRINGEN
from support.server import LiveServer

from maas import db
from maas.app import api_routes
from maas.domain.models import Point
from maas.http.openapi import build_document
from maas.schemas import SchemaRegistry
from maas.settings import PROJECT_DIR, Settings
from maas.store import communities, people
from maas.store.common import to_geom
from maas.store.matches import NewMatch, NewStop, insert_match

pytestmark = pytest.mark.db

BERLIN = ZoneInfo("Europe/Berlin")
ARTIFACTS = PROJECT_DIR / "test-artifacts"
NAME_PREFIX = "E2E dashboard"
AREA = (8.70, 48.52, 8.76, 48.57)  # around Nagold, away from the other e2e tests' rides
RETIRED_AREA = (0.0, 0.0, 0.001, 0.001)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

SQL_RETIRE = "UPDATE community SET area = ST_Multi($2::geometry) WHERE name LIKE $1"
SQL_OFFER = """
INSERT INTO ride_offer (person_id, community_id, origin, destination, depart_earliest,
                        depart_latest, seats)
VALUES ($1, $2, $3, $4, $5, $6, 3) RETURNING id
"""
SQL_REQUEST = """
INSERT INTO ride_request (person_id, community_id, origin, destination, depart_earliest,
                          arrive_latest)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
"""


@dataclass
class Desk:
    server: LiveServer
    community_id: uuid.UUID
    token: str
    day: date


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture(scope="module")
async def desk(settings: Settings, live_server: LiveServer) -> Desk:
    """A community with yesterday's rides (one driver took one of three riders) and an
    operator of it."""
    day = datetime.now(BERLIN).date() - timedelta(days=1)
    async with db.connection(settings) as conn:
        await conn.execute(
            SQL_RETIRE, NAME_PREFIX + "%", shapely.set_srid(box(*RETIRED_AREA), 4326)
        )
        community = await communities.create_community(
            conn,
            region=settings.region,
            name=f"{NAME_PREFIX} {uuid.uuid4().hex[:6]}",
            area=shapely.set_srid(box(*AREA), 4326),
            settings={},
        )
        cid = community.id
        operator = await people.create_person(
            conn, name="Olga Operator", home_community_id=cid, operator_of=[cid]
        )
        _, token = await people.create_token(
            conn, operator.id, label="e2e", expires_at=datetime.now(UTC) + timedelta(days=1)
        )
        driver = await people.create_person(
            conn, name="Dieter Driver", home_community_id=cid, is_driver=True
        )
        await conn.fetchval(
            SQL_OFFER,
            driver.id,
            cid,
            to_geom(GAERTRINGEN),
            to_geom(HERRENBERG),
            local(day, 7, 30),
            local(day, 7, 50),
        )
        offer2 = await conn.fetchval(
            SQL_OFFER,
            driver.id,
            cid,
            to_geom(NAGOLD),
            to_geom(HERRENBERG),
            local(day, 8, 0),
            local(day, 8, 15),
        )
        riders: list[uuid.UUID] = []
        for k, (a, b, at) in enumerate(
            [
                (NUFRINGEN, HERRENBERG, local(day, 7, 30)),
                (Point(8.7245, 48.5525), HERRENBERG, local(day, 8, 0)),
                (Point(8.7301, 48.5533), GAERTRINGEN, local(day, 15, 0)),
            ]
        ):
            rider = await people.create_person(
                conn, name=f"Rita Rider {k}", home_community_id=cid, is_rider=True
            )
            riders.append(
                await conn.fetchval(
                    SQL_REQUEST, rider.id, cid, to_geom(a), to_geom(b), at, at + timedelta(hours=1)
                )
            )
        route = shapely.set_srid(
            LineString([(NAGOLD.lon, NAGOLD.lat), (8.80, 48.57), (HERRENBERG.lon, HERRENBERG.lat)]),
            4326,
        )
        await insert_match(
            conn,
            NewMatch(
                offer_id=offer2,
                occurrence_date=day,
                departure_at=local(day, 8, 0),
                community_id=cid,
                request_ids=[riders[1]],
                stops=[
                    NewStop(riders[1], "pickup", Point(8.7245, 48.5525), local(day, 8, 4)),
                    NewStop(riders[1], "dropoff", HERRENBERG, local(day, 8, 30)),
                ],
                params_version=1,
                route=route,
                status="completed",
                rider_status="accepted",
            ),
        )
    return Desk(live_server, cid, token, day)


@pytest.fixture(scope="module")
async def page() -> AsyncIterator[Page]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed: deploy/setup-dev --test installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        # A browser far from the service's zone: the dashboard must still offer the service's
        # days (Europe/Berlin), which differ from the browser's for half of each day.
        context = await browser.new_context(
            viewport={"width": 1366, "height": 850}, locale="en", timezone_id="Pacific/Kiritimati"
        )
        tab = await context.new_page()
        tab.set_default_timeout(30_000)
        yield tab
        await context.close()
        await browser.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


SQL_LIVE_ROWS = """
SELECT (SELECT count(*) FROM match WHERE community_id = $1)
     + (SELECT count(*) FROM matching_run WHERE community_id = $1)
     + (SELECT count(*) FROM request_outcome o JOIN ride_request q ON q.id = o.request_id
        WHERE q.community_id = $1)
"""


async def test_the_dashboard_end_to_end(page: Page, desk: Desk, settings: Settings) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Refused requests (the wrong token, the refused parameter) are expected; script errors not.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    await page.goto(desk.server.base_url + "/dashboard")
    await page.click("#lang-en")
    await expect(page.locator("#login h2")).to_have_text("Sign in")
    await page.fill("#token", "not-a-token")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("not valid")
    await shot(page, "01-login")

    await page.fill("#token", desk.token)
    await page.click("#login-form button[type=submit]")
    mapped = page.locator("#map")
    try:
        await expect(mapped).to_have_attribute("data-villages", _positive())
    except AssertionError as exc:
        raise AssertionError(f"browser errors: {errors}") from exc
    await expect(mapped).to_have_attribute("data-roads", _positive())
    await expect(mapped).to_have_attribute("data-villages", _positive())
    await expect(mapped).to_have_attribute("data-requests", "3")
    await expect(mapped).to_have_attribute("data-routes", "1")
    await expect(mapped).to_have_attribute("data-unmet", "2")
    assert await page.locator("path.leaflet-interactive").count() > 3  # villages, routes, …
    await expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "© OpenStreetMap contributors, ODbL"
    )
    # The layers are loaded; wait until Leaflet has drawn the roads before the screenshot.
    # (Roads are drawn as non-interactive paths, villages and rides as interactive ones; a
    # path not drawn yet has the empty outline "M0 0".)
    await page.wait_for_function(
        "() => { const drawn = [...document.querySelectorAll('#map .leaflet-overlay-pane path')]"
        ".filter((p) => p.getAttribute('d') !== 'M0 0');"
        " return drawn.some((p) => p.classList.contains('leaflet-interactive'))"
        " && drawn.some((p) => !p.classList.contains('leaflet-interactive')); }"
    )
    await page.wait_for_timeout(300)
    await shot(page, "02-map")

    await page.click("[data-tab=kpis]")
    await expect(page.locator("#to")).to_have_value((desk.day + timedelta(days=1)).isoformat())
    await expect(page.locator("[data-kpi=requests] .kpi-value")).to_have_text("3")
    await expect(page.locator("[data-kpi=served] .kpi-value")).to_have_text("1")
    await expect(page.locator("[data-kpi=served_share] .kpi-value")).to_have_text("33 %")
    await shot(page, "03-kpis")

    await page.click("[data-tab=params]")
    await expect(page.locator("#params-version")).to_have_text("version 1")
    await page.fill("#p-max_walk_m", "350")
    await page.fill("#params-reason", "Shorter walks for older riders")
    await page.click("#params-form button[type=submit]")
    await expect(page.locator("#params-ok")).to_have_text("Saved as version 2.")
    newest = page.locator("#params-history tr[data-version='2']")
    await expect(newest).to_contain_text("Shorter walks for older riders")
    await expect(newest).to_contain_text("500 → 350")
    await expect(newest).to_contain_text("Olga Operator")
    await shot(page, "04-params")
    await page.fill("#p-ride_time_factor", "0.5")
    await page.click("#params-form button[type=submit]")
    await expect(page.locator("#err-p-ride_time_factor")).not_to_be_empty()
    await expect(page.locator("#params-version")).to_have_text("version 2")
    await shot(page, "05-params-refused")

    await page.click("[data-tab=whatif]")
    await expect(page.locator("#whatif-day")).to_have_value(desk.day.isoformat())
    await page.fill("#w-max_detour_min", "25")
    await page.click("#whatif-run")
    await expect(page.locator("#whatif-result")).to_be_visible(timeout=120_000)
    await expect(page.locator("#whatif-progress")).to_contain_text("Done")
    served = page.locator("#whatif-table tr[data-kpi=served] td")
    assert await served.nth(0).inner_text() == "Requests with a ride"
    assert int(await served.nth(2).inner_text()) == 1  # what actually happened
    assert int(await served.nth(1).inner_text()) >= 1  # the replay serves at least as many
    await expect(page.locator("#whatif-table th").nth(2)).to_have_text("What actually happened")
    assert await page.locator("#whatif-chart rect.bar-a").count() == 6  # 5 bars + legend
    await shot(page, "06-whatif")
    async with db.connection(settings) as conn:
        # the replay wrote nothing live: still only the one match inserted by the fixture
        assert await conn.fetchval(SQL_LIVE_ROWS, desk.community_id) == 1

    await page.click("#lang-de")
    await expect(page.locator("#whatif-table th").nth(1)).to_have_text("Mit diesen Einstellungen")
    await page.click("[data-tab=map]")
    await expect(page.locator(".leaflet-control-layers")).to_contain_text("Straßen")
    await expect(page.locator("#map")).to_have_attribute("data-routes", "1")
    await page.wait_for_timeout(300)  # let Leaflet finish drawing before the screenshot
    await shot(page, "07-map-de")
    assert errors == []


def _positive() -> Any:
    import re

    return re.compile(r"^[1-9][0-9]*$")


async def test_a_whatif_run_is_cancelled_and_a_day_without_data_is_refused(desk: Desk) -> None:
    headers = {"Authorization": f"Bearer {desk.token}"}
    url = f"{desk.server.base_url}/v1/communities/{desk.community_id}/whatif-runs"
    async with aiohttp.ClientSession(headers=headers) as http:
        empty = (desk.day - timedelta(days=30)).isoformat()
        async with http.post(url, json={"day": empty}) as r:
            assert r.status == 422
            assert (await r.json())["field"] == "day"
        body = {
            "day": desk.day.isoformat(),
            "source": "generated",
            "num_requests": 40,
            "time_limit_s": 3,
        }
        async with http.post(url, json=body) as r:
            assert r.status == 202, await r.text()
            run = await r.json()
        assert run["stages"] == ["reading", "solving", "solving_current", "comparing", "done"]
        async with http.post(f"{desk.server.base_url}/v1/whatif-runs/{run['id']}/cancel") as r:
            assert r.status == 200
            cancelled = await r.json()
        assert cancelled["status"] == "cancelled"
        assert cancelled["result"] is None
        async with http.get(f"{desk.server.base_url}/v1/whatif-runs/{run['id']}") as r:
            assert (await r.json())["status"] == "cancelled"


async def test_a_whatif_on_a_generated_day_compares_with_the_current_parameters(
    desk: Desk,
) -> None:
    headers = {"Authorization": f"Bearer {desk.token}"}
    base = desk.server.base_url
    body = {
        "day": desk.day.isoformat(),
        "source": "generated",
        "num_requests": 20,
        "seed": 7,
        "time_limit_s": 1,
        "params": {"max_detour_min": 30, "max_detour_pct": 100},
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(
            f"{base}/v1/communities/{desk.community_id}/whatif-runs", json=body
        ) as r:
            assert r.status == 202, await r.text()
            run = await r.json()
        for _ in range(600):  # polls, not a time limit: the run ends by itself
            async with http.get(f"{base}/v1/whatif-runs/{run['id']}") as r:
                run = await r.json()
            if run["status"] != "running":
                break
            await asyncio.sleep(0.2)
    assert run["status"] == "succeeded", run["error"]
    assert run["stage"] == "done"
    components = build_document(api_routes(), SchemaRegistry())["components"]
    schema = {"$ref": "#/components/schemas/WhatifRun", "components": components}
    assert not [e.message for e in Draft202012Validator(schema).iter_errors(run)]
    result = run["result"]
    assert result["reference_kind"] == "current_params"
    assert result["candidate"]["requests"] == result["reference"]["requests"] == 20
    for side in ("candidate", "reference"):
        assert 0 <= result[side]["served"] <= 20
        assert result[side]["unmet_count"] == 20 - result[side]["served"]
    assert {c["field"] for c in result["changes"]} == {"max_detour_min", "max_detour_pct"}
