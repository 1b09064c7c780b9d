"""The command line: ``serve``, ``db migrate``, ``import-osm``, ``create-admin``, ``import-gtfs``,
``import-timetable``, ``import-meeting-points``, ``communities sync``, ``match``, ``openapi``.

An expected failure prints one plain line (``maas: error: …``) and exits with status 1; only a
bug shows a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from maas.errors import ConfigError, InputError, MaasError
from maas.logs import configure_logging
from maas.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m maas", description="Rural ridesharing matching service."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP service (settings from MAAS_* variables)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default: MAAS_WORKERS, else one per CPU)",
    )

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

    admin = sub.add_parser("create-admin", help="register an admin and print their token once")
    admin.add_argument("--name", required=True, help="the admin's name")
    admin.add_argument("--days", type=int, default=90, help="days until the token expires")

    gtfs = sub.add_parser("import-gtfs", help="import GTFS stops as meeting points")
    gtfs.add_argument("file", type=Path, help="a GTFS feed (.zip with stops.txt)")
    gtfs.add_argument("--region", required=True, help="the region's name, e.g. herrenberg")

    timetable = sub.add_parser(
        "import-timetable",
        help="import (or replace) a GTFS feed's timetable for the fallback's bus connections",
    )
    timetable.add_argument("file", type=Path, help="a GTFS feed (.zip)")
    timetable.add_argument("--region", required=True, help="the region's name, e.g. herrenberg")
    timetable.add_argument("--name", help="the feed's name (default: the file name)")

    mps = sub.add_parser(
        "import-meeting-points",
        help="import bus stops and ride-sharing benches from an .osm.pbf as meeting points",
    )
    mps.add_argument("file", type=Path, help="the OpenStreetMap extract (.osm.pbf)")
    mps.add_argument("--region", required=True, help="the region's name, e.g. herrenberg")

    comm = sub.add_parser("communities", help="communities (tenants)")
    comm_sub = comm.add_subparsers(dest="communities_command", required=True, metavar="ACTION")
    sync = comm_sub.add_parser("sync", help="one community per imported village (repeatable)")
    sync.add_argument("--region", required=True, help="the region's name, e.g. herrenberg")

    match = sub.add_parser(
        "match", help="run matching now (one community, or every community with open requests)"
    )
    target = match.add_mutually_exclusive_group(required=True)
    target.add_argument("--community", help="the community's id")
    target.add_argument("--all", action="store_true", help="every community that has work")
    match.add_argument("--date", help="a local day (YYYY-MM-DD); default: the next 24 hours")

    doc = sub.add_parser("openapi", help="print the OpenAPI document")
    doc.add_argument("--write", action="store_true", help="write schemas/openapi.json instead")
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
    from maas.community_sync import sync_communities
    from maas.gtfs.importer import DEMO_FEED, ensure_demo_timetable
    from maas.meeting_point_import import import_osm_meeting_points
    from maas.roads.importer import import_osm, region_exists

    async with db.connection(settings) as conn:
        if await region_exists(conn, settings.region):
            print(f"region '{settings.region}' is imported")
            # Cheap and repeatable: a region imported before communities existed gets them.
            print(await sync_communities(conn, settings.region))
            print(await ensure_demo_timetable(conn, settings.region, DEMO_FEED))
            return
    source = path or settings.demo_osm_path
    if not source.exists():
        raise ConfigError(
            f"{source}: the demo region's OpenStreetMap file is missing; restore it with "
            "'git checkout -- data/demo' or set MAAS_DEMO_OSM to an .osm.pbf file"
        )
    print(await import_osm(settings, source, settings.region, progress=True))
    # A fresh region: its villages become communities, its stops and benches meeting points.
    async with db.connection(settings) as conn:
        print(await sync_communities(conn, settings.region))
        print(await import_osm_meeting_points(conn, source, settings.region))
        print(await ensure_demo_timetable(conn, settings.region, DEMO_FEED))


async def _create_admin(settings: Settings, name: str, days: int) -> None:
    from datetime import UTC, datetime, timedelta

    from maas import db
    from maas.store import people

    if not name.strip() or len(name) > 200:
        raise InputError("--name", "must be 1 to 200 characters")
    if not 1 <= days <= 730:
        raise InputError("--days", "must be 1 to 730")
    async with db.connection(settings) as conn, conn.transaction():
        person = await people.create_person(
            conn, name=name.strip(), home_community_id=None, is_admin=True
        )
        _, secret = await people.create_token(
            conn,
            person.id,
            label="create-admin",
            expires_at=datetime.now(UTC) + timedelta(days=days),
        )
    print(f"admin {person.id} created; this token is shown only once:")
    print(secret)


async def _import_gtfs(settings: Settings, path: Path, region: str) -> None:
    from maas import db
    from maas.meeting_point_import import import_gtfs

    async with db.connection(settings) as conn:
        print(await import_gtfs(conn, path, region))


async def _import_timetable(settings: Settings, path: Path, region: str, name: str | None) -> None:
    from maas import db
    from maas.gtfs.importer import import_timetable

    async with db.connection(settings) as conn:
        print(await import_timetable(conn, path, region, name=name))


async def _import_meeting_points(settings: Settings, path: Path, region: str) -> None:
    from maas import db
    from maas.meeting_point_import import import_osm_meeting_points

    async with db.connection(settings) as conn:
        print(await import_osm_meeting_points(conn, path, region))


async def _sync_communities(settings: Settings, region: str) -> None:
    from maas import db
    from maas.community_sync import sync_communities

    async with db.connection(settings) as conn:
        print(await sync_communities(conn, region))


async def _match(settings: Settings, community: str | None, day: str | None) -> None:
    import uuid
    from datetime import date

    from maas import db
    from maas.planning.service import MatchingRunner, RunRequest, day_horizon
    from maas.roads import load_network

    horizon = None
    if day is not None:
        try:
            horizon = day_horizon(date.fromisoformat(day))
        except ValueError:
            raise InputError("--date", "is not a date (YYYY-MM-DD)") from None
    community_id = None
    if community is not None:
        try:
            community_id = uuid.UUID(community)
        except ValueError:
            raise InputError("--community", "is not a UUID") from None
    pool = await db.create_pool(settings)
    try:
        async with pool.acquire() as conn:
            network = await load_network(conn, settings.region, settings.cache_dir)
        # One process: the solver runs in a thread here (the service uses its worker pool).
        runner = MatchingRunner(settings, pool, None, lambda: network)
        if community_id is None:
            runs = await runner.run_due()
        else:
            runs = [await runner.run(RunRequest(community_id, horizon, trigger="cli"))]
        for run in runs:
            print(
                f"run {run.id} of community {run.community_id}: {run.status}, "
                f"{run.served_count} of {run.requests_count} request(s) served, "
                f"{run.matches_count} match(es){f' ({run.error})' if run.error else ''}"
            )
        if not runs:
            print("no community has open requests in its horizon")
    finally:
        await pool.close()


def _openapi(write: bool) -> None:
    from maas.app import api_routes
    from maas.http.openapi import build_document, dumps
    from maas.schemas import SCHEMA_DIR, SchemaRegistry

    text = dumps(build_document(api_routes(), SchemaRegistry()))
    if write:
        (SCHEMA_DIR / "openapi.json").write_text(text)
        print(f"wrote {SCHEMA_DIR / 'openapi.json'}")
    else:
        print(text, end="")


def _serve(settings: Settings, workers: int | None) -> int:
    from maas.serve import serve

    return serve(settings, workers)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "openapi":
            # Needs no database and no settings.
            _openapi(args.write)
            return 0
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        if args.command == "serve":
            return _serve(settings, args.workers)
        elif args.command == "db" and args.db_command == "migrate":
            asyncio.run(_db_migrate(settings))
        elif args.command == "db" and args.db_command == "status":
            asyncio.run(_db_status(settings))
        elif args.command == "import-osm":
            asyncio.run(_import_osm(settings, args.file, args.region, progress=not args.quiet))
        elif args.command == "ensure-region":
            asyncio.run(_ensure_region(settings, args.file))
        elif args.command == "create-admin":
            asyncio.run(_create_admin(settings, args.name, args.days))
        elif args.command == "import-gtfs":
            asyncio.run(_import_gtfs(settings, args.file, args.region))
        elif args.command == "import-timetable":
            asyncio.run(_import_timetable(settings, args.file, args.region, args.name))
        elif args.command == "import-meeting-points":
            asyncio.run(_import_meeting_points(settings, args.file, args.region))
        elif args.command == "match":
            asyncio.run(_match(settings, args.community, args.date))
        elif args.command == "communities" and args.communities_command == "sync":
            asyncio.run(_sync_communities(settings, args.region))
    except MaasError as error:
        print(f"maas: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
