"""Load run: riders posting ride requests at a fixed rate against a running service on loopback,
with one connected event stream measuring how long each request's event takes to arrive.

Usage (a service running on the demo region, e.g. ``make run``)::

    .venv/bin/python bench/load.py --base-url http://127.0.0.1:8080 --setup --rate 500 \\
        --duration 10

``--setup`` creates a rider with a token in the region's first community (through
``MAAS_DATABASE_URL``, the service's database); otherwise pass ``--token``. Requests are sent
open-loop (request ``i`` starts at ``i / rate`` seconds, whether or not earlier ones have
answered), at most ``--in-flight`` at once (a request that would exceed it counts as
``dropped``), for at most ``--duration`` seconds and ``--max-requests`` requests. Each POST
writes a ``request.created`` event in its transaction; the stream's receipt time minus the
POST's start is the event delivery latency.

The table: sent, answered 201, errors by kind, achieved rate, latency p50/p95/p99/max of the
POSTs (target p99 ≤ 50 ms), and the same for event delivery. The baseline in the same run is
``GET /healthz`` at the same rate (no database), which shows what the loop and loopback cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ZOB = {"lon": 8.864753, "lat": 48.594337}  # Herrenberg bus station
STADTHALLE = {"lon": 8.870287, "lat": 48.598309}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def setup_rider() -> str:
    """A rider with a token in the region's first community; the token's secret."""
    from maas import db
    from maas.settings import Settings
    from maas.store import people

    settings = Settings.from_env()
    async with db.connection(settings) as conn:
        community = await conn.fetchval(
            "SELECT id FROM community WHERE region = $1 ORDER BY created_at LIMIT 1",
            settings.region,
        )
        person = await people.create_person(
            conn, name="Load Rider", home_community_id=community, is_rider=True
        )
        _, secret = await people.create_token(
            conn, person.id, label="bench/load.py", expires_at=datetime.now(UTC) + timedelta(1)
        )
    return secret


def request_body(i: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, minutes=i % 600)
    return {
        "origin": ZOB,
        "destination": STADTHALLE,
        "depart_earliest": start.isoformat(),
        "arrive_latest": (start + timedelta(hours=1)).isoformat(),
        "passengers": 1,
    }


class Stream:
    """The poster's event stream: arrival time of each request's ``request.created`` event."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.ready = asyncio.Event()

    async def run(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout()) as r:
            r.raise_for_status()
            self.ready.set()
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event["kind"] == "request.created":
                        self.arrived[event["payload"]["request_id"]] = time.perf_counter()


async def blast(
    session: aiohttp.ClientSession,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    rate: float,
    duration_s: float,
    max_requests: int,
    in_flight: int,
    body: bool,
) -> dict[str, Any]:
    latencies_ms: list[float] = []
    errors: Counter[str] = Counter()
    started_at: dict[str, float] = {}
    busy = 0
    tasks = []

    async def one(i: int) -> None:
        nonlocal busy
        t = time.perf_counter()
        try:
            kwargs: dict[str, Any] = {"headers": headers}
            if body:
                kwargs["json"] = request_body(i)
            async with session.request(method, url, **kwargs) as r:
                data = await r.read()
                elapsed = (time.perf_counter() - t) * 1000
                if r.status >= 400:
                    errors[f"http {r.status}"] += 1
                else:
                    latencies_ms.append(elapsed)
                    if body:
                        started_at[json.loads(data)["id"]] = t
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors[type(exc).__name__] += 1
        finally:
            busy -= 1

    t0 = time.perf_counter()
    sent = 0
    while sent < max_requests:
        due = t0 + sent / rate
        now = time.perf_counter()
        if due - t0 > duration_s:
            break
        if due > now:
            await asyncio.sleep(due - now)
        if busy >= in_flight:
            errors["dropped (too many in flight)"] += 1
        else:
            busy += 1
            tasks.append(asyncio.create_task(one(sent)))
        sent += 1
    await asyncio.gather(*tasks)
    wall_s = time.perf_counter() - t0
    return {
        "sent": sent,
        "ok": len(latencies_ms),
        "errors": dict(errors),
        "rate": sent / wall_s,
        "latencies_ms": latencies_ms,
        "started_at": started_at,
    }


def row(name: str, res: dict[str, Any], values: list[float]) -> str:
    p = [percentile(values, q) for q in (50, 95, 99)]
    worst = max(values) if values else float("nan")
    errors = sum(res["errors"].values())
    return (
        f"| {name} | {res['sent']} | {res['ok']} | {errors} | {res['rate']:.0f} | "
        f"{p[0]:.1f} | {p[1]:.1f} | {p[2]:.1f} | {worst:.1f} |"
    )


async def main(args: argparse.Namespace) -> None:
    token = args.token or await setup_rider()
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=args.in_flight + 2)
    timeout = aiohttp.ClientTimeout(total=args.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stream = Stream()
        stream_task = asyncio.create_task(
            stream.run(session, args.base_url + "/v1/me/events", headers)
        )
        await asyncio.wait_for(stream.ready.wait(), 10)
        common = {
            "rate": args.rate,
            "duration_s": args.duration,
            "max_requests": args.max_requests,
            "in_flight": args.in_flight,
        }
        base = await blast(
            session, method="GET", url=args.base_url + "/healthz", headers={}, body=False, **common
        )
        posts = await blast(
            session,
            method="POST",
            url=args.base_url + "/v1/requests",
            headers=headers,
            body=True,
            **common,
        )
        for _ in range(100):  # up to 10 s for the last events
            if set(posts["started_at"]) <= set(stream.arrived):
                break
            await asyncio.sleep(0.1)
        stream_task.cancel()
    delivery_ms = [
        (stream.arrived[rid] - t) * 1000
        for rid, t in posts["started_at"].items()
        if rid in stream.arrived
    ]
    missing = len(posts["started_at"]) - len(delivery_ms)
    print(f"rate {args.rate}/s, at most {args.duration} s and {args.max_requests} requests\n")
    print("| what | sent | ok | errors | rate/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("GET /healthz (baseline)", base, base["latencies_ms"]))
    print(row("POST /v1/requests", posts, posts["latencies_ms"]))
    print(row("event delivery (POST start → stream)", posts, delivery_ms))
    print(f"\nerrors: baseline {base['errors']}, posts {posts['errors']}")
    print(f"events not received within 10 s: {missing}")
    if posts["latencies_ms"]:
        print(f"POST mean {statistics.mean(posts['latencies_ms']):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", help="a rider's API token (else --setup)")
    parser.add_argument("--setup", action="store_true", help="create a rider with a token")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds at most")
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--timeout-s", type=float, default=10.0)
    arguments = parser.parse_args()
    if not arguments.token and not arguments.setup:
        parser.error("pass --token or --setup")
    asyncio.run(main(arguments))
