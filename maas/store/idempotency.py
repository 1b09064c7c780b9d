"""Idempotency keys: a retried POST returns the first answer instead of acting twice.

The key row is inserted first, in the same transaction as the effect. A concurrent request
with the same key blocks on the primary key until the first transaction ends: if it commits,
the second finds the stored answer; if it rolls back, the second proceeds as if first.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

KEY_TTL = timedelta(hours=24)
"""How long a key is remembered: long enough for any client's retries, short enough that the
stored answers (which can hold other people's names) do not pile up."""

# Run before each claim; the table only ever holds a day of POSTs, so a scan is cheap.
SQL_PURGE_EXPIRED = """
DELETE FROM idempotency_key WHERE created_at < now() - $1::interval
"""
SQL_FORGET_PERSON = """
DELETE FROM idempotency_key WHERE person_id = $1 OR strpos(response::text, $1::text) > 0
"""
SQL_CLAIM = """
INSERT INTO idempotency_key (person_id, key, request_sha256) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING 1
"""
SQL_STORED = """
SELECT request_sha256, status_code, response FROM idempotency_key
WHERE person_id = $1 AND key = $2
"""
SQL_SAVE = """
UPDATE idempotency_key SET status_code = $3, response = $4::jsonb
WHERE person_id = $1 AND key = $2
"""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_sha256: bytes
    status_code: int
    body: Any


async def claim(
    conn: asyncpg.Connection, person_id: uuid.UUID, key: str, request_sha256: bytes
) -> StoredResponse | None:
    """Claim the key for this transaction, or return what an earlier request stored."""
    await conn.execute(SQL_PURGE_EXPIRED, KEY_TTL)
    if await conn.fetchval(SQL_CLAIM, person_id, key, request_sha256):
        return None
    row = await conn.fetchrow(SQL_STORED, person_id, key)
    assert row is not None  # the conflicting row is committed, else the insert would wait
    return StoredResponse(row["request_sha256"], row["status_code"], json.loads(row["response"]))


async def save(
    conn: asyncpg.Connection, person_id: uuid.UUID, key: str, status_code: int, body: Any
) -> None:
    await conn.execute(SQL_SAVE, person_id, key, status_code, json.dumps(body))


async def forget_person(conn: asyncpg.Connection, person_id: uuid.UUID) -> None:
    """Drop the person's own keys and every stored answer that mentions them (an operator's
    record of registering them, say): part of deleting an account."""
    await conn.execute(SQL_FORGET_PERSON, person_id)
