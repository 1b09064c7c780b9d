"""Unit tests of the demand generator (maas.demand) on the demo region, without a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from shapely.geometry import MultiPolygon, Point, box

from maas.demand import (
    DemandDay,
    DemandParams,
    GeneratedOffer,
    GeneratedRequest,
    Purpose,
    generate_day,
    place_weights,
)
from maas.roads import arrays as arr
from maas.roads.importer import build_region
from maas.roads.network import RoadNetwork
from maas.roads.villages import Village
from maas.settings import PROJECT_DIR
from matching import default_max_ride_s

DEMO_PBF = PROJECT_DIR / "data" / "demo" / "herrenberg.osm.pbf"
SIZE = 200


@dataclass(frozen=True)
class Region:
    network: RoadNetwork
    villages: list[Village]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    """The demo region's network (cache in a temporary directory) and villages."""
    built = build_region(DEMO_PBF)
    graph = built.graph
    nodes = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    arrays, highways = arr.build_arrays(nodes, arr.edge_records_from_graph(graph))
    path: Path = tmp_path_factory.mktemp("demand-cache") / "roads-demand"
    meta = {"region": "herrenberg", "import_id": "test", "highways": highways}
    arr.write_cache(path, arrays, meta, built.service_area)
    return Region(RoadNetwork.open(path), built.villages)


@pytest.fixture(scope="module")
def day(region: Region) -> DemandDay:
    return generate_day(region.network, region.villages, DemandParams(num_requests=SIZE), seed=7)


def _key(r: GeneratedRequest) -> tuple[object, ...]:
    return (
        r.id,
        r.person_id,
        r.purpose,
        r.origin.lon,
        r.origin.lat,
        r.destination.lon,
        r.destination.lat,
        r.earliest_departure,
        r.latest_arrival,
        r.passengers,
        r.needs,
    )


def test_same_seed_same_day(region: Region, day: DemandDay) -> None:
    again = generate_day(region.network, region.villages, DemandParams(num_requests=SIZE), seed=7)
    assert [_key(r) for r in again.requests] == [_key(r) for r in day.requests]
    assert again.offers == day.offers


def test_other_seed_other_day(region: Region, day: DemandDay) -> None:
    other = generate_day(region.network, region.villages, DemandParams(num_requests=SIZE), seed=8)
    assert [_key(r) for r in other.requests] != [_key(r) for r in day.requests]


def test_counts(region: Region, day: DemandDay) -> None:
    assert len(day.requests) == SIZE
    assert len(day.offers) == round(0.4 * SIZE)
    assert len({r.id for r in day.requests}) == SIZE
    assert len({o.id for o in day.offers}) == len(day.offers)
    small = generate_day(
        region.network, region.villages, DemandParams(num_requests=7, offers_per_request=0.5)
    )
    assert (len(small.requests), len(small.offers)) == (7, 4)
    empty = generate_day(region.network, region.villages, DemandParams(num_requests=0))
    assert empty.requests == ()
    assert empty.offers == ()


def test_mix_of_purposes_and_people(day: DemandDay) -> None:
    purposes = {r.purpose for r in day.requests}
    assert {Purpose.COMMUTE, Purpose.ERRAND, Purpose.VILLAGE} <= purposes
    assert {Purpose.COMMUTE_HOME, Purpose.ERRAND_HOME} <= purposes
    assert all(r.origin.village != r.destination.village for r in day.requests)
    assert {r.passengers for r in day.requests} <= {1, 2}
    assert sum(r.passengers == 1 for r in day.requests) > 0.7 * SIZE
    riders = {r.person_id for r in day.requests}
    assert riders.isdisjoint(o.person_id for o in day.offers)
    assert all(1 <= o.seats <= 4 for o in day.offers)
    assert {r.origin.village for r in day.requests} >= {"Herrenberg", "Nagold", "Gärtringen"}


