"""The region's service area and one polygon per village (the communities riders belong to).

**Service area.** The concave hull of the kept (strongly connected) road nodes, buffered by
:data:`SERVICE_AREA_BUFFER_M` in EPSG:25832 and intersected with the extract's polygon when one
is given. The buffer admits riders a short walk off the outermost roads; the concave hull (rather
than the convex one) keeps out empty corners of the extract; the extract polygon keeps out the
surroundings that a boundary relation or a clipped road dragged into the file.

**Villages.** Every ``place=town|village|suburb|hamlet|isolated_dwelling`` node inside the
service area becomes a village. Its polygon is, in order of preference:

1. an **assembled area with the same name** (case-insensitive) that contains the place point: an
   administrative boundary (``admin_level`` 8–10) or an area tagged ``place=*``; of several, the
   smallest. In a clipped extract most municipal boundary relations are incomplete and cannot be
   assembled, so this covers only some villages;
2. otherwise its **Voronoi cell** among all place points (``shapely.voronoi_polygons``), i.e. the
   land closer to this place point than to any other — a neutral, reproducible proxy for "the
   village's catchment" when OSM has no boundary.

To keep the villages from overlapping where possible (a point should belong to one community),
boundaries are clipped to the service area and smaller ones are cut out of larger ones, and the
Voronoi cells of places outside every boundary are cut by all boundaries. A place whose point lies
inside another village's boundary (an isolated farm inside a suburb's boundary, or in the demo
region Gäufelden, the municipality of Nebringen, Öschelbronn and Tailfingen, whose place node lies
in Öschelbronn) gets the part of its Voronoi cell within that boundary plus the part outside
every boundary: it is *nested* in, and overlaps, the larger village, and a caller looking for
"the" community of a point should take the smallest polygon containing it. Slivers left by the
cutting (parts under :data:`MIN_PART_M2` that do not hold the place point) are dropped. Land of
a boundary village's Voronoi cell outside its boundary stays unassigned (a gap, not a guess).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from maas.roads.arrays import to_metric, to_wgs84
from maas.roads.osm import Boundary, Place

SERVICE_AREA_BUFFER_M: Final = 500.0
CONCAVE_HULL_RATIO: Final = 0.05
"""shapely.concave_hull ratio: small enough to follow the network's outline, not its holes."""
MIN_PART_M2: Final = 10_000.0
"""Polygon parts smaller than one hectare that do not hold the place point are slivers."""


@dataclass(frozen=True, slots=True)
class Village:
    """A village with its polygon (WGS84)."""

    osm_type: str
    osm_id: int
    name: str
    kind: str
    population: int | None
    point: Point
    geometry: MultiPolygon
    polygon_source: str  # "boundary" or "voronoi"


def _project(geom: BaseGeometry, transformer: object) -> BaseGeometry:
    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])  # type: ignore[attr-defined]
        return np.column_stack([x, y])

    return shapely.transform(geom, apply)


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """The polygonal parts of ``geom`` as a MultiPolygon (empty if there are none)."""
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polys: list[Polygon] = []
    for part in parts:
        polys.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
    return MultiPolygon(polys)


def _area(geom: BaseGeometry) -> float:
    return float(geom.area)


def _drop_slivers(geom: BaseGeometry, point: Point) -> BaseGeometry:
    parts = list(shapely.get_parts(as_multipolygon(geom)))
    kept = [p for p in parts if p.area >= MIN_PART_M2 or p.intersects(point)]
    return shapely.MultiPolygon(kept) if kept else geom


def service_area(node_lonlat: np.ndarray, extract: BaseGeometry | None) -> MultiPolygon:
    """The region's service area in WGS84 (see the module docstring)."""
    fwd, back = to_metric(), to_wgs84()
    x, y = fwd.transform(node_lonlat[:, 0], node_lonlat[:, 1])
    hull = shapely.concave_hull(shapely.multipoints(np.column_stack([x, y])), CONCAVE_HULL_RATIO)
    area = hull.buffer(SERVICE_AREA_BUFFER_M)
    if extract is not None and not extract.is_empty:
        area = area.intersection(_project(extract, fwd))
    return as_multipolygon(shapely.make_valid(_project(area, back)))


def build_villages(
    places: Sequence[Place], boundaries: Sequence[Boundary], area: BaseGeometry
) -> list[Village]:
    """One polygon per place inside ``area`` (WGS84), without overlaps (module docstring)."""
    fwd, back = to_metric(), to_wgs84()
    area_xy = _project(area, fwd)
    shapely.prepare(area_xy)
    selected: list[tuple[Place, Point]] = []
    seen: set[tuple[str, int]] = set()
    for place in places:
        pt = Point(*fwd.transform(place.lon, place.lat))
        if (place.osm_type, place.osm_id) in seen or not area_xy.contains(pt):
            continue
        seen.add((place.osm_type, place.osm_id))
        selected.append((place, pt))
    if not selected:
        return []

    by_name: dict[str, list[BaseGeometry]] = {}
    for b in boundaries:
        by_name.setdefault(b.name.casefold(), []).append(_project(b.geometry, fwd))

    own: dict[int, BaseGeometry] = {}
    for i, (place, pt) in enumerate(selected):
        matches = [g for g in by_name.get(place.name.casefold(), []) if g.contains(pt)]
        if matches:
            own[i] = min(matches, key=lambda g: g.area).intersection(area_xy)

    # Smaller boundaries are cut out of larger ones (a suburb's out of its town's).
    final: dict[int, BaseGeometry] = {}
    taken: BaseGeometry = Polygon()
    for i in sorted(own, key=lambda k: own[k].area):
        final[i] = own[i].difference(taken)
        taken = taken.union(own[i])

    points_xy = shapely.multipoints([pt for _, pt in selected])
    cells = shapely.voronoi_polygons(points_xy, extend_to=area_xy)
    cell_list = list(cells.geoms)
    for i, (_, pt) in enumerate(selected):
        if i in final:
            continue
        cell = next((c for c in cell_list if c.contains(pt)), None)
        if cell is None:  # the point lies on a cell edge: take the nearest cell
            cell = min(cell_list, key=lambda c: c.distance(pt))
        clipped = cell.intersection(area_xy)
        host = min((final[k] for k in final if final[k].contains(pt)), key=_area, default=None)
        cut = clipped.difference(taken)
        if host is not None:
            # Nested in the host village, plus its cell's land outside every boundary.
            final[i] = clipped.intersection(host).union(cut)
        else:
            final[i] = cut if not cut.is_empty else clipped
        final[i] = _drop_slivers(final[i], pt)

    villages = []
    for i, (place, _) in enumerate(selected):
        geometry = as_multipolygon(shapely.make_valid(_project(final[i], back)))
        if geometry.is_empty:
            continue
        villages.append(
            Village(
                osm_type=place.osm_type,
                osm_id=place.osm_id,
                name=place.name,
                kind=place.kind,
                population=place.population,
                point=Point(place.lon, place.lat),
                geometry=geometry,
                polygon_source="boundary" if i in own else "voronoi",
            )
        )
    return villages
