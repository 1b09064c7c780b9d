"""Load run: riders posting ride requests at a fixed rate against a running service, and their
event streams measuring how long each request's ``request.created`` event takes to arrive.

Usage (a service running on the demo region, e.g. ``make run``)::

    .venv/bin/python bench/load.py --base-url http://127.0.0.1:8080 --setup --rate 500 \\
        --duration 10 --clients 2 --server-pid "$(pgrep -of 'maas serve')"

``--setup`` registers ``--riders`` riders with a token each (through ``MAAS_DATABASE_URL``, the
service's database): in the region's first community, all riding from Herrenberg's bus station
to its town hall; with ``--spread`` over the communities that have meeting points, each rider
between two of its community's, as a county's traffic spreads over its villages. All ride
tomorrow. ``--tokens FILE`` reuses riders (a line each: the token, then the trip's ends;
``--setup --tokens FILE`` writes it).

**Open loop.** Request ``i`` is due at ``t0 + i / rate`` whether or not earlier ones have
answered; its latency is measured from that *scheduled* time, not from when the client got
round to sending it, so a client or server that falls behind shows as latency (no coordinated
omission). ``--clients`` processes share the schedule (client ``k`` sends every request with
``i % clients == k``, riders split among them) so that one Python process is not the
bottleneck; each reports its own CPU time and how late it actually sent (``send lag``): a
client whose CPU is near 100 % or whose send lag grows is measuring itself, not the server.

Each rider's app has its event stream open (``GET /v1/me/events``); the delivery latency of a
request is its event's arrival on the stream minus the request's scheduled time.

The table: sent, answered (2xx), errors (by kind below), achieved rate (answers per second
over the run), latency p50/p95/p99/max. The baseline in the same run is ``GET /healthz`` at the
same rate (no database, no body), which shows what the loop, loopback and the clients cost.
Each rider posts from the same two points; with ``--jitter-m`` every request's points are
moved by up to that many metres, so that none is a place the service has seen (the snap of a
place seen before is remembered, and a day's matrix already has its point).
With ``--server-pid`` (the service, or its supervisor: its children are counted too) and
``--postgres`` (backends of the service's database on this machine) the CPU time each spent
per answered request is shown as well. The target: POST p99 ≤ 50 ms at 500/s.

**Stalls.** A p99 is made by the few moments when many requests wait at once. With
``--timeline FILE`` the run's start is written as ``start <Unix time>``, every POST as
``request <s after t0> <latency ms> <client>``, and the machine's pressure stall information
(Linux PSI, ``/proc/pressure``) every ``PRESSURE_EVERY_S`` as ``pressure <s after t0> <io some
ms> <io full ms> <cpu some ms>`` (the stall time each accrued since the last line). The report
then counts the 100 ms windows with a request over 50 ms and the I/O and CPU stall time inside
and outside them: a p99 made by the disk or by other tenants of the machine shows as stall time
in those windows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import resource
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ZOB = {"lon": 8.864753, "lat": 48.594337}  # Herrenberg bus station
STADTHALLE = {"lon": 8.870287, "lat": 48.598309}
PRESSURE_EVERY_S = 0.02
STALL_WINDOW_S = 0.1
STALL_MS = 50.0
START_DELAY_S = 1.0
"""Between telling the clients the start time and the first request (their connections and
streams open meanwhile)."""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Rider:
    token: str
    origin: dict[str, float]
    destination: dict[str, float]

    def line(self) -> str:
        o, d = self.origin, self.destination
        return f"{self.token} {o['lon']} {o['lat']} {d['lon']} {d['lat']}"

    @classmethod
    def parse(cls, line: str) -> Rider:
        token, *numbers = line.split()
        if not numbers:  # a token alone: the Herrenberg trip
            return cls(token, ZOB, STADTHALLE)
        lon0, lat0, lon1, lat1 = (float(n) for n in numbers)
        return cls(token, {"lon": lon0, "lat": lat0}, {"lon": lon1, "lat": lat1})


# Communities with two meeting points or more: the two farthest apart, for a trip within it.
SQL_SPREAD = """
SELECT DISTINCT ON (a.community_id) a.community_id,
       ST_X(a.position) AS lon0, ST_Y(a.position) AS lat0,
       ST_X(b.position) AS lon1, ST_Y(b.position) AS lat1