def test_request_time_windows_are_sane(day: DemandDay) -> None:
    midnight = day.midnight
    for r in day.requests:
        assert r.max_ride_s == default_max_ride_s(round(r.direct_s))
        assert r.direct_s > 0
        for t in (r.earliest_departure, r.latest_arrival):
            assert midnight + timedelta(hours=4) <= t <= midnight + timedelta(hours=21)
        # The rider can make the trip alone inside the window.
        assert r.latest_arrival - r.earliest_departure >= timedelta(seconds=r.direct_s)
        if r.latest_departure is None:  # anchored at the arrival
            assert r.earliest_arrival is not None
            width = r.latest_arrival - r.earliest_arrival
            assert r.earliest_arrival - r.earliest_departure == timedelta(seconds=r.max_ride_s)
        else:  # anchored at the departure
            assert r.earliest_arrival is None
            width = r.latest_departure - r.earliest_departure
            assert r.latest_arrival - r.latest_departure == timedelta(seconds=r.max_ride_s)
        assert timedelta(minutes=30) <= width <= timedelta(minutes=60)
    by_person: dict[str, list[GeneratedRequest]] = {}
    for r in day.requests:
        by_person.setdefault(r.person_id, []).append(r)
    for trips in by_person.values():
        if len(trips) == 2:
            out, back = trips
            assert back.origin == out.destination
            assert back.destination == out.origin
            assert back.earliest_departure > out.earliest_departure
    commutes = [r for r in day.requests if r.purpose is Purpose.COMMUTE]
    assert all(day.seconds(r.latest_arrival) <= 9 * 3600 for r in commutes)


def test_offer_time_windows_are_sane(day: DemandDay) -> None:
    for o in day.offers:
        assert o.earliest_departure < o.latest_departure
        width = o.latest_departure - o.earliest_departure
        assert timedelta(minutes=10) <= width <= timedelta(minutes=40)
        assert o.latest_arrival - o.latest_departure == timedelta(
            seconds=round(o.direct_s) + o.detour_budget_s
        )
        assert 0 <= o.detour_budget_s <= o.max_detour_s
    defaults = sum(o.max_detour_s == 900 and o.max_detour_pct == 50.0 for o in day.offers)
    assert 0.4 * len(day.offers) <= defaults < len(day.offers)


def test_all_points_snap(region: Region, day: DemandDay) -> None:
    params = day.params
    polygons = {v.name: v.geometry for v in region.villages}
    trips: list[GeneratedRequest | GeneratedOffer] = [*day.requests, *day.offers]
    addresses = [a for t in trips for a in (t.origin, t.destination)]
    for a in addresses:
        assert a.snap.distance_m <= params.snap_max_distance_m
        assert polygons[a.village].buffer(1e-6).contains(Point(a.lon, a.lat))
    again = region.network.snap_many([(a.lon, a.lat) for a in addresses])
    assert [s.edge for s in again] == [a.snap.edge for a in addresses]


def test_needs_and_features_appear(region: Region) -> None:
    big = generate_day(region.network, region.villages, DemandParams(num_requests=600), seed=3)
    needs = [r.needs for r in big.requests if r.needs]
    features = [o.features for o in big.offers if o.features]
    assert 0 < len(needs) < 0.1 * len(big.requests)
    assert 0 < len(features) < 0.3 * len(big.offers)
    assert any("wheelchair" in f for f in features)


def test_place_weights_split_shared_population() -> None:
    def village(name: str, kind: str, population: int | None) -> Village:
        return Village(
            "node", 1, name, kind, population, Point(0, 0), MultiPolygon([box(0, 0, 1, 1)]), "x"
        )

    weights = place_weights(
        [
            village("A", "village", 900),
            village("B", "suburb", 900),
            village("C", "town", 20000),
            village("D", "hamlet", None),
        ]
    )
    assert weights.tolist() == [450.0, 450.0, 20000.0, 100.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_requests": -1}, "num_requests"),
        ({"num_requests": 1, "return_share": 1.5}, "return_share"),
        ({"num_requests": 1, "window_min": (30, 15)}, "window_min"),
        ({"num_requests": 1, "timezone": "Mars/Olympus"}, "timezone"),
        ({"num_requests": 1, "ride_factor": 0.5}, "ride_factor"),
    ],
)
def test_params_validate(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DemandParams(**kwargs)  # type: ignore[arg-type]
