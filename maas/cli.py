"""The command line: ``serve``, ``db migrate``, ``import-osm``.

An expected failure prints one plain line (``maas: error: …``) and exits with status 1; only a
bug shows a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from maas.errors import ConfigError, MaasError
from maas.logs import configure_logging
from maas.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m maas", description="Rural ridesharing matching service."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("serve", help="run the HTTP service (settings from MAAS_* variables)")

    db_parser = sub.add_parser("db", help="database maintenance")
    db_sub = db_parser.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_sub.add_parser("migrate", help="apply pending migrations (safe to run twice)")
    db_sub.add_parser("status", help="list applied and pending migrations")

    imp = sub.add_parser("import-osm", help="import a region's road network from an .osm.pbf")
    imp.add_argument("file", type=Path, help="the OpenStreetMap extract (.osm.pbf)")
    imp.add_argument("--region", required=True, help="the region's name, e.g. herrenberg")
    imp.add_argument("--quiet", action="store_true", help="no progress display")

    ensure = sub.add_parser(
        "ensure-region",
        help="import the demo region unless the configured region is already imported",
    )
    ensure.add_argument("--file", type=Path, help="the extract (default: MAAS_DEMO_OSM)")
    return parser


async def _db_migrate(settings: Settings) -> None:
    from maas import db, migrate

    async with db.connection(settings) as conn:
        applied = await migrate.migrate(conn)
    if applied:
        print(f"applied migrations: {', '.join(f'{v:04d}' for v in applied)}")
    else:
        print("database is up to date")


async def _db_status(settings: Settings) -> None:
    from maas import db, migrate

    migrations = migrate.load_migrations()
    async with db.connection(settings) as conn:
        todo = {m.version for m in await migrate.pending(conn, migrations)}
    for m in migrations:
        print(f"{m.version:04d}_{m.name}: {'pending' if m.version in todo else 'applied'}")


async def _import_osm(settings: Settings, path: Path, region: str, *, progress: bool) -> None:
    from maas.roads.importer import import_osm

    summary = await import_osm(settings, path, region, progress=progress)
    print(summary)


async def _ensure_region(settings: Settings, path: Path | None) -> None:
    from maas import db
    from maas.roads.importer import import_osm, region_exists

    async with db.connection(settings) as conn:
        if await region_exists(conn, settings.region):
            print(f"region '{settings.region}' is imported")
            return
    source = path or settings.demo_osm_path
    if not source.exists():
        raise ConfigError(
            f"{source}: the demo region's OpenStreetMap file is missing; restore it with "
            "'git checkout -- data/demo' or set MAAS_DEMO_OSM to an .osm.pbf file"
        )
    print(await import_osm(settings, source, settings.region, progress=True))


def _serve(settings: Settings) -> None:
    from aiohttp import web

    from maas.app import create_app

    app = create_app(settings)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout_s,
            access_log=None,
            print=lambda text: logging.getLogger("maas").info(text.strip()),
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {settings.port} on {settings.host} is already in use; stop the other "
                "process or set MAAS_PORT to a free port"
            ) from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(
                f"cannot listen on {settings.host}: no such address here; check MAAS_HOST"
            ) from exc
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        if args.command == "serve":
            _serve(settings)
        elif args.command == "db" and args.db_command == "migrate":
            asyncio.run(_db_migrate(settings))
        elif args.command == "db" and args.db_command == "status":
            asyncio.run(_db_status(settings))
        elif args.command == "import-osm":
            asyncio.run(_import_osm(settings, args.file, args.region, progress=not args.quiet))
        elif args.command == "ensure-region":
            asyncio.run(_ensure_region(settings, args.file))
    except MaasError as error:
        print(f"maas: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