FROM meeting_point a
JOIN meeting_point b ON b.community_id = a.community_id AND b.id <> a.id
JOIN community c ON c.id = a.community_id
WHERE c.region = $1
ORDER BY a.community_id, ST_Distance(a.position::geography, b.position::geography) DESC,
         a.id, b.id
"""


async def setup_riders(count: int, *, spread: bool) -> list[Rider]:
    """``count`` riders with a token each: in the region's first community, riding from its
    bus station to its town hall, or (``spread``) spread over the communities with meeting
    points, each riding between the two farthest apart of its community's."""
    from maas import db
    from maas.settings import Settings
    from maas.store import people

    settings = Settings.from_env()
    riders = []
    async with db.connection(settings) as conn:
        if spread:
            places = [
                (
                    r["community_id"],
                    {"lon": r["lon0"], "lat": r["lat0"]},
                    {"lon": r["lon1"], "lat": r["lat1"]},
                )
                for r in await conn.fetch(SQL_SPREAD, settings.region)
            ]
        else:
            first = await conn.fetchval(
                "SELECT id FROM community WHERE region = $1 ORDER BY created_at LIMIT 1",
                settings.region,
            )
            places = [(first, ZOB, STADTHALLE)]
        for i in range(count):
            community, origin, destination = places[i % len(places)]
            person = await people.create_person(
                conn, name=f"Load Rider {i}", home_community_id=community, is_rider=True
            )
            _, secret = await people.create_token(
                conn, person.id, label="bench/load.py", expires_at=datetime.now(UTC) + timedelta(2)
            )
            riders.append(Rider(secret, origin, destination))
    return riders


def request_body(i: int, rider: Rider, jitter_m: float = 0.0) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, minutes=i % 600)
    return {
        "origin": _moved(rider.origin, jitter_m, i),
        "destination": _moved(rider.destination, jitter_m, -i - 1),
        "depart_earliest": start.isoformat(),
        "arrive_latest": (start + timedelta(hours=1)).isoformat(),
        "passengers": 1,
    }


def _moved(point: dict[str, float], jitter_m: float, seed: int) -> dict[str, float]:
    """``point`` moved by up to ``jitter_m`` metres east and north (the same for a seed)."""
    if jitter_m <= 0:
        return point
    rng = random.Random(seed)
    dy, dx = (rng.uniform(-jitter_m, jitter_m) / 111_000 for _ in range(2))
    return {
        "lon": point["lon"] + dx / math.cos(math.radians(point["lat"])),
        "lat": point["lat"] + dy,
    }


@dataclass
class Plan:
    """What one client process does; times are ``time.monotonic()``, which is one clock for
    every process of the machine."""

    base_url: str
    method: str
    path: str
    rate: float
    count: int
    client: int
    clients: int
    t0: float
    riders: list[Rider]
    connections: int
    timeout_s: float
    streams: bool
    keys: bool
    jitter_m: float = 0.0


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    delivery_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    last_answer: float = 0.0
    missing_events: int = 0
    cpu_s: float = 0.0
    timeline: list[tuple[float, float]] = field(default_factory=list)
    """Each answered request: (scheduled time after t0 in s, latency in ms)."""


async def _stream(
    session: aiohttp.ClientSession, url: str, token: str, arrived: dict[str, float], ready: Any
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout()) as r:
        r.raise_for_status()
        ready()
        async for raw in r.content:
            if raw.startswith(b"data: "):
                event = json.loads(raw[6:])
                if event["kind"] == "request.created":
                    arrived[event["payload"]["request_id"]] = time.monotonic()


