"""Import a GTFS feed's timetable for a region: check the whole feed first, then replace the
feed's earlier import in one transaction.

A feed none of whose stops lies in the region's service area is refused: its buses could never
serve the region's riders (the bundled route 751 is such a feed for the demo region).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from maas.errors import NotFoundError
from maas.gtfs import store
from maas.gtfs.feed import read_feed
from maas.meeting_point_import import ImportFileError
from maas.settings import PROJECT_DIR

DEMO_FEED = PROJECT_DIR / "data" / "gtfs" / "only-bronntor-bus-stop.gtfs.zip"
"""The bundled timetable ``ensure-region`` imports: VVS town bus 781 in Herrenberg (2020)."""


class FeedOutsideRegionError(ImportFileError):
    """No stop of the feed lies in the region's service area."""


@dataclass(frozen=True, slots=True)
class TimetableReport:
    name: str
    region: str
    stops: int
    stops_inside: int
    routes: int
    trips: int
    stop_times: int
    service_from: date | None
    service_until: date | None
    timezone: str
    replaced: bool
    today: date | None = None
    """The import's local day, to warn about a feed whose service has ended."""

    def __str__(self) -> str:
        period = (
            f"{self.service_from} to {self.service_until}"
            if self.service_from and self.service_until
            else "no service days"
        )
        return (
            f"timetable '{self.name}' of region '{self.region}' "
            f"{'replaced' if self.replaced else 'imported'}: {self.routes} route(s), "
            f"{self.trips} trip(s), {self.stop_times} stop time(s), {self.stops} stop(s) "
            f"({self.stops_inside} in the service area), service {period} ({self.timezone})"
            + (
                f"; its service ended on {self.service_until}: no bus is found for later days"
                if self.today and self.service_until and self.service_until < self.today
                else ""
            )
        )


def feed_name(path: Path) -> str:
    """The name a feed is stored under by default: its file name without ``.zip``/``.gtfs``."""
    name = path.name
    for suffix in (".zip", ".gtfs"):
        name = name.removesuffix(suffix)
    return name or path.name


async def import_timetable(
    conn: asyncpg.Connection, path: Path, region: str, *, name: str | None = None
) -> TimetableReport:
    """Check the feed and store its timetable as ``name`` (default: from the file name),
    replacing an earlier import of that name; nothing is stored if anything is wrong."""
    feed = read_feed(path)
    name = name or feed_name(path)
    async with conn.transaction():
        region_id = await store.region_id(conn, region)
        if region_id is None:
            raise NotFoundError(f"region '{region}' is not imported; run python -m maas import-osm")
        inside = await store.stops_inside(conn, region_id, feed)
        if inside == 0:
            raise FeedOutsideRegionError(
                f"{path}: stops.txt: none of the {len(feed.stops)} stops lies in the service "
                f"area of region '{region}'"
            )
        replaced = await store.replace_feed(conn, region_id, region, name, feed)
    await store.analyze(conn)
    service_from, service_until = feed.service_period
    return TimetableReport(
        name=name,
        region=region,
        stops=len(feed.stops),
        stops_inside=inside,
        routes=len(feed.routes),
        trips=len(feed.trips),
        stop_times=len(feed.stop_times),
        service_from=service_from,
        service_until=service_until,
        timezone=feed.timezone,
        replaced=replaced,
        today=datetime.now(ZoneInfo(feed.timezone)).date(),
    )


SQL_REGION_HAS_FEED = """
SELECT EXISTS (SELECT 1 FROM gtfs_feed f JOIN region r ON r.id = f.region_id WHERE r.name = $1)
"""


async def ensure_demo_timetable(conn: asyncpg.Connection, region: str, path: Path) -> str:
    """Import the bundled demo feed unless the region has a timetable already (cheap: one
    town bus line). A feed outside the region (another MAAS_REGION) is skipped, not an error,
    so the quick start works for any region; the line returned says what happened."""
    if await conn.fetchval(SQL_REGION_HAS_FEED, region):
        return f"region '{region}' has a bus timetable"
    if not await asyncio.to_thread(path.exists):
        return f"{path}: no demo timetable to import"
    try:
        return str(await import_timetable(conn, path, region))
    except FeedOutsideRegionError as exc:
        return f"demo timetable skipped: {exc}"
