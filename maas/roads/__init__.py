"""The road network: OSM import, PostGIS storage, cached graph, snapping, matrices and routes.

Public API used by the service and the matching library:

* :func:`load_network` (``maas.roads.store``) — the region's :class:`RoadNetwork` at start-up;
* :class:`RoadNetwork` with :meth:`~RoadNetwork.snap`, :meth:`~RoadNetwork.snap_many`,
  :meth:`~RoadNetwork.travel_time_matrix`, :meth:`~RoadNetwork.route`;
* :class:`Snap`, :class:`Route`, :func:`to_int_seconds`, :data:`UNREACHABLE_INT`;
* ``maas.roads.importer.import_osm`` for ``python -m maas import-osm``.
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