class _Answer(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request and reads its answer, which
    must have a Content-Length (every answer of the routes measured here has). Far less CPU
    per request than a general client: the load runs on the service's cores, and what the
    client spends there shows as the service's latency."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one.
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("the service closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:end]).split(b"\r\n")
        length = None
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            self.waiter.set_exception(ValueError("an answer without Content-Length"))
            return
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.waiter.set_result((int(head[0].split()[1]), body))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class _Connections:
    """At most ``limit`` connections to one host, each carrying one request at a time."""

    def __init__(self, base_url: str, limit: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[_Answer] = []
        self.slots = asyncio.Semaphore(limit)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            if conn is None or conn.closed:
                loop = asyncio.get_running_loop()
                _, conn = await loop.create_connection(_Answer, self.host, self.port)
            try:
                answer = await conn.exchange(request)
            except BaseException:
                if conn.transport is not None:
                    conn.transport.close()
                raise
            self.idle.append(conn)
            return answer

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()


def _request_bytes(plan: Plan, i: int, rider: Rider, key: str | None) -> bytes:
    host = urlsplit(plan.base_url).netloc
    lines = [f"{plan.method} {plan.path} HTTP/1.1", f"Host: {host}"]
    body = b""
    if plan.method == "POST":
        lines.append(f"Authorization: Bearer {rider.token}")
        if key is not None:
            lines.append(f"Idempotency-Key: {key}")
        body = json.dumps(request_body(i, rider, plan.jitter_m)).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _run_client(plan: Plan) -> Outcome:
    out = Outcome()
    mine = range(plan.client, plan.count, plan.clients)
    connections = _Connections(plan.base_url, plan.connections)
    arrived: dict[str, float] = {}
    due_of: dict[str, float] = {}
    body = plan.method == "POST"
    t0_key = int(plan.t0 * 1000)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as streams:
        stream_tasks = []
        if plan.streams:
            opened = asyncio.Semaphore(0)
            events_url = plan.base_url + "/v1/me/events"
            stream_tasks = [
                asyncio.create_task(_stream(streams, events_url, r.token, arrived, opened.release))
                for r in plan.riders
            ]
            for _ in stream_tasks:
                await asyncio.wait_for(opened.acquire(), 30)

        async def one(i: int, due: float) -> None:
            out.send_lag_ms.append((time.monotonic() - due) * 1000)
            rider = plan.riders[i % len(plan.riders)]
            key = f"load-{t0_key}-{i}" if body and plan.keys else None
            try:
                async with asyncio.timeout(plan.timeout_s):
                    status, data = await connections.exchange(_request_bytes(plan, i, rider, key))
            except (OSError, ValueError, TimeoutError) as exc:
                out.errors[type(exc).__name__] += 1
                return
            now = time.monotonic()
            if status >= 400:
                out.errors[f"http {status}"] += 1
                return
            out.latencies_ms.append((now - due) * 1000)
            out.timeline.append((due - plan.t0, (now - due) * 1000))
            out.last_answer = max(out.last_answer, now)
            if body:
                due_of[json.loads(data)["id"]] = due

        cpu0 = _own_cpu_s()
        tasks = []
        for i in mine:
            due = plan.t0 + i / plan.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
            out.sent += 1
        await asyncio.gather(*tasks)
        connections.close()
        if plan.streams:
            for _ in range(100):  # up to 10 s for the last events
                if set(due_of) <= set(arrived):
                    break
                await asyncio.sleep(0.1)
        out.cpu_s = _own_cpu_s() - cpu0
        for task in stream_tasks:
            task.cancel()
        await asyncio.gather(*stream_tasks, return_exceptions=True)
    out.delivery_ms = [(arrived[rid] - due) * 1000 for rid, due in due_of.items() if rid in arrived]
    # Without streams no event is awaited, so none is missing.
    out.missing_events = len(due_of) - len(out.delivery_ms) if plan.streams else 0
    return out


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client_main(plan: Plan, results: Any) -> None:
    # The service's own loop (maas.serve): the client shares the machine's CPUs with the
    # service, and uvloop's share per request is the smaller.
    results.put((plan.client, uvloop.run(_run_client(plan))))


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its living descendants (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return total


def _postgres_cpu_s(database: str) -> float:
    """CPU seconds of this machine's PostgreSQL backends connected to ``database``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    marker = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or marker not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


def _pressure_totals() -> tuple[float, float, float] | None:
    """Microseconds stalled so far: some task on I/O, all tasks on I/O, some task on CPU (None
    where the kernel keeps no pressure information)."""
    try:
        io = Path("/proc/pressure/io").read_text().split("\n")
        cpu = Path("/proc/pressure/cpu").read_text().split("\n")
    except OSError:
        return None

    def total(line: str) -> float:
        return float(line.rsplit("total=", 1)[1])

    return total(io[0]), total(io[1]), total(cpu[0])


class PressureSampler:
    """Samples the stall totals in a thread while a phase runs: (s after t0, io some ms, io
    full ms, cpu some ms) accrued since the sample before."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.samples: list[tuple[float, float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PressureSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = _pressure_totals()
        while last is not None and not self._stop.wait(PRESSURE_EVERY_S):
            now = _pressure_totals()
            assert now is not None
            io_some, io_full, cpu_some = ((b - a) / 1000 for a, b in zip(last, now, strict=True))
            self.samples.append((time.monotonic() - self.t0, io_some, io_full, cpu_some))
            last = now


@dataclass
class Phase:
    name: str
    sent: int
    outcomes: list[Outcome]
    wall_s: float
    server_cpu_s: float | None
    postgres_cpu_s: float | None
    pressure: list[tuple[float, float, float, float]] = field(default_factory=list)
    t0_unix: float = 0.0
    """The run's t0 as a Unix time, to line the timeline up with the service's log."""

    def write_timeline(self, path: Path) -> None:
        with path.open("w") as out:
            out.write(f"start {self.t0_unix:.4f}\n")
            for k, outcome in enumerate(self.outcomes):
                for t, ms in outcome.timeline:
                    out.write(f"request {t:.4f} {ms:.2f} {k}\n")
            for t, io_some, io_full, cpu_some in self.pressure:
                out.write(f"pressure {t:.4f} {io_some:.2f} {io_full:.2f} {cpu_some:.2f}\n")

    def stalls(self) -> str:
        """How many windows held a request over ``STALL_MS``, and the machine's stall time
        (ms per second of wall time) inside those windows and outside them."""
        worst: dict[int, float] = {}
        for outcome in self.outcomes:
            for t, ms in outcome.timeline:
                k = int(t // STALL_WINDOW_S)
                worst[k] = max(worst.get(k, 0.0), ms)
        # A slow request was held up from its scheduled time to its answer: every window it
        # spans is a stalled one.
        stalled: set[int] = set()
        for outcome in self.outcomes:
            for t, ms in outcome.timeline:
                if ms > STALL_MS:
                    first = int(t // STALL_WINDOW_S)
                    stalled.update(range(first, int((t + ms / 1000) // STALL_WINDOW_S) + 1))
        inside = [0.0, 0.0, 0.0, 0.0]  # seconds sampled, io some, io full, cpu some
        outside = [0.0, 0.0, 0.0, 0.0]
        for t, *stall in self.pressure:
            if t < 0:
                continue
            into = inside if int(t // STALL_WINDOW_S) in stalled else outside
            into[0] += PRESSURE_EVERY_S
            for j, v in enumerate(stall, start=1):
                into[j] += v

        def rates(acc: list[float]) -> str:
            if acc[0] == 0:
                return "-"
            return "/".join(f"{v / acc[0]:.0f}" for v in acc[1:])

        slow = sum(1 for k, v in worst.items() if v > STALL_MS)
        return (
            f"{slow} of {len(worst)} windows of {STALL_WINDOW_S * 1000:.0f} ms held a request "
            f"over {STALL_MS:.0f} ms ({len(stalled)} windows stalled); machine stall ms/s "
            f"(io some/io full/cpu some): in stalled windows {rates(inside)}, elsewhere "
            f"{rates(outside)}"
        )

    def latencies(self) -> list[float]:
        return [v for o in self.outcomes for v in o.latencies_ms]

    def row(self, values: list[float] | None = None, name: str | None = None) -> str:
        values = self.latencies() if values is None else values
        p = [percentile(values, q) for q in (50, 95, 99)]
        worst = max(values) if values else float("nan")
        errors = sum(sum(o.errors.values()) for o in self.outcomes)
        ok = len(self.latencies())
        return (
            f"| {name or self.name} | {self.sent} | {ok} | {errors} | {ok / self.wall_s:.0f} | "
            f"{p[0]:.1f} | {p[1]:.1f} | {p[2]:.1f} | {worst:.1f} |"
        )


def run_phase(
    args: argparse.Namespace, name: str, method: str, path: str, riders: list[Rider]
) -> Phase:
    count = min(args.max_requests, int(args.rate * args.duration))
    t0 = time.monotonic() + START_DELAY_S + (0.5 * len(riders) / 100 if method == "POST" else 0)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = []
    for k in range(args.clients):
        plan = Plan(
            base_url=args.base_url,
            method=method,
            path=path,
            rate=args.rate,
            count=count,
            client=k,
            clients=args.clients,
            t0=t0,
            riders=riders[k :: args.clients],
            connections=args.connections,
            timeout_s=args.timeout_s,
            streams=method == "POST" and not args.no_streams,
            keys=args.idempotency_keys,
            jitter_m=args.jitter_m,
        )
        proc = ctx.Process(target=_client_main, args=(plan, results), daemon=True)
        proc.start()
        procs.append(proc)
    while time.monotonic() < t0:
        time.sleep(0.01)
    server0 = _tree_cpu_s(args.server_pid) if args.server_pid else None
    pg0 = _postgres_cpu_s(args.postgres) if args.postgres else None
    with PressureSampler(t0) as sampler:
        outcomes = [results.get()[1] for _ in procs]
    for proc in procs:
        proc.join()
    end = max((o.last_answer for o in outcomes), default=t0 + args.duration)
    wall = max(end - t0, count / args.rate)
    server_cpu = _tree_cpu_s(args.server_pid) - server0 if server0 is not None else None
    pg_cpu = _postgres_cpu_s(args.postgres) - pg0 if pg0 is not None else None
    t0_unix = time.time() - (time.monotonic() - t0)
    return Phase(name, count, outcomes, wall, server_cpu, pg_cpu, sampler.samples, t0_unix)


def report(args: argparse.Namespace, phases: list[Phase]) -> None:
    print(
        f"rate {args.rate:g}/s for {args.duration:g} s, {args.clients} client process(es), "
        f"{args.riders} riders\n"
    )
    print("| what | sent | ok | errors | achieved/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for phase in phases:
        print(phase.row())
        if phase.name.startswith("POST") and not args.no_streams:
            delivery = [v for o in phase.outcomes for v in o.delivery_ms]
            print(phase.row(delivery, "event delivery (scheduled → stream)"))
    print()
    print(
        "| what | errors | missing events | client CPU % | send lag p99 ms "
        "| server CPU ms/answer | postgres CPU ms/answer |"
    )
    print("|---|---|---|---|---|---|---|")
    for phase in phases:
        errors: Counter[str] = Counter()
        for o in phase.outcomes:
            errors.update(o.errors)
        lag = [v for o in phase.outcomes for v in o.send_lag_ms]
        cpu = "/".join(f"{100 * o.cpu_s / phase.wall_s:.0f}" for o in phase.outcomes)
        answered = max(1, len(phase.latencies()))
        server = (
            f"{1000 * phase.server_cpu_s / answered:.2f}" if phase.server_cpu_s is not None else "-"
        )
        pg = (
            f"{1000 * phase.postgres_cpu_s / answered:.2f}"
            if phase.postgres_cpu_s is not None
            else "-"
        )
        missing = sum(o.missing_events for o in phase.outcomes)
        print(
            f"| {phase.name} | {dict(errors) or 0} | {missing} | {cpu} | "
            f"{percentile(lag, 99):.1f} | {server} | {pg} |"
        )


def main(args: argparse.Namespace) -> None:
    if args.setup:
        riders = asyncio.run(setup_riders(args.riders, spread=args.spread))
        if args.tokens:
            Path(args.tokens).write_text("".join(r.line() + "\n" for r in riders))
    else:
        lines = Path(args.tokens).read_text().splitlines()
        riders = [Rider.parse(line) for line in lines if line.strip()][: args.riders]
    args.riders = len(riders)
    if args.postgres == "":
        from maas.settings import Settings

        args.postgres = urlsplit(Settings.from_env().database_url).path.lstrip("/")
    phases = [run_phase(args, "GET /healthz (baseline)", "GET", "/healthz", riders)]
    phases.append(run_phase(args, "POST /v1/requests", "POST", "/v1/requests", riders))
    report(args, phases)
    if args.timeline:
        phases[-1].write_timeline(Path(args.timeline))
        print(f"\nstalls: {phases[-1].stalls()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--setup", action="store_true", help="register riders with tokens")
    parser.add_argument("--tokens", help="a file of riders' tokens, one a line")
    parser.add_argument(
        "--spread",
        action="store_true",
        help="with --setup: riders spread over the communities with meeting points",
    )
    parser.add_argument("--riders", type=int, default=100, help="riders posting (round robin)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sending")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=100, help="per client process")
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--no-streams", action="store_true", help="no event streams")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="send each POST with its own key"
    )
    parser.add_argument(
        "--jitter-m",
        type=float,
        default=0.0,
        help="move each request's points by up to this many metres (no two share a point)",
    )
    parser.add_argument(
        "--timeline", help="write each POST's latency and the machine's stalls to this file"
    )
    parser.add_argument("--server-pid", type=int, help="count this process tree's CPU time")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="",
        help="count the CPU time of this database's local backends (default: the service's)",
    )
    arguments = parser.parse_args()
    if not arguments.tokens and not arguments.setup:
        parser.error("pass --tokens FILE or --setup")
    main(arguments)
