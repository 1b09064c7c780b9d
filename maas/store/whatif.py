"""What-if replays in PostGIS: the ``whatif_run`` records and the read-only inputs of a replay
(a past day's requests, the villages around a community)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry

from maas.store.common import from_json
from maas.store.planning import RequestRow, requests_by_id

SQL_INSERT_RUN = """
INSERT INTO whatif_run (community_id, requested_by, day, source, num_requests, seed, params,
                        base_params_version, stage)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, 'reading')
RETURNING *
"""
SQL_SET_STAGE = "UPDATE whatif_run SET stage = $2 WHERE id = $1 AND status = 'running'"
SQL_FINISH = """
UPDATE whatif_run SET status = $2, stage = CASE WHEN $2 = 'succeeded' THEN 'done' ELSE stage END,
    finished_at = clock_timestamp(), result = $3::jsonb, error = $4
WHERE id = $1 AND status = 'running'
"""
# A replay still 'running' long after any replay could have ended was cut off by a stop.
SQL_FAIL_STALE = """
UPDATE whatif_run SET status = 'failed', finished_at = clock_timestamp(),
    error = 'interrupted: the service stopped during the replay'
WHERE status = 'running' AND started_at < now() - make_interval(secs => $1)
"""
SQL_GET_RUN = "SELECT * FROM whatif_run WHERE id = $1"
SQL_LIST_RUNS = """
SELECT * FROM whatif_run WHERE community_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2
"""
# Every request of the day that was not cancelled, matched or not (a replay starts afresh).
SQL_DAY_REQUESTS = """
SELECT q.id FROM ride_request q
WHERE q.community_id = $1 AND q.status = 'open'
  AND q.depart_earliest >= $2 AND q.depart_earliest < $3
ORDER BY q.created_at, q.id
"""
SQL_VILLAGES_NEAR = """
SELECT vi.name, vi.kind, vi.population, vi.centroid, vi.geom
FROM village vi
JOIN region rg ON rg.id = vi.region_id
JOIN community c ON c.region = rg.name AND c.id = $1
WHERE ST_DWithin(vi.geom::geography, c.area::geography, $2)
ORDER BY vi.name, vi.id
"""


@dataclass(frozen=True, slots=True)
class WhatIfRun:
    id: uuid.UUID
    community_id: uuid.UUID
    requested_by: uuid.UUID | None
    day: date
    source: str
    num_requests: int | None
    seed: int | None
    params: dict[str, Any]
    base_params_version: int
    status: str
    stage: str
    started_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True, slots=True)
class VillageRow:
    name: str
    kind: str
    population: int | None
    point: ShapelyPoint
    geometry: BaseGeometry


def _run(row: asyncpg.Record) -> WhatIfRun:
    return WhatIfRun(
        id=row["id"],
        community_id=row["community_id"],
        requested_by=row["requested_by"],
        day=row["day"],
        source=row["source"],
        num_requests=row["num_requests"],
        seed=row["seed"],
        params=from_json(row["params"]),
        base_params_version=row["base_params_version"],
        status=row["status"],
        stage=row["stage"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=None if row["result"] is None else from_json(row["result"]),
        error=row["error"],
    )


async def insert_run(
    conn: asyncpg.Connection,
    *,
    community_id: uuid.UUID,
    requested_by: uuid.UUID | None,
    day: date,
    source: str,
    num_requests: int | None,
    seed: int | None,
    params: dict[str, Any],
    base_params_version: int,
) -> WhatIfRun:
    row = await conn.fetchrow(
        SQL_INSERT_RUN,
        community_id,
        requested_by,
        day,
        source,
        num_requests,
        seed,
        json.dumps(params),
        base_params_version,
    )
    return _run(row)


async def set_stage(conn: asyncpg.Connection, run_id: uuid.UUID, stage: str) -> None:
    await conn.execute(SQL_SET_STAGE, run_id, stage)


async def finish(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """End a running replay (a replay that already ended keeps its status)."""
    payload = None if result is None else json.dumps(result)
    await conn.execute(SQL_FINISH, run_id, status, payload, None if error is None else error[:2000])


async def fail_stale(conn: asyncpg.Connection, older_than_s: float) -> int:
    """Mark replays that cannot still be running as failed; how many there were."""
    status = await conn.execute(SQL_FAIL_STALE, older_than_s)
    return int(status.split()[-1])


async def get_run(conn: asyncpg.Connection, run_id: uuid.UUID) -> WhatIfRun | None:
    row = await conn.fetchrow(SQL_GET_RUN, run_id)
    return None if row is None else _run(row)


async def list_runs(
    conn: asyncpg.Connection, community_id: uuid.UUID, *, limit: int = 20
) -> list[WhatIfRun]:
    return [_run(r) for r in await conn.fetch(SQL_LIST_RUNS, community_id, limit)]


async def day_requests(
    conn: asyncpg.Connection, community_id: uuid.UUID, start: datetime, end: datetime
) -> list[RequestRow]:
    ids = [r["id"] for r in await conn.fetch(SQL_DAY_REQUESTS, community_id, start, end)]
    rows = await requests_by_id(conn, ids)
    return [rows[i] for i in ids if i in rows]


async def villages_near(
    conn: asyncpg.Connection, community_id: uuid.UUID, within_m: float
) -> list[VillageRow]:
    rows = await conn.fetch(SQL_VILLAGES_NEAR, community_id, within_m)
    return [
        VillageRow(r["name"], r["kind"], r["population"], r["centroid"], r["geom"]) for r in rows
    ]
