"""``python -m maas serve`` with two server processes on one port: both listen and answer, a
task that must run once (instant answers) runs once, in the background process, SIGTERM stops
every process, and a server process that dies ends the service with a failure status.

Runs on a database of its own (the demo region, its villages as communities).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.server import LiveServer, run_cli, start_server

from maas import db
from maas.settings import Settings
from maas.store import people

pytestmark = pytest.mark.db

ZOB = {"lon": 8.864753, "lat": 48.594337}  # Herrenberg bus station
STADTHALLE = {"lon": 8.870287, "lat": 48.598309}
SQL_ANSWERS = """
SELECT payload ->> 'request_id' AS request_id, count(*) AS answers FROM event
WHERE kind = 'request.instant_answer' AND person_id = $1
GROUP BY 1
"""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _server_processes(pid: int) -> list[int]:
    """The supervisor's server processes and its background process (not its
    multiprocessing resource tracker), in the order they were started."""
    return sorted(
        c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()
    )


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _still_alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running after up to 10 s (the supervisor's multiprocessing
    resource tracker ends by itself just after the supervisor)."""
    for _ in range(100):
        alive = [p for p in pids if _alive(p)]
        if not alive:
            break
        time.sleep(0.1)
    return alive


def _listening_sockets(port: int) -> int:
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def _post(server: LiveServer, token: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.base_url + "/v1/requests",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _request_body(i: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, minutes=10 * i)
    return {
        "origin": ZOB,
        "destination": STADTHALLE,
        "depart_earliest": start.isoformat(),
        "arrive_latest": (start + timedelta(hours=1)).isoformat(),
    }


async def _rider(settings: Settings) -> tuple[uuid.UUID, str]:
    async with db.connection(settings) as conn:
        person = await people.create_person(
            conn, name="Multi Rider", home_community_id=None, is_rider=True
        )
        _, secret = await people.create_token(
            conn, person.id, label="e2e", expires_at=datetime.now(UTC) + timedelta(days=1)
        )
    return person.id, secret


async def _answers(settings: Settings, person_id: uuid.UUID) -> dict[str, int]:
    async with db.connection(settings) as conn:
        rows = await conn.fetch(SQL_ANSWERS, person_id)
    return {r["request_id"]: r["answers"] for r in rows}


@pytest.fixture(scope="module")
def own_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    from urllib.parse import urlsplit, urlunsplit

    name = f"maas_e2e_multi_{uuid.uuid4().hex[:8]}"
    admin_url = settings.database_url
    psql = ["psql", "-q", "-v", "ON_ERROR_STOP=1", admin_url, "-c"]
    # The name is generated here, never input.
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    own = Settings(
        database_url=urlunsplit(urlsplit(admin_url)._replace(path="/" + name)),
        data_dir=tmp_path_factory.mktemp("e2e-multi-data"),
    )
    try:
        for args in (
            ("db", "migrate"),
            ("import-osm", str(settings.demo_osm_path), "--region", "herrenberg", "--quiet"),
            ("communities", "sync", "--region", "herrenberg"),
        ):
            done = run_cli(own, *args)
            assert done.returncode == 0, done.stderr
        yield own
    finally:
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)


def _start(settings: Settings, log: Path) -> LiveServer:
    server = start_server(settings, log, MAAS_WORKERS="2", MAAS_INSTANT_ANSWERS="1")
    # /healthz answered once one process listens; wait for both, and the background process.
    port = int(server.base_url.rsplit(":", 1)[1])
    for _ in range(600):
        if _listening_sockets(port) == 2 and "background tasks running" in server.log():
            break
        time.sleep(0.1)
    return server


@pytest.fixture(scope="module")
def running(own_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A service with two server processes and a rider; stopped (and checked) at the end."""
    server = _start(own_settings, tmp_path_factory.mktemp("multi") / "server.log")
    parent = server.process.pid
    try:
        person_id, token = asyncio.run(_rider(own_settings))
        yield server, person_id, token
        everything = _descendants(parent)
    finally:
        status = server.stop()
    assert status == 0, server.log()[-3000:]
    assert _still_alive(everything) == []


def test_two_processes_answer_and_run_each_singleton_once(
    own_settings: Settings, running: Any
) -> None:
    server, person_id, token = running
    *servers, background = _server_processes(server.process.pid)
    assert len(servers) == 2
    assert _listening_sockets(int(server.base_url.rsplit(":", 1)[1])) == 2
    # The background tasks run apart, below the server processes' priority.
    own = _niceness(servers[0])
    assert {_niceness(p) for p in servers} == {own}
    assert _niceness(background) == min(19, own + 5)
    made = []
    for i in range(12):  # each on a new connection, spread by the kernel
        status, created = _post(server, token, _request_body(i))
        assert status == 201, created
        made.append(created["id"])
    deadline = time.monotonic() + 60
    answers = asyncio.run(_answers(own_settings, person_id))
    while set(answers) != set(made) and time.monotonic() < deadline:
        time.sleep(0.2)
        answers = asyncio.run(_answers(own_settings, person_id))
    assert set(answers) == set(made), server.log()[-3000:]
    # A second answerer would have written its answers by now, as fast as the first.
    time.sleep(2)
    answers = asyncio.run(_answers(own_settings, person_id))
    assert set(answers.values()) == {1}


def test_a_request_snaps_both_ends_to_the_roads(own_settings: Settings, running: Any) -> None:
    """Both ends are snapped in one call to the road network: the same road points as one
    by one, and a refused end is named as before."""
    server, _, token = running
    status, created = _post(server, token, _request_body(20))
    assert status == 201, created
    network = asyncio.run(_network(own_settings))
    for end, place in (("origin", ZOB), ("destination", STADTHALLE)):
        alone = network.snap(place["lon"], place["lat"], end)
        assert created[end]["snapped"] == {"lon": round(alone.lon, 7), "lat": round(alone.lat, 7)}
    outside = {"lon": 9.3, "lat": 48.6}
    for body, field in (
        ({**_request_body(21), "destination": outside}, "destination"),
        ({**_request_body(22), "origin": outside}, "origin"),
        ({**_request_body(23), "origin": outside, "destination": outside}, "origin"),
    ):
        status, problem = _post(server, token, body)
        assert (status, problem["field"]) == (422, field), problem
        assert "outside the service area" in problem["detail"]


async def _network(settings: Settings) -> Any:
    from maas.roads import load_network

    async with db.connection(settings) as conn:
        return await load_network(conn, settings.region, settings.cache_dir)


def test_a_dying_server_process_stops_the_service(own_settings: Settings, tmp_path: Path) -> None:
    server = _start(own_settings, tmp_path / "server.log")
    try:
        parent = server.process.pid
        first, second, _ = _server_processes(parent)
        everything = _descendants(parent)
        os.kill(first, signal.SIGKILL)
        status = server.wait()
    finally:
        if server.process.poll() is None:
            server.stop()
    assert status == 1
    assert "maas-http-0 exited" in server.log() or "maas-http-1 exited" in server.log()
    assert second in everything
    assert _still_alive(everything) == []


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_taken_port_is_one_clear_line(settings: Settings, reuse_port: bool) -> None:
    """Also when the other listener shares ports (another maas with server processes), which
    the server processes' own SO_REUSEPORT binds would not notice."""
    with socket.socket() as taken:
        if reuse_port:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(settings, "serve", "--workers", "2", MAAS_PORT=str(port))
    assert result.returncode == 1
    assert f"maas: error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
