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

SQL_FORGET_PERSON = """
DELETE FROM idempotency_key WHERE person_id = $1 OR strpos(response::text, $1::text) > 0
"""
# The claim also drops a few expired keys of anyone (through the index on created_at, skipping
# rows another claim is dropping, so it never waits and its work is bounded). An expired key
# of the caller is taken over by the claim itself, so expiry never depends on that clean-up.
SQL_CLAIM = """
WITH expired AS (
    DELETE FROM idempotency_key WHERE (person_id, key) IN (
        SELECT person_id, key FROM idempotency_key
        WHERE created_at < now() - $4::interval AND NOT (person_id = $1 AND key = $2)
        ORDER BY created_at
        LIMIT 20
        FOR UPDATE SKIP LOCKED)
)
INSERT INTO idempotency_key (person_id, key, request_sha256) VALUES ($1, $2, $3)
ON CONFLICT (person_id, key) DO UPDATE
    SET request_sha256 = EXCLUDED.request_sha256, status_code = NULL, response = NULL,
        created_at = now()
    WHERE idempotency_key.created_at < now() - $4::interval
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
    if await conn.fetchval(SQL_CLAIM, person_id, key, request_sha256, KEY_TTL):
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
