"""Helpers shared by the repositories: points, keyset pages and list filters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import shapely
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry

from maas.domain.models import Point

T = TypeVar("T")


def from_json(value: Any) -> Any:
    """A jsonb value as Python data (asyncpg hands jsonb over as text)."""
    return json.loads(value) if isinstance(value, str) else value


def to_geom(point: Point) -> BaseGeometry:
    """A shapely point with SRID 4326 for the geometry codec."""
    return shapely.set_srid(ShapelyPoint(point.lon, point.lat), 4326)


def from_geom(geom: Any) -> Point:
    return Point(float(geom.x), float(geom.y))


def maybe_point(geom: Any) -> Point | None:
    return None if geom is None else from_geom(geom)


def bbox_geom(bbox: tuple[float, float, float, float] | None) -> BaseGeometry | None:
    if bbox is None:
        return None
    return shapely.set_srid(shapely.box(*bbox), 4326)


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What every list endpoint can narrow by; ``None`` means "no restriction"."""

    limit: int = 50
    after: tuple[datetime, uuid.UUID] | None = None
    community_id: uuid.UUID | None = None
    status: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None

    def keyset(self) -> tuple[datetime | None, uuid.UUID | None]:
        return self.after if self.after is not None else (None, None)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and whether another follows."""

    items: Sequence[T]
    has_more: bool


def page_of(items: list[T], limit: int) -> Page[T]:
    # The queries fetch one row more than asked, to know whether a next page exists.
    return Page(items[:limit], len(items) > limit)
