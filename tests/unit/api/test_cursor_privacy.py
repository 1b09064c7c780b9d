"""Pagination cursors and approximate positions."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import pytest
from pyproj import Transformer

from maas.domain import cursor
from maas.domain.privacy import GRID_CELL_M, approximate
from maas.errors import InputError


def test_cursor_round_trip() -> None:
    stamp = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    row = uuid.uuid4()
    text = cursor.encode(stamp, row)
    assert "=" not in text
    assert cursor.decode(text) == (stamp, row)


@pytest.mark.parametrize("bad", ["", "zzz", "W10", cursor.encode.__name__, "WyJ4IiwieSJd"])
def test_foreign_cursors_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError) as caught:
        cursor.decode(bad)
    assert caught.value.field == "cursor"


def _metric(lon: float, lat: float) -> tuple[float, float]:
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(lon, lat)
    return float(x), float(y)


def test_approximate_is_the_centre_of_the_300m_cell() -> None:
    lon, lat = 8.864753, 48.594337
    alon, alat = approximate(lon, lat)
    x, y = _metric(lon, lat)
    ax, ay = _metric(alon, alat)
    # The shown point is the centre of the cell the real point lies in (to rounding).
    assert math.isclose(ax % GRID_CELL_M, GRID_CELL_M / 2, abs_tol=0.5)
    assert math.isclose(ay % GRID_CELL_M, GRID_CELL_M / 2, abs_tol=0.5)
    assert math.floor(x / GRID_CELL_M) == math.floor(ax / GRID_CELL_M)
    assert math.floor(y / GRID_CELL_M) == math.floor(ay / GRID_CELL_M)
    assert math.hypot(ax - x, ay - y) <= GRID_CELL_M / math.sqrt(2) + 1


def test_approximate_is_deterministic_and_shared_within_a_cell() -> None:
    assert approximate(8.86, 48.59) == approximate(8.86, 48.59)
    x, y = _metric(8.86, 48.59)
    base = (math.floor(x / 300) * 300 + 10, math.floor(y / 300) * 300 + 10)
    back = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    a = back.transform(*base)
    b = back.transform(base[0] + 280, base[1] + 280)
    assert approximate(*a) == approximate(*b)
