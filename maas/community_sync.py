"""One community per village: create or refresh communities from the road import's villages.

Communities keep their id (and so their people, rides and settings) across re-imports; a
village's new name or polygon is copied over. Communities whose village disappeared are left
alone (they may have people) and reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from maas.errors import NotFoundError

SQL_REGION_EXISTS = "SELECT EXISTS (SELECT 1 FROM region WHERE name = $1)"
SQL_SYNC = """
INSERT INTO community (region, name, village_id, area)
SELECT r.name, v.name, v.id,
       ST_Multi(ST_CollectionExtract(ST_MakeValid(v.geom), 3))
FROM village v JOIN region r ON r.id = v.region_id
WHERE r.name = $1
ON CONFLICT (region, village_id) WHERE village_id IS NOT NULL DO UPDATE SET
    name = EXCLUDED.name, area = EXCLUDED.area, updated_at = now()
RETURNING (xmax = 0) AS inserted
"""
SQL_ORPHANS = """
SELECT c.name FROM community c
WHERE c.region = $1 AND c.village_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM village v WHERE v.id = c.village_id)
ORDER BY c.name
"""


@dataclass(frozen=True, slots=True)
class SyncReport:
    region: str
    created: int
    updated: int
    orphans: tuple[str, ...]

    def __str__(self) -> str:
        text = f"region '{self.region}': {self.created} communities created, {self.updated} updated"
        if self.orphans:
            text += f"; {len(self.orphans)} without a village now: {', '.join(self.orphans)}"
        return text


async def sync_communities(conn: asyncpg.Connection, region: str) -> SyncReport:
    if not await conn.fetchval(SQL_REGION_EXISTS, region):
        raise NotFoundError(f"region '{region}' is not imported; run python -m maas import-osm")
    async with conn.transaction():
        rows = await conn.fetch(SQL_SYNC, region)
        orphans = tuple(r["name"] for r in await conn.fetch(SQL_ORPHANS, region))
    created = sum(1 for r in rows if r["inserted"])
    return SyncReport(region, created, len(rows) - created, orphans)
