"""One scheduler step over every community of a region."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from maas.store import planning

Step = Callable[[asyncpg.Connection, uuid.UUID, datetime], Awaitable[int]]


async def over_region(pool: asyncpg.Pool, region: str, step: Step, now: datetime) -> int:
    """Run ``step`` for each community of ``region`` on one connection; returns the sum of
    what the steps return (how many things each changed)."""
    total = 0
    async with pool.acquire() as conn:
        for community_id in await planning.region_communities(conn, region):
            total += await step(conn, community_id, now)
    return total
