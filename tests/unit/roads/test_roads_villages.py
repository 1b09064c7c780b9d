"""Villages of the demo region and the Voronoi fallback."""

from __future__ import annotations

import shapely
from shapely.geometry import Point, box

from maas.roads.importer import BuiltRegion
from maas.roads.osm import Boundary, Place
from maas.roads.villages import build_villages

EXPECTED = {
    "Herrenberg": "town",
    "Nagold": "town",
    "Gärtringen": "village",
    "Nufringen": "village",
    "Gäufelden": "village",
    "Mötzingen": "village",
    "Altingen": "village",
    "Oberjettingen": "village",
    "Unterjettingen": "village",
    "Affstätt": "suburb",
    "Kuppingen": "suburb",
    "Haslach": "suburb",
    "Gültstein": "suburb",
    "Oberjesingen": "suburb",
    "Nebringen": "suburb",
    "Öschelbronn": "suburb",
    "Tailfingen": "suburb",
    "Emmingen": "suburb",
    "Burghof": "hamlet",
    "Sindlingen": "hamlet",
    "Waldhof": "hamlet",
}


def test_demo_villages(demo_built: BuiltRegion) -> None:
    villages = {v.name: v for v in demo_built.villages}
    for name, kind in EXPECTED.items():
        assert villages[name].kind == kind, name
    assert villages["Kuppingen"].polygon_source == "boundary"
    assert villages["Herrenberg"].polygon_source == "voronoi"
    assert villages["Nagold"].population == 21241
    area = demo_built.service_area.buffer(1e-6)
    for v in villages.values():
        assert v.geometry.is_valid, v.name
        assert v.geometry.geom_type == "MultiPolygon"
        assert area.contains(v.geometry), v.name
        assert v.geometry.contains(v.point), v.name


def _place(i: int, name: str, lon: float, lat: float) -> Place:
    return Place("n", i, name, "village", None, lon, lat)


def test_voronoi_cells_partition_the_area_and_boundaries_win() -> None:
    area = box(8.80, 48.50, 8.90, 48.56)
    places = [
        _place(1, "West", 8.82, 48.53),
        _place(2, "East", 8.88, 48.53),
        _place(3, "Middle", 8.85, 48.53),
    ]
    ring = shapely.MultiPolygon([box(8.845, 48.525, 8.855, 48.535)])
    boundaries = [Boundary("r", 9, "middle", 10, None, ring)]  # names match case-insensitively
    villages = {v.name: v for v in build_villages(places, boundaries, area)}
    assert villages["Middle"].polygon_source == "boundary"
    assert villages["Middle"].geometry.area == shapely.area(ring)
    assert villages["West"].polygon_source == "voronoi"
    total = sum(v.geometry.area for v in villages.values())
    union = shapely.union_all([v.geometry for v in villages.values()])
    assert abs(total - union.area) < 1e-12  # no overlaps
    assert villages["West"].geometry.contains(Point(8.81, 48.51))
    assert not villages["West"].geometry.intersects(ring.buffer(-1e-6))


def test_places_outside_the_area_are_left_out() -> None:
    area = box(8.80, 48.50, 8.90, 48.56)
    villages = build_villages([_place(1, "Far", 9.5, 48.0), _place(2, "In", 8.85, 48.53)], [], area)
    assert [v.name for v in villages] == ["In"]
