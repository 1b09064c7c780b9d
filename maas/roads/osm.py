"""Read an OpenStreetMap extract: the drivable ways, the place points and the boundaries.

One pass of pyosmium over the file (with node locations cached in memory, which is fine for a
county-sized extract) collects:

* drivable ways (filter and speeds in :mod:`maas.roads.speeds`) as node-id sequences, already
  oriented in the direction of travel for one-way roads, with the coordinates of their nodes.
  A way whose nodes are partly missing (clipped at the extract's edge) is split into the runs
  of nodes that are present;
* ``place=town|village|hamlet|suburb|isolated_dwelling`` nodes (the future communities);
* areas that can become a village's polygon: administrative boundaries with ``admin_level``
  8–10 and areas tagged ``place=*``. Only relations whose rings close are assembled (by
  libosmium's area assembler); many boundaries in a clipped extract are incomplete, and those
  villages get a Voronoi cell instead (see :mod:`maas.roads.villages`).

Problems with the file itself raise :class:`OsmFileError` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import osmium
import shapely
from shapely.geometry.base import BaseGeometry

from maas.errors import MaasError
from maas.roads import speeds

PLACE_KINDS: Final[tuple[str, ...]] = ("town", "village", "suburb", "hamlet", "isolated_dwelling")
"""``place=*`` values imported as villages (the communities riders belong to)."""

BOUNDARY_ADMIN_LEVELS: Final[frozenset[str]] = frozenset({"8", "9", "10"})
"""Municipalities (8) and their parts (9, 10) in Germany."""


class OsmFileError(MaasError):
    """The OSM file cannot be imported: missing, unreadable, truncated, empty or without roads."""

    status = 422
    title = "Unusable OpenStreetMap file"
    type_slug = "invalid-osm-file"


@dataclass(frozen=True, slots=True)
class Way:
    """A drivable way (or the present part of one), nodes in the direction of travel."""

    osmid: int
    highway: str
    nodes: tuple[int, ...]
    oneway: bool
    speed_kph: float
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """A ``place=*`` node."""

    osm_type: str
    osm_id: int
    name: str
    kind: str
    population: int | None
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Boundary:
    """An assembled area that may be a village's polygon (WGS84 MultiPolygon)."""

    osm_type: str
    osm_id: int
    name: str
    admin_level: int | None
    place: str | None
    geometry: BaseGeometry


@dataclass(slots=True)
class OsmData:
    """What the importer needs from one OSM file."""

    ways: list[Way] = field(default_factory=list)
    coords: dict[int, tuple[float, float]] = field(default_factory=dict)
    places: list[Place] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    object_count: int = 0


def parse_population(value: str | None) -> int | None:
    """``population=1 234`` → 1234; anything that is not a whole number → None."""
    if not value:
        return None
    digits = value.replace(" ", "").replace(",", "").replace(".", "")
    return int(digits) if digits.isdigit() else None


def read_osm(path: Path) -> OsmData:
    """Parse ``path`` (.osm.pbf or .osm); raise :class:`OsmFileError` if it cannot be read."""
    if not path.exists():
        raise OsmFileError(f"{path}: no such file")
    if not path.is_file():
        raise OsmFileError(f"{path}: not a regular file")
    try:
        data = _read(path)
    except OsmFileError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:
        # libosmium reports truncated or foreign files as RuntimeError with a terse reason.
        raise OsmFileError(
            f"{path}: not a readable OpenStreetMap file (truncated or another format?): {exc}"
        ) from exc
    if data.object_count == 0:
        raise OsmFileError(f"{path}: the extract is empty (no OpenStreetMap objects)")
    return data


def _read(path: Path) -> OsmData:
    data = OsmData()
    wkb = osmium.geom.WKBFactory()
    coords = data.coords
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter("boundary", "place"))
    )
    count = 0
    obj: Any
    for obj in processor:
        count += 1
        tags = obj.tags
        if obj.is_way():
            if "highway" in tags:
                tag_map = dict(tags)
                if speeds.is_drivable(tag_map):
                    _add_way(data, obj, tag_map, coords)
        elif obj.is_node():
            kind = tags.get("place")
            if kind in PLACE_KINDS and tags.get("name"):
                loc = obj.location
                data.places.append(
                    Place(
                        osm_type="n",
                        osm_id=obj.id,
                        name=tags["name"],
                        kind=kind,
                        population=parse_population(tags.get("population")),
                        lon=loc.lon,
                        lat=loc.lat,
                    )
                )
        elif obj.is_area():
            _add_boundary(data, obj, wkb)
    data.object_count = count
    return data


def _add_way(
    data: OsmData, way: Any, tags: Mapping[str, str], coords: dict[int, tuple[float, float]]
) -> None:
    run: list[int] = []
    runs: list[list[int]] = [run]
    for node in way.nodes:
        loc = node.location
        if not loc.valid():
            # The node is outside the extract: end this piece of the way here.
            run = []
            runs.append(run)
            continue
        coords[node.ref] = (loc.lon, loc.lat)
        run.append(node.ref)
    direction = speeds.direction(tags)
    highway = tags["highway"]
    speed = speeds.speed_kph(tags)
    for nodes in runs:
        if len(nodes) < 2:
            continue
        if direction == speeds.BACKWARD:
            nodes.reverse()
        data.ways.append(
            Way(
                osmid=way.id,
                highway=highway,
                nodes=tuple(nodes),
                oneway=direction != speeds.BOTH,
                speed_kph=speed,
                name=tags.get("name"),
            )
        )


def _add_boundary(data: OsmData, area: Any, wkb: Any) -> None:
    tags = area.tags
    name = tags.get("name")
    if not name:
        return
    is_admin = (
        tags.get("boundary") == "administrative"
        and tags.get("admin_level") in BOUNDARY_ADMIN_LEVELS
    )
    place = tags.get("place")
    if not is_admin and place is None:
        return
    try:
        geometry = shapely.from_wkb(wkb.create_multipolygon(area))
    except RuntimeError:
        return  # an invalid ring: treated like a missing boundary
    if geometry.is_empty or not geometry.is_valid:
        return
    level = tags.get("admin_level") if is_admin else None
    data.boundaries.append(
        Boundary(
            osm_type="w" if area.from_way() else "r",
            osm_id=area.orig_id(),
            name=name,
            admin_level=int(level) if level else None,
            place=place,
            geometry=geometry,
        )
    )
