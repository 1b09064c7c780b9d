"""Numbered SQL migrations.

Each file ``maas/migrations/NNNN_name.sql`` runs in its own transaction and is recorded in
``schema_migrations`` with its checksum. A session-level advisory lock makes two processes that
migrate at once take turns: the second finds the work done and applies nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from maas.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# An arbitrary constant shared by every maas process: "maas-migrations".
MIGRATION_LOCK_KEY = 0x6D616173_6D6967

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SQL_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SQL_TABLE_EXISTS = "SELECT to_regclass('public.schema_migrations') IS NOT NULL"
SQL_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
SQL_RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
SQL_LOCK = "SELECT pg_advisory_lock($1)"
SQL_UNLOCK = "SELECT pg_advisory_unlock($1)"
SQL_POSTGIS_INSTALLED = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')"
SQL_POSTGIS_AVAILABLE = "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files, in order; a misnamed or duplicate file is a :class:`ConfigError`."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ConfigError(f"{path}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise ConfigError(f"{path}: migration number {version} is used twice")
        migrations[version] = Migration(version, match.group(2), path.read_text())
    return [migrations[v] for v in sorted(migrations)]


async def pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """The migrations not yet applied; a changed applied migration is a :class:`ConfigError`."""
    if not await conn.fetchval(SQL_TABLE_EXISTS):
        return list(migrations)
    applied = {r["version"]: r for r in await conn.fetch(SQL_APPLIED)}
    known = {m.version for m in migrations}
    unknown = sorted(set(applied) - known)
    if unknown:
        raise ConfigError(
            f"the database has migration {unknown[0]} which this version of maas does not know; "
            "it was migrated by a newer release"
        )
    for m in migrations:
        row = applied.get(m.version)
        if row is not None and row["checksum"] != m.checksum:
            raise ConfigError(
                f"migration {m.version:04d}_{m.name}.sql was changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )
    return [m for m in migrations if m.version not in applied]


async def _require_postgis(conn: asyncpg.Connection) -> None:
    """Make sure PostGIS is there (creating it when allowed); explain what to do when not."""
    if await conn.fetchval(SQL_POSTGIS_INSTALLED):
        return
    database = await conn.fetchval("SELECT current_database()")
    if await conn.fetchval(SQL_POSTGIS_AVAILABLE) is None:
        raise ConfigError(
            f"the database server of '{database}' has no PostGIS extension; install PostGIS 3 "
            "on it (Debian: apt-get install postgresql-15-postgis-3) or point MAAS_DATABASE_URL "
            "at a PostGIS server"
        )
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except asyncpg.InsufficientPrivilegeError:
        user = await conn.fetchval("SELECT current_user")
        raise ConfigError(
            f"the database '{database}' has no PostGIS and the user '{user}' may not add it; "
            f"ask a superuser to run: CREATE EXTENSION postgis; in '{database}'"
        ) from None


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied."""
    todo_all = load_migrations() if migrations is None else migrations
    await conn.execute(SQL_LOCK, MIGRATION_LOCK_KEY)
    try:
        await _require_postgis(conn)
        await conn.execute(SQL_CREATE_TABLE)
        applied: list[int] = []
        for m in await pending(conn, todo_all):
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(SQL_RECORD, m.version, m.name, m.checksum)
            except asyncpg.PostgresError as exc:
                raise ConfigError(
                    f"migration {m.version:04d}_{m.name}.sql failed: {exc}; "
                    "nothing of it was applied"
                ) from exc
            applied.append(m.version)
        return applied
    finally:
        await conn.execute(SQL_UNLOCK, MIGRATION_LOCK_KEY)
