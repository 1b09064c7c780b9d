"""The API through the real service process on the demo region, set up with the command line
as an operator would: migrate, import the roads, turn villages into communities, import GTFS
stops, create the first admin; then offers snap to real roads and bad places are refused.

Runs on a database of its own so that its communities do not change other tests' scenes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.server import LiveServer, run_cli, start_server

from maas.settings import PROJECT_DIR, Settings

pytestmark = pytest.mark.db

GTFS = PROJECT_DIR / "data" / "gtfs"
ZOB = {"lon": 8.864753, "lat": 48.594337}  # Herrenberg bus station, from the GTFS feed
STADTHALLE = {"lon": 8.870287, "lat": 48.598309}


def call(
    server: LiveServer, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base_url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read().decode()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(raw) if "json" in kind else raw, kind
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers.get("Content-Type", "")


@pytest.fixture(scope="module")
def setup(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    name = f"maas_e2e_api_{uuid.uuid4().hex[:8]}"
    admin_url = settings.database_url
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    psql = ["psql", "-q", "-v", "ON_ERROR_STOP=1", admin_url, "-c"]
    # The name is generated here, never input.
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    own = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("e2e-api-data"))
    server: LiveServer | None = None
    try:
        outputs: dict[str, Any] = {}
        for args in (
            ("db", "migrate"),
            ("import-osm", str(settings.demo_osm_path), "--region", "herrenberg", "--quiet"),
            ("communities", "sync", "--region", "herrenberg"),
            (
                "import-gtfs",
                str(GTFS / "only-bronntor-bus-stop.gtfs.zip"),
                "--region",
                "herrenberg",
            ),
            ("import-gtfs", str(GTFS / "vvs-bus-751-only.gtfs.zip"), "--region", "herrenberg"),
            ("create-admin", "--name", "Erika Admin"),
        ):
            done = run_cli(own, *args)
            assert done.returncode == 0, done.stderr
            outputs[args[0] + (args[1] if args[0] == "import-gtfs" else "")] = done.stdout
        outputs["token"] = outputs["create-admin"].strip().splitlines()[-1]
        server = start_server(own, tmp_path_factory.mktemp("e2e-api") / "server.log")
        yield {"server": server, "settings": own, **outputs}
    finally:
        if server is not None:
            server.stop()
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)


def test_cli_reports(setup: dict[str, Any]) -> None:
    assert "communities created" in setup["communities"]
    bronntor = setup["import-gtfs" + str(GTFS / "only-bronntor-bus-stop.gtfs.zip")]
    assert "9 meeting point(s) stored, 0 skipped" in bronntor
    outside = setup["import-gtfs" + str(GTFS / "vvs-bus-751-only.gtfs.zip")]
    assert "0 meeting point(s) stored, 47 skipped" in outside
    assert "Mercedes-Benz Hst. A): outside the service area" in outside
    assert setup["token"].startswith("maas_")


def test_cli_errors_are_one_line(setup: dict[str, Any]) -> None:
    done = run_cli(setup["settings"], "import-gtfs", "/nonexistent.zip", "--region", "herrenberg")
    assert done.returncode == 1
    assert done.stderr.startswith("maas: error: /nonexistent.zip")
    assert "Traceback" not in done.stderr
    done = run_cli(setup["settings"], "communities", "sync", "--region", "atlantis")
    assert (done.returncode, done.stderr.count("\n")) == (1, 1)


def test_offers_snap_to_real_roads(setup: dict[str, Any]) -> None:
    server, token = setup["server"], setup["token"]
    status, me, _ = call(server, "GET", "/v1/me", token)
    assert status == 200
    status, page, _ = call(server, "GET", "/v1/communities?limit=200", token)
    herrenberg = next(c for c in page["items"] if c["name"] == "Herrenberg")
    status, _, _ = call(
        server,
        "PATCH",
        f"/v1/people/{me['id']}",
        token,
        {"roles": ["admin", "driver"], "home_community_id": herrenberg["id"]},
    )
    assert status == 200
    start = datetime.now(UTC) + timedelta(days=1)
    offer = {
        "origin": ZOB,
        "destination": STADTHALLE,
        "depart_earliest": start.isoformat(),
        "depart_latest": (start + timedelta(minutes=30)).isoformat(),
        "seats": 2,
    }
    status, created, _ = call(server, "POST", "/v1/offers", token, offer)
    assert status == 201, created
    assert created["origin"]["snapped"] is not None  # the road graph snapped it
    assert created["community_id"] == herrenberg["id"]
    status, problem, kind = call(
        server, "POST", "/v1/offers", token, {**offer, "origin": {"lon": 9.3, "lat": 48.6}}
    )
    assert (status, problem["field"]) == (422, "origin")
    assert "outside the service area" in problem["detail"]
    assert kind.startswith("application/problem+json")
    status, stops, _ = call(server, "GET", "/v1/meeting-points?kind=bus_stop&limit=200", token)
    assert len(stops["items"]) == 9


def test_docs_are_served(setup: dict[str, Any]) -> None:
    status, page, kind = call(setup["server"], "GET", "/docs")
    assert status == 200
    assert kind.startswith("text/html")
    assert "/v1/requests" in page
    status, doc, _ = call(setup["server"], "GET", "/openapi.json")
    assert doc["openapi"] == "3.1.0"
