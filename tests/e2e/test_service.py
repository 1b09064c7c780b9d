"""The service as a process: probes, JSON logs, clear start-up errors, graceful stop."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.server import LiveServer, run_cli, start_server

from maas import db
from maas.settings import Settings


def get(url: str) -> tuple[int, dict[str, object], dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def test_healthz_answers_with_a_request_id(live_server: LiveServer) -> None:
    status, body, headers = get(live_server.base_url + "/healthz")
    assert status == 200
    assert body == {"status": "ok"}
    assert len(headers["X-Request-Id"]) == 32


def test_readyz_is_ready_with_the_demo_region(live_server: LiveServer) -> None:
    status, body, _ = get(live_server.base_url + "/readyz")
    assert (status, body) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "road_network": "ok"}},
    )


def test_readyz_says_what_is_missing(settings: Settings, migrated: None, tmp_path: Path) -> None:
    server = start_server(settings, tmp_path / "server.log", MAAS_REGION="atlantis")
    try:
        status, body, _ = get(server.base_url + "/readyz")
    finally:
        server.stop()
    assert status == 503
    assert body["status"] == "not ready"
    assert body["checks"] == {
        "database": "ok",
        "road_network": "region 'atlantis' has not been imported; run: python -m maas "
        "import-osm data/demo/herrenberg.osm.pbf --region atlantis",
    }


def test_unknown_path_is_a_problem_document(live_server: LiveServer) -> None:
    request = urllib.request.Request(
        live_server.base_url + "/nope", headers={"X-Request-Id": "trace-me-1"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404
    assert caught.value.headers["Content-Type"].startswith("application/problem+json")
    body = json.load(caught.value)
    assert body["status"] == 404
    assert body["request_id"] == "trace-me-1"


def test_logs_are_json_with_request_ids(live_server: LiveServer) -> None:
    request = urllib.request.Request(
        live_server.base_url + "/healthz", headers={"X-Request-Id": "log-check-42"}
    )
    urllib.request.urlopen(request, timeout=10).close()
    entries = [json.loads(line) for line in live_server.log().splitlines() if line.strip()]
    access = [e for e in entries if e.get("request_id") == "log-check-42"]
    assert access
    assert access[0]["path"] == "/healthz"
    assert access[0]["status"] == 200


def test_port_in_use_is_one_clear_line(settings: Settings, migrated: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(settings, "serve", MAAS_PORT=str(port))
    assert result.returncode == 1
    assert f"maas: error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_wrong_database_url_is_one_clear_line(settings: Settings) -> None:
    result = run_cli(
        settings, "db", "migrate", MAAS_DATABASE_URL="postgresql://maas@/x?host=/nonexistent"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "maas: error: cannot connect to the database at postgresql://maas@/x?host=/nonexistent: "
        "nothing is listening there (is the server running? 'make db' starts the local one); "
        "check MAAS_DATABASE_URL"
    ]


def test_missing_demo_file_is_one_clear_line(
    settings: Settings, migrated: None, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.osm.pbf"
    result = run_cli(settings, "ensure-region", MAAS_REGION="nowhere", MAAS_DEMO_OSM=str(missing))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"maas: error: {missing}: the demo region's OpenStreetMap file is missing; restore it "
        "with 'git checkout -- data/demo' or set MAAS_DEMO_OSM to an .osm.pbf file"
    ]


async def test_sigterm_lets_an_in_flight_request_finish(
    settings: Settings, migrated: None, tmp_path: Path
) -> None:
    """A request that is being handled when SIGTERM comes is answered, not cut off.

    The test holds a lock on the table the request reads, so the request is provably in flight
    (waiting for the database) when the signal arrives.
    """
    admin = run_cli(settings, "create-admin", "--name", "Shutdown Test Admin")
    assert admin.returncode == 0, admin.stderr
    token = admin.stdout.strip().splitlines()[-1]
    server = start_server(settings, tmp_path / "server.log")
    request = urllib.request.Request(
        server.base_url + "/v1/communities", headers={"Authorization": f"Bearer {token}"}
    )
    conn = await db.connect(settings)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE community IN ACCESS EXCLUSIVE MODE")
        in_flight = asyncio.ensure_future(asyncio.to_thread(get_request, request))
        await asyncio.sleep(1.0)
        assert not in_flight.done()
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert server.process.poll() is None, "the service quit with a request in flight"
        await tx.rollback()
        status, body = await in_flight
    finally:
        await conn.close()
    assert status == 200
    assert "items" in body
    assert server.wait() == 0
    # Once it is gone, nothing listens there any more.
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(urllib.request.urlopen, server.base_url + "/healthz", timeout=2)


def get_request(request: urllib.request.Request) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.load(response)
