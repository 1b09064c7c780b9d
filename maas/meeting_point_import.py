"""Meeting points from open data: GTFS ``stops.txt`` and OpenStreetMap nodes.

Each stop or node becomes a meeting point of the community whose area contains it. Points
outside the region's service area (or outside every community) are reported and skipped, never
stored. Imports are repeatable: a point is keyed by its source id (GTFS ``stop_id``, OSM node
id), so running an import again updates instead of duplicating.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from maas.domain.models import Point
from maas.errors import MaasError, NotFoundError
from maas.store import communities
from maas.store.common import to_geom

SQL_REGION_COVERS = """
SELECT ST_Covers(service_area, $2::geometry) FROM region WHERE name = $1
"""
SQL_REGION_EXISTS = "SELECT EXISTS (SELECT 1 FROM region WHERE name = $1)"

# GTFS location_type: 0 (or empty) is a stop or platform where people board; stations (1),
# entrances (2), generic nodes (3) and boarding areas (4) are not places to wait for a car.
_BOARDING_LOCATION_TYPES = frozenset({"", "0"})


NEAREST_COMMUNITY_M = 2000.0
"""A stop in a gap between village polygons joins the nearest village up to this far away."""


class ImportFileError(MaasError):
    """The file to import cannot be read."""

    status = 422
    title = "Unusable import file"
    type_slug = "invalid-import-file"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place read from a file, before it is checked against the region."""

    source_ref: str
    name: str
    kind: str
    position: Point
    step_free: bool = False
    bench: bool = False
    shelter: bool = False
    lit: bool = False


@dataclass
class ImportReport:
    """What an import did: stored points, and the ones skipped with the reason."""

    source: str
    stored: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"{self.source}: {self.stored} meeting point(s) stored, {len(self.skipped)} skipped"
        ]
        lines += [f"  skipped {ref} ({name}): {why}" for ref, name, why in self.skipped]
        return "\n".join(lines)


def read_gtfs_stops(path: Path) -> list[Candidate]:
    """The boarding stops of a GTFS zip; :class:`ImportFileError` if it is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.rsplit("/", 1)[-1]: n for n in archive.namelist()}
            if "stops.txt" not in names:
                raise ImportFileError(f"{path}: no stops.txt in the GTFS zip")
            text = archive.read(names["stops.txt"]).decode("utf-8-sig")
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFileError(f"{path}: not a readable GTFS zip ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: stops.txt is not UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = {"stop_id", "stop_lat", "stop_lon"} - set(reader.fieldnames or ())
    if missing:
        raise ImportFileError(f"{path}: stops.txt lacks the column(s) {', '.join(sorted(missing))}")
    out: list[Candidate] = []
    for line, row in enumerate(reader, start=2):
        if (row.get("location_type") or "").strip() not in _BOARDING_LOCATION_TYPES:
            continue
        try:
            position = Point(float(row["stop_lon"]), float(row["stop_lat"]))
        except (TypeError, ValueError):
            raise ImportFileError(f"{path}: stops.txt line {line} has no valid position") from None
        out.append(
            Candidate(
                source_ref=row["stop_id"],
                name=(row.get("stop_name") or row["stop_id"]).strip()[:200] or row["stop_id"],
                kind="bus_stop",
                position=position,
                step_free=(row.get("wheelchair_boarding") or "").strip() == "1",
            )
        )
    return out


def read_osm_meeting_points(path: Path) -> list[Candidate]:
    """Bus stops, platforms and ride-sharing benches (Mitfahrbänke) among the file's nodes."""
    import osmium

    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    out: list[Candidate] = []
    try:
        for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
            if not isinstance(node, osmium.osm.Node):
                continue
            tags = node.tags
            ride_sharing = tags.get("amenity") == "bench" and (
                tags.get("bench:ride_sharing") == "yes"
                or "mitfahrbank" in (tags.get("name") or "").lower()
                or tags.get("bench:type") == "mitfahrbank"
            )
            stop = tags.get("highway") == "bus_stop" or tags.get("public_transport") == "platform"
            if not (ride_sharing or stop) or not node.location.valid():
                continue
            kind = "mitfahrbank" if ride_sharing else "bus_stop"
            out.append(
                Candidate(
                    source_ref=f"n{node.id}",
                    name=(tags.get("name") or ("Mitfahrbank" if ride_sharing else "Haltestelle"))[
                        :200
                    ],
                    kind=kind,
                    position=Point(node.location.lon, node.location.lat),
                    step_free=tags.get("wheelchair") == "yes",
                    bench=ride_sharing or tags.get("bench") == "yes",
                    shelter=tags.get("shelter") == "yes",
                    lit=tags.get("lit") == "yes",
                )
            )
    except RuntimeError as exc:  # libosmium reports unreadable files this way
        raise ImportFileError(f"{path}: not a readable OpenStreetMap file ({exc})") from exc
    return out


async def store_candidates(
    conn: asyncpg.Connection, region: str, source: str, candidates: Iterable[Candidate]
) -> ImportReport:
    """Store the candidates inside the region (one transaction); report the others."""
    if not await conn.fetchval(SQL_REGION_EXISTS, region):
        raise NotFoundError(f"region '{region}' is not imported; run python -m maas import-osm")
    report = ImportReport(source)
    async with conn.transaction():
        for c in candidates:
            if not (-180 <= c.position.lon <= 180 and -90 <= c.position.lat <= 90):
                report.skipped.append((c.source_ref, c.name, "not a WGS84 position"))
                continue
            if not await conn.fetchval(SQL_REGION_COVERS, region, to_geom(c.position)):
                report.skipped.append((c.source_ref, c.name, "outside the service area"))
                continue
            community_id = await communities.community_at(
                conn, c.position, region=region, nearest_within_m=NEAREST_COMMUNITY_M
            )
            if community_id is None:
                report.skipped.append((c.source_ref, c.name, "in no community"))
                continue
            await communities.create_meeting_point(
                conn,
                community_id=community_id,
                name=c.name,
                kind=c.kind,
                position=c.position,
                step_free=c.step_free,
                bench=c.bench,
                shelter=c.shelter,
                lit=c.lit,
                source=source,
                source_ref=c.source_ref,
                upsert=True,
            )
            report.stored += 1
    return report


async def import_gtfs(conn: asyncpg.Connection, path: Path, region: str) -> ImportReport:
    return await store_candidates(conn, region, "gtfs", read_gtfs_stops(path))


async def import_osm_meeting_points(
    conn: asyncpg.Connection, path: Path, region: str
) -> ImportReport:
    return await store_candidates(conn, region, "osm", read_osm_meeting_points(path))
