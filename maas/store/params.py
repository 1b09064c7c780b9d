"""Versioned community parameters in PostGIS (``community_params_version``).

The community's ``params_version`` column names the current version. A change locks the
community row, checks the caller's base version (if given), inserts the next version and moves
the pointer, all in the caller's transaction; so two operators saving at once get consecutive
versions (or a 409 for the one whose base version is stale), never a lost update.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from maas.errors import ConflictError, NotFoundError

SQL_CURRENT = """
SELECT v.community_id, v.version, v.params, v.changed_by, p.name AS changed_by_name,
       v.changed_at, v.reason, v.restored_version
FROM community c
JOIN community_params_version v ON v.community_id = c.id AND v.version = c.params_version
LEFT JOIN person p ON p.id = v.changed_by
WHERE c.id = $1
"""
SQL_VERSION = """
SELECT v.community_id, v.version, v.params, v.changed_by, p.name AS changed_by_name,
       v.changed_at, v.reason, v.restored_version
FROM community_params_version v
LEFT JOIN person p ON p.id = v.changed_by
WHERE v.community_id = $1 AND v.version = $2
"""
SQL_HISTORY = """
SELECT v.community_id, v.version, v.params, v.changed_by, p.name AS changed_by_name,
       v.changed_at, v.reason, v.restored_version
FROM community_params_version v
LEFT JOIN person p ON p.id = v.changed_by
WHERE v.community_id = $1
ORDER BY v.version DESC
LIMIT $2
"""
SQL_LOCK_COMMUNITY = "SELECT params_version FROM community WHERE id = $1 FOR UPDATE"
SQL_NEXT_VERSION = """
SELECT COALESCE(max(version), 0) + 1 FROM community_params_version WHERE community_id = $1
"""
SQL_INSERT_VERSION = """
INSERT INTO community_params_version
    (community_id, version, params, changed_by, reason, restored_version)
VALUES ($1, $2, $3::jsonb, $4, $5, $6)
"""
SQL_SET_CURRENT = "UPDATE community SET params_version = $2, updated_at = now() WHERE id = $1"


@dataclass(frozen=True, slots=True)
class ParamsVersion:
    """One stored version: the parameters as saved, who saved them, when and why."""

    community_id: uuid.UUID
    version: int
    params: dict[str, Any]
    changed_by: uuid.UUID | None
    changed_by_name: str | None
    changed_at: datetime
    reason: str | None
    restored_version: int | None


def _version(row: asyncpg.Record) -> ParamsVersion:
    raw = row["params"]
    return ParamsVersion(
        community_id=row["community_id"],
        version=row["version"],
        params=json.loads(raw) if isinstance(raw, str) else dict(raw),
        changed_by=row["changed_by"],
        changed_by_name=row["changed_by_name"],
        changed_at=row["changed_at"],
        reason=row["reason"],
        restored_version=row["restored_version"],
    )


async def current(conn: asyncpg.Connection, community_id: uuid.UUID) -> ParamsVersion | None:
    """The community's current version, or ``None`` if there is no such community."""
    row = await conn.fetchrow(SQL_CURRENT, community_id)
    return None if row is None else _version(row)


async def get_version(
    conn: asyncpg.Connection, community_id: uuid.UUID, version: int
) -> ParamsVersion | None:
    row = await conn.fetchrow(SQL_VERSION, community_id, version)
    return None if row is None else _version(row)


async def history(
    conn: asyncpg.Connection, community_id: uuid.UUID, *, limit: int = 100
) -> list[ParamsVersion]:
    """The latest versions first."""
    return [_version(r) for r in await conn.fetch(SQL_HISTORY, community_id, limit)]


async def save(
    conn: asyncpg.Connection,
    community_id: uuid.UUID,
    params: dict[str, Any],
    *,
    changed_by: uuid.UUID | None,
    reason: str | None,
    base_version: int | None = None,
    restored_version: int | None = None,
) -> ParamsVersion:
    """Store ``params`` (already validated) as the community's next, current version.

    :class:`NotFoundError` without the community; :class:`ConflictError` if ``base_version``
    is given and is not the current version. Runs in its own (nested) transaction.
    """
    async with conn.transaction():
        current_version = await conn.fetchval(SQL_LOCK_COMMUNITY, community_id)
        if current_version is None:
            raise NotFoundError("no such community")
        if base_version is not None and base_version != current_version:
            raise ConflictError(
                f"the parameters changed since version {base_version} (now version "
                f"{current_version}); reload and apply your change again",
                field="base_version",
                current_version=current_version,
            )
        version: int = await conn.fetchval(SQL_NEXT_VERSION, community_id)
        await conn.execute(
            SQL_INSERT_VERSION,
            community_id,
            version,
            json.dumps(params),
            changed_by,
            reason,
            restored_version,
        )
        await conn.execute(SQL_SET_CURRENT, community_id, version)
        saved = await get_version(conn, community_id, version)
    assert saved is not None
    return saved
