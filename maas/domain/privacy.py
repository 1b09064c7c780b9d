"""Approximate positions: what one party of a ride sees of the other before it is confirmed.

A point is moved to the centre of its 300 m cell of a grid in EPSG:25832 (metres). Unlike
random noise, the same point always gives the same answer, so repeated requests cannot be
averaged to recover it, and neighbours in one cell are indistinguishable.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pyproj import Transformer

GRID_CELL_M = 300.0
METRIC_CRS = "EPSG:25832"


@lru_cache(maxsize=2)
def _transformers() -> tuple[Transformer, Transformer]:
    # Building a transformer takes milliseconds; every request needs one.
    forward = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    back = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    return forward, back


def approximate(lon: float, lat: float, *, cell_m: float = GRID_CELL_M) -> tuple[float, float]:
    """The centre of the grid cell that contains the point, as (lon, lat), 6 decimals."""
    forward, back = _transformers()
    x, y = forward.transform(lon, lat)
    cx = (math.floor(x / cell_m) + 0.5) * cell_m
    cy = (math.floor(y / cell_m) + 0.5) * cell_m
    alon, alat = back.transform(cx, cy)
    return round(alon, 6), round(alat, 6)
