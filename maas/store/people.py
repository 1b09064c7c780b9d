"""People, their operator scopes, and API tokens (kept only as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from maas.domain.models import Person, Principal, Token
from maas.store import idempotency
from maas.store.common import ListFilter, Page, page_of

TOKEN_PREFIX = "maas_"

SQL_INSERT_PERSON = """
INSERT INTO person (name, phone, email, home_community_id, is_rider, is_driver, is_admin)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""
SQL_SET_SCOPE_DELETE = "DELETE FROM operator_scope WHERE person_id = $1"
SQL_SET_SCOPE_INSERT = """
INSERT INTO operator_scope (person_id, community_id) SELECT $1, unnest($2::uuid[])
"""
SQL_GET_PERSON = """
SELECT p.id, p.name, p.phone, p.email, p.home_community_id, p.is_rider, p.is_driver, p.is_admin,
p.created_at, p.deleted_at,
ARRAY(SELECT s.community_id FROM operator_scope s WHERE s.person_id = p.id
      ORDER BY s.community_id) AS operator_of
FROM person p WHERE p.id = $1
"""
SQL_UPDATE_PERSON = """
UPDATE person SET
    name = COALESCE($2, name),
    phone = CASE WHEN $3::bool THEN $4 ELSE phone END,
    email = CASE WHEN $5::bool THEN $6 ELSE email END,
    home_community_id = COALESCE($7, home_community_id),
    is_rider = COALESCE($8, is_rider),
    is_driver = COALESCE($9, is_driver),
    is_admin = COALESCE($10, is_admin)
WHERE id = $1 AND deleted_at IS NULL
"""
SQL_LIST_PEOPLE = """
SELECT p.id, p.name, p.phone, p.email, p.home_community_id, p.is_rider, p.is_driver, p.is_admin,
p.created_at, p.deleted_at,
ARRAY(SELECT s.community_id FROM operator_scope s WHERE s.person_id = p.id
      ORDER BY s.community_id) AS operator_of
FROM person p
WHERE ($1::timestamptz IS NULL OR (p.created_at, p.id) > ($1, $2::uuid))
  AND ($3::bool OR p.home_community_id = ANY($4::uuid[]))
  AND ($5::uuid IS NULL OR p.home_community_id = $5)
ORDER BY p.created_at, p.id
LIMIT $6
"""
SQL_ANONYMISE_PERSON = """
UPDATE person SET name = NULL, phone = NULL, email = NULL, is_admin = false, deleted_at = now()
WHERE id = $1
"""

SQL_INSERT_TOKEN = """
INSERT INTO api_token (person_id, secret_sha256, label, expires_at)
VALUES ($1, $2, $3, $4)
RETURNING id, person_id, label, created_at, expires_at, revoked_at
"""
SQL_PRINCIPAL_BY_TOKEN = """
SELECT p.id, p.home_community_id, p.is_rider, p.is_driver, p.is_admin,
       ARRAY(SELECT s.community_id FROM operator_scope s WHERE s.person_id = p.id) AS operator_of
FROM api_token t JOIN person p ON p.id = t.person_id
WHERE t.secret_sha256 = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
  AND p.deleted_at IS NULL
"""
SQL_LIST_TOKENS = """
SELECT id, person_id, label, created_at, expires_at, revoked_at FROM api_token
WHERE person_id = $1 ORDER BY created_at, id
"""
SQL_GET_TOKEN = """
SELECT id, person_id, label, created_at, expires_at, revoked_at FROM api_token WHERE id = $1
"""
SQL_REVOKE_TOKEN = """
UPDATE api_token SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
RETURNING id, person_id, label, created_at, expires_at, revoked_at
"""
SQL_REVOKE_ALL_TOKENS = """
UPDATE api_token SET revoked_at = now() WHERE person_id = $1 AND revoked_at IS NULL
"""


