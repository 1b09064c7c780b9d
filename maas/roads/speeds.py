"""Which OSM ways a car may drive on, in which direction, and how fast.

Everything here is a pure function of a way's tags, so the rules can be tested without a file.

Rules (documented once, here):

* **Road classes** kept are the keys of :data:`DEFAULT_SPEEDS_KPH`: the motorway to tertiary
  hierarchy with their ``_link`` roads, ``unclassified``, ``residential``, ``living_street``,
  ``service`` and ``road``. Tracks, paths, footways, construction and the like are not roads a
  volunteer driver takes a rider along. ``area=yes`` (squares drawn as highways) is dropped.
* **Service roads** are kept, except ``service`` in :data:`EXCLUDED_SERVICE`: parking aisles,
  driveways, drive-throughs and emergency access. Parking aisles are excluded because they form
  dense meshes inside car parks that a snapped pick-up point would otherwise land in (the
  parking lot's access road is still kept, so a rider at a supermarket snaps to its entrance);
  driveways are private by nature.
* **Access** follows the OSM hierarchy: the most specific tag present among ``motorcar``,
  ``motor_vehicle``, ``vehicle`` and ``access`` decides. A way is drivable when that value is
  one of :data:`ALLOWED_ACCESS` (``yes``, ``permissive``, ``destination``, ``designated``,
  ``customers``...); ``no``, ``private``, ``agricultural``, ``forestry``, ``delivery`` and any
  unknown value exclude it. ``access=private`` + ``motor_vehicle=destination`` is therefore
  kept. Conditional restrictions (``access:conditional``) are ignored.
* **One-way**: ``oneway=yes|true|1`` forward, ``-1|reverse`` backward (the way is reversed),
  ``reversible|alternating`` excluded (direction changes with time of day), ``no`` two-way.
  Without an ``oneway`` tag, ``junction=roundabout|circular`` and ``highway=motorway|
  motorway_link`` imply one-way forward, as in OSM's conventions.
* **Speed**: ``maxspeed`` when it parses (see :func:`parse_maxspeed`), otherwise the class
  default. ``maxspeed:forward/backward`` and conditional limits are ignored, so both directions
  of a road get the same speed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

DEFAULT_SPEEDS_KPH: Final[Mapping[str, float]] = {
    "motorway": 120.0,
    "motorway_link": 60.0,
    "trunk": 100.0,
    "trunk_link": 50.0,
    "primary": 80.0,
    "primary_link": 50.0,
    "secondary": 70.0,
    "secondary_link": 50.0,
    "tertiary": 60.0,
    "tertiary_link": 40.0,
    "unclassified": 50.0,
    "road": 40.0,
    "residential": 30.0,
    "service": 20.0,
    "living_street": 7.0,
}
"""Speed in km/h assumed for a road class when ``maxspeed`` is missing or says ``none``.

The one table of default speeds. The values are typical *driven* speeds on German rural roads
rather than legal limits: a primary road outside towns is signed 100 km/h but mixes with
village through-roads at 50, so 80 is used; ``maxspeed=none`` on a motorway means "no limit"
and is driven at about 120 on average. ``living_street`` is walking pace (7 km/h, as in
``DE:living_street``). The keys of this table are also the set of road classes imported.
"""

ZONE_SPEEDS_KPH: Final[Mapping[str, float]] = {
    "urban": 50.0,
    "rural": 100.0,
    "living_street": 7.0,
    "walk": 7.0,
    "bicycle_road": 30.0,
}
"""Speeds for implicit limits such as ``DE:urban`` (the part after the country code)."""

EXCLUDED_SERVICE: Final[frozenset[str]] = frozenset(
    {"parking_aisle", "driveway", "drive-through", "emergency_access"}
)
"""``service=*`` values not imported (see the module docstring for why)."""

ALLOWED_ACCESS: Final[frozenset[str]] = frozenset(
    {"yes", "permissive", "destination", "designated", "customers", "official", "public"}
)
"""Access values that let a private car on a way."""

ACCESS_KEYS: Final[tuple[str, ...]] = ("motorcar", "motor_vehicle", "vehicle", "access")
"""Access tags from most to least specific: the first one present decides."""

EXCLUDED_ONEWAY: Final[frozenset[str]] = frozenset({"reversible", "alternating"})

_MPH_KPH: Final = 1.609344
_KNOT_KPH: Final = 1.852
_NUMBER_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$")
_ZONE_RE: Final = re.compile(r"^[A-Za-z]{2}:(?:zone:?)?(\d+)$")

FORWARD: Final = 1
BACKWARD: Final = -1
BOTH: Final = 0


def parse_maxspeed(value: str | None, highway: str) -> float:
    """The speed in km/h for a ``maxspeed`` value on a road of class ``highway``.

    Numbers are km/h unless followed by ``mph`` or ``knots``; ``DE:urban`` = 50, ``DE:rural`` =
    100, ``DE:living_street`` and ``walk`` = 7, ``DE:zone30`` = 30; ``none``, ``signals``,
    ``variable`` and anything unreadable give the class default. Of several values
    (``50;30``) the lowest is taken, the cautious choice for a travel-time estimate.
    """
    default = DEFAULT_SPEEDS_KPH.get(highway, DEFAULT_SPEEDS_KPH["road"])
    if not value:
        return default
    speeds = [s for s in (_parse_one_speed(part) for part in value.split(";")) if s]
    return min(speeds) if speeds else default


def _parse_one_speed(text: str) -> float | None:
    text = text.strip()
    match = _NUMBER_RE.match(text)
    if match:
        number = float(match.group(1))
        unit = match.group(2)
        if unit == "mph":
            number *= _MPH_KPH
        elif unit == "knots":
            number *= _KNOT_KPH
        return number if number > 0 else None
    zone = _ZONE_RE.match(text)
    if zone:
        return float(zone.group(1)) or None
    if text == "walk":
        return ZONE_SPEEDS_KPH["walk"]
    if ":" in text:
        return ZONE_SPEEDS_KPH.get(text.split(":", 1)[1])
    return None


def is_drivable(tags: Mapping[str, str]) -> bool:
    """Whether a way with these tags belongs to the drivable network (see module docstring)."""
    highway = tags.get("highway")
    if highway not in DEFAULT_SPEEDS_KPH:
        return False
    if tags.get("area") == "yes":
        return False
    if highway == "service" and tags.get("service") in EXCLUDED_SERVICE:
        return False
    if tags.get("oneway") in EXCLUDED_ONEWAY:
        return False
    return access_allows_car(tags)


def access_allows_car(tags: Mapping[str, str]) -> bool:
    """Whether the most specific access tag present lets a private car on."""
    for key in ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            return any(part.strip() in ALLOWED_ACCESS for part in value.split(";"))
    return True


def direction(tags: Mapping[str, str]) -> int:
    """:data:`FORWARD`, :data:`BACKWARD` (oneway against the way's direction) or :data:`BOTH`."""
    oneway = tags.get("oneway")
    if oneway in ("yes", "true", "1"):
        return FORWARD
    if oneway in ("-1", "reverse"):
        return BACKWARD
    if oneway is not None and oneway != "":
        # "no" and unknown values: two-way, the usual reading of an unclear tag.
        return BOTH
    if tags.get("junction") in ("roundabout", "circular"):
        return FORWARD
    if tags.get("highway") in ("motorway", "motorway_link"):
        return FORWARD
    return BOTH


def speed_kph(tags: Mapping[str, str]) -> float:
    """The travel speed of a drivable way in km/h."""
    return parse_maxspeed(tags.get("maxspeed"), tags.get("highway", "road"))
