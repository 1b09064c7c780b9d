"""The road network: OSM import, PostGIS storage, cached graph, snapping, matrices and routes.

Public API for the service and the matching library:

* ``await load_network(conn, region, cache_dir, *, snap_max_distance_m=1000.0) -> RoadNetwork``
  at start-up (``cache_dir`` is ``settings.cache_dir``); :class:`maas.errors.NotFoundError` if
  the region has not been imported. ``await region_exists(conn, region) -> bool``.
* :class:`RoadNetwork` (immutable; pickles as its cache path, so worker processes re-map the
  same files):

  - ``snap(lon, lat, field="point", max_distance_m=None) -> Snap`` and
    ``snap_many(points, field="points", max_distance_m=None, *, remember=False) ->
    list[Snap]``; an :class:`maas.errors.InputError` naming ``field`` (``field[i]``) when a
    point is outside the service area or farther than the limit from a drivable road; with
    ``remember``, points snapped before (with ``remember``) are not snapped again;
  - ``travel_time_matrix(origins, destinations, *, limit_s=None) -> float64[M, N]`` seconds,
    ``inf`` when unreachable or beyond ``limit_s``; :func:`to_int_seconds` rounds it to int32
    with :data:`UNREACHABLE_INT` for ``inf``;
  - ``route(origin, destination) -> Route | None`` with ``travel_time_s``, ``length_m``,
    ``coordinates`` and ``geojson()`` (a GeoJSON LineString);
  - ``region``, ``import_id``, ``node_count``, ``edge_count``, ``service_area`` (WGS84),
    ``path``, ``prepare()``.
* ``await maas.roads.importer.import_osm(settings, path, region, *, progress=True)
  -> ImportSummary`` for ``python -m maas import-osm``.

Modules: :mod:`.speeds` (tag rules and the default speed table), :mod:`.osm` (reading the file),
:mod:`.graph` and :mod:`.simplify` (networkx graph), :mod:`.villages` (service area, village
polygons), :mod:`.arrays` (array form and cache), :mod:`.network` (``RoadNetwork``),
:mod:`.store` (PostGIS), :mod:`.importer` (orchestration).
"""

from maas.roads.network import (
    DEFAULT_SNAP_MAX_DISTANCE_M,
    UNREACHABLE_INT,
    RoadNetwork,
    Route,
    Snap,
    to_int_seconds,
)
from maas.roads.store import load_network, region_exists

__all__ = [
    "DEFAULT_SNAP_MAX_DISTANCE_M",
    "UNREACHABLE_INT",
    "RoadNetwork",
    "Route",
    "Snap",
    "load_network",
    "region_exists",
    "to_int_seconds",
]