def hash_secret(secret: str) -> bytes:
    """Tokens are 256 random bits, so a plain SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _person(row: asyncpg.Record) -> Person:
    return Person(
        id=row["id"],
        name=row["name"],
        phone=row["phone"],
        email=row["email"],
        home_community_id=row["home_community_id"],
        is_rider=row["is_rider"],
        is_driver=row["is_driver"],
        is_admin=row["is_admin"],
        operator_of=tuple(row["operator_of"] or ()),
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


def _token(row: asyncpg.Record) -> Token:
    return Token(
        id=row["id"],
        person_id=row["person_id"],
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def create_person(
    conn: asyncpg.Connection,
    *,
    name: str,
    home_community_id: uuid.UUID | None,
    is_rider: bool = False,
    is_driver: bool = False,
    is_admin: bool = False,
    operator_of: Sequence[uuid.UUID] = (),
    phone: str | None = None,
    email: str | None = None,
) -> Person:
    async with conn.transaction():
        person_id = await conn.fetchval(
            SQL_INSERT_PERSON, name, phone, email, home_community_id, is_rider, is_driver, is_admin
        )
        if operator_of:
            await conn.execute(SQL_SET_SCOPE_INSERT, person_id, list(operator_of))
    person = await get_person(conn, person_id)
    assert person is not None
    return person


async def get_person(conn: asyncpg.Connection, person_id: uuid.UUID) -> Person | None:
    row = await conn.fetchrow(SQL_GET_PERSON, person_id)
    return None if row is None else _person(row)


async def update_person(
    conn: asyncpg.Connection,
    person_id: uuid.UUID,
    *,
    name: str | None = None,
    phone: tuple[str | None] | None = None,
    email: tuple[str | None] | None = None,
    home_community_id: uuid.UUID | None = None,
    is_rider: bool | None = None,
    is_driver: bool | None = None,
    is_admin: bool | None = None,
    operator_of: Sequence[uuid.UUID] | None = None,
) -> Person | None:
    """Change what is given; ``phone``/``email`` are 1-tuples so that ``None`` can clear them."""
    async with conn.transaction():
        await conn.execute(
            SQL_UPDATE_PERSON,
            person_id,
            name,
            phone is not None,
            phone[0] if phone else None,
            email is not None,
            email[0] if email else None,
            home_community_id,
            is_rider,
            is_driver,
            is_admin,
        )
        if operator_of is not None:
            await conn.execute(SQL_SET_SCOPE_DELETE, person_id)
            await conn.execute(SQL_SET_SCOPE_INSERT, person_id, list(operator_of))
    return await get_person(conn, person_id)


async def list_people(
    conn: asyncpg.Connection, flt: ListFilter, *, all_communities: bool, scope: Sequence[uuid.UUID]
) -> Page[Person]:
    after_at, after_id = flt.keyset()
    rows = await conn.fetch(
        SQL_LIST_PEOPLE,
        after_at,
        after_id,
        all_communities,
        list(scope),
        flt.community_id,
        flt.limit + 1,
    )
    return page_of([_person(r) for r in rows], flt.limit)


async def anonymise_person(conn: asyncpg.Connection, person_id: uuid.UUID) -> None:
    await conn.execute(SQL_ANONYMISE_PERSON, person_id)
    await conn.execute(SQL_SET_SCOPE_DELETE, person_id)
    await conn.execute(SQL_REVOKE_ALL_TOKENS, person_id)
    # Stored answers of idempotent POSTs can hold personal data; they go with the account.
    await idempotency.forget_person(conn, person_id)


async def create_token(
    conn: asyncpg.Connection, person_id: uuid.UUID, *, label: str, expires_at: datetime
) -> tuple[Token, str]:
    """A new token and its secret; the secret is never stored and cannot be shown again."""
    secret = new_secret()
    row = await conn.fetchrow(SQL_INSERT_TOKEN, person_id, hash_secret(secret), label, expires_at)
    return _token(row), secret


async def principal_for_secret(conn: asyncpg.Connection, secret: str) -> Principal | None:
    row = await conn.fetchrow(SQL_PRINCIPAL_BY_TOKEN, hash_secret(secret))
    if row is None:
        return None
    return Principal(
        person_id=row["id"],
        home_community_id=row["home_community_id"],
        is_rider=row["is_rider"],
        is_driver=row["is_driver"],
        is_admin=row["is_admin"],
        operator_of=frozenset(row["operator_of"] or ()),
    )


async def list_tokens(conn: asyncpg.Connection, person_id: uuid.UUID) -> list[Token]:
    return [_token(r) for r in await conn.fetch(SQL_LIST_TOKENS, person_id)]


async def get_token(conn: asyncpg.Connection, token_id: uuid.UUID) -> Token | None:
    row = await conn.fetchrow(SQL_GET_TOKEN, token_id)
    return None if row is None else _token(row)


async def revoke_token(conn: asyncpg.Connection, token_id: uuid.UUID) -> Token | None:
    row = await conn.fetchrow(SQL_REVOKE_TOKEN, token_id)
    return None if row is None else _token(row)
