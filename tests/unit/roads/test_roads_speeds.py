"""Tag rules: which ways are drivable, their direction and speed."""

from __future__ import annotations

import pytest

from maas.roads import speeds


@pytest.mark.parametrize(
    ("value", "highway", "expected"),
    [
        ("50", "primary", 50.0),
        ("30 km/h", "residential", 30.0),
        ("50 mph", "primary", 50 * 1.609344),
        ("DE:urban", "primary", 50.0),
        ("DE:rural", "secondary", 100.0),
        ("DE:living_street", "living_street", 7.0),
        ("DE:zone30", "residential", 30.0),
        ("DE:zone:30", "residential", 30.0),
        ("walk", "service", 7.0),
        ("none", "motorway", speeds.DEFAULT_SPEEDS_KPH["motorway"]),
        ("signals", "trunk", speeds.DEFAULT_SPEEDS_KPH["trunk"]),
        ("50;30", "tertiary", 30.0),
        ("0", "tertiary", speeds.DEFAULT_SPEEDS_KPH["tertiary"]),
        ("fast", "tertiary", speeds.DEFAULT_SPEEDS_KPH["tertiary"]),
        (None, "residential", speeds.DEFAULT_SPEEDS_KPH["residential"]),
    ],
)
def test_maxspeed_parsing(value: str | None, highway: str, expected: float) -> None:
    assert speeds.parse_maxspeed(value, highway) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tags", "drivable"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "motorway_link"}, True),
        ({"highway": "road"}, True),
        ({"highway": "track"}, False),
        ({"highway": "footway"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "service"}, True),
        ({"highway": "service", "service": "alley"}, True),
        ({"highway": "service", "service": "parking_aisle"}, False),
        ({"highway": "service", "service": "driveway"}, False),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "residential", "access": "no"}, False),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, True),
        ({"highway": "residential", "access": "private", "motorcar": "destination"}, True),
        ({"highway": "residential", "access": "destination"}, True),
        ({"highway": "residential", "access": "yes", "motor_vehicle": "no"}, False),
        ({"highway": "residential", "motor_vehicle": "agricultural"}, False),
        ({"highway": "residential", "motorcar": "no", "motor_vehicle": "yes"}, False),
        ({"highway": "residential", "oneway": "reversible"}, False),
        ({"highway": "pedestrian", "motor_vehicle": "yes"}, False),
        ({"highway": "living_street", "area": "yes"}, False),
    ],
)
def test_drivable(tags: dict[str, str], drivable: bool) -> None:
    assert speeds.is_drivable(tags) is drivable


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "residential"}, speeds.BOTH),
        ({"highway": "residential", "oneway": "yes"}, speeds.FORWARD),
        ({"highway": "residential", "oneway": "1"}, speeds.FORWARD),
        ({"highway": "residential", "oneway": "-1"}, speeds.BACKWARD),
        ({"highway": "residential", "oneway": "no"}, speeds.BOTH),
        ({"highway": "primary", "junction": "roundabout"}, speeds.FORWARD),
        ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, speeds.BOTH),
        ({"highway": "motorway"}, speeds.FORWARD),
        ({"highway": "motorway", "oneway": "no"}, speeds.BOTH),
    ],
)
def test_direction(tags: dict[str, str], expected: int) -> None:
    assert speeds.direction(tags) == expected


def test_every_default_speed_is_positive() -> None:
    assert all(v > 0 for v in speeds.DEFAULT_SPEEDS_KPH.values())
