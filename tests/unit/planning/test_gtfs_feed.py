"""Reading and checking a GTFS feed: the bundled one is read whole; a broken one is refused
with one line naming the file, the line and the field."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest
from support.gtfs_feeds import BUS_781, altered_feed, read_member

from maas.gtfs.feed import read_feed
from maas.gtfs.importer import TimetableReport, feed_name
from maas.meeting_point_import import ImportFileError


def test_the_bundled_town_bus_is_read_whole() -> None:
    feed = read_feed(BUS_781)
    assert feed.timezone == "Europe/Berlin"
    assert (len(feed.stops), len(feed.routes), len(feed.trips), len(feed.stop_times)) == (
        9,
        1,
        18,
        180,
    )
    assert feed.routes[0].short_name == "781"
    assert feed.service_period == (date(2020, 4, 27), date(2020, 12, 12))
    assert feed.max_time_s == 20 * 3600 + 41 * 60  # the last trip ends at 20:41
    assert len(feed.exceptions) == 93
    assert not any(feed.exceptions.values())  # all removals
    assert len(feed.sha256) == 64
    assert feed_name(BUS_781) == "only-bronntor-bus-stop"


def _first_stop_time_line() -> str:
    return read_member(BUS_781, "stop_times.txt").splitlines()[1]


BROKEN: list[tuple[str, dict[str, object], str]] = [
    ("a missing file", {"drop": ("trips.txt",)}, "no trips.txt in the GTFS zip"),
    (
        "no calendar at all",
        {"drop": ("calendar.txt", "calendar_dates.txt")},
        "neither calendar.txt nor calendar_dates.txt",
    ),
    (
        "an unknown time zone",
        {"replace": {"agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                                   "1,VVS,http://www.vvs.de,Europe/Herrenberg\n"}},
        "agency.txt line 2: agency_timezone 'Europe/Herrenberg' is not a known time zone",
    ),
    (
        "two time zones",
        {"append": {"agency.txt": "2,X,http://x.example,Europe/London,EN,\n"}},
        "agency.txt: agency_timezone differs between agencies",
    ),
    (
        "a bad stop time",
        {"append": {"stop_times.txt": _first_stop_time_line().replace("09:19:00,09:19:00",
                                                                      "09:19:00,9:7x:00")
                    .replace(",1,Porsche", ",11,Porsche")}},
        "stop_times.txt line 182: departure_time: '9:7x:00' is not a GTFS time",
    ),
    (
        "a stop time at an unknown stop",
        {"append": {"stop_times.txt": _first_stop_time_line().replace("de:08115:4512:5:F",
                                                                      "de:nowhere")}},
        "stop_times.txt line 182: stop_id 'de:nowhere' is not a stop with a position",
    ),
    (
        "a stop_sequence used twice",
        {"append": {"stop_times.txt": _first_stop_time_line()}},
        "stop_times.txt line 182: trip '1.T0.31-781-j20-1.1.H' has stop_sequence 1 twice",
    ),
    (
        "a trip going back in time",
        {"append": {"stop_times.txt": _first_stop_time_line().replace(",1,Porsche",
                                                                      ",11,Porsche")}},
        "stop_times.txt line 182: arrival_time goes back in time along trip",
    ),
    (
        "a trip of an unknown service",
        {"replace": {"calendar_dates.txt": "service_id,date,exception_type\n"},
         "drop": ("calendar.txt",)},
        "trips.txt line 2: service_id 'T0#122' is in neither calendar.txt nor calendar_dates.txt",
    ),
    (
        "a bad calendar date",
        {"append": {"calendar_dates.txt": "T0#122,20201301,2\n"}},
        "calendar_dates.txt line 95: date: '20201301' is not a GTFS date",
    ),
    (
        "a bad exception type",
        {"append": {"calendar_dates.txt": "T0#122,20201201,3\n"}},
        "calendar_dates.txt line 95: exception_type must be 1 (added) or 2 (removed)",
    ),
    (
        "a weekday flag that is not 0 or 1",
        {"replace": {"calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,"
                                     "saturday,sunday,start_date,end_date\n"
                                     "T0#122,1,1,1,1,yes,0,0,20200427,20201212\n"}},
        "calendar.txt line 2: friday must be 0 or 1",
    ),
    (
        "a stop without a position",
        {"append": {"stops.txt": "x,Nowhere,,\n"}},
        "stops.txt line 11: stop_lat/stop_lon is not a position",
    ),
    (
        "a route without a name",
        {"append": {"routes.txt": "1,r2,,,3,,,\n"}},
        "routes.txt line 3: route_short_name and route_long_name are both empty",
    ),
    (
        "a trip of an unknown route",
        {"append": {"trips.txt": "nope,t-x,T0#122,,0,,0.0,0\n"}},
        "trips.txt line 20: route_id 'nope' is not in routes.txt",
    ),
    (
        "a missing column",
        {"replace": {"trips.txt": "route_id,trip_id\n31-781-j20-1,x\n"}},
        "trips.txt: lacks the column(s) service_id",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("alteration", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_a_broken_feed_is_refused_naming_file_line_and_field(
    tmp_path: Path, alteration: dict[str, object], message: str
) -> None:
    path = altered_feed(tmp_path / "broken.zip", **alteration)  # type: ignore[arg-type]
    with pytest.raises(ImportFileError, match=re.escape(message)) as error:
        read_feed(path)
    assert str(error.value).startswith(f"{path}: ")
    assert "\n" not in str(error.value)


def test_trips_by_headway_become_one_trip_per_run(tmp_path: Path) -> None:
    template = "1.T0.31-781-j20-1.1.H"  # ZOB 09:19, Bronntor 09:21, …, ZOB 09:31
    frequencies = f"trip_id,start_time,end_time,headway_secs\n{template},24:00:00,25:00:00,1200\n"
    feed = read_feed(altered_feed(tmp_path / "f.zip", replace={"frequencies.txt": frequencies}))
    runs = sorted(t.trip_id for t in feed.trips if t.trip_id.startswith(template))
    assert runs == [f"{template}@{s}" for s in (86400, 87600, 88800)]  # the template is gone
    assert len(feed.trips) == 18 - 1 + 3
    bronntor = {
        st.trip_id: st.departure_s
        for st in feed.stop_times
        if st.trip_id in runs and st.stop_sequence == 2
    }
    assert bronntor == {runs[0]: 86400 + 120, runs[1]: 87600 + 120, runs[2]: 88800 + 120}
    assert feed.max_time_s == 88800 + 12 * 60  # the last run leaves at 24:40, ends at 24:52


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("nope,10:00:00,11:00:00,600", "frequencies.txt line 2: trip_id 'nope' is not in trips"),
        ("1.T0.31-781-j20-1.1.H,10:00:00,11:00:00,0", "line 2: headway_secs must be positive"),
        ("1.T0.31-781-j20-1.1.H,10:00,11:00:00,600", "line 2: start_time: '10:00' is not a GTFS"),
        ("1.T0.31-781-j20-1.1.H,11:00:00,10:00:00,600", "line 2: end_time is before start_time"),
    ],
)
def test_a_broken_headway_is_refused(tmp_path: Path, row: str, message: str) -> None:
    text = "trip_id,start_time,end_time,headway_secs\n" + row + "\n"
    path = altered_feed(tmp_path / "f.zip", replace={"frequencies.txt": text})
    with pytest.raises(ImportFileError, match=re.escape(message)):
        read_feed(path)


def test_not_a_zip(tmp_path: Path) -> None:
    text = tmp_path / "feed.zip"
    text.write_text("stop_id,stop_name\n")
    with pytest.raises(ImportFileError, match="not a readable GTFS zip"):
        read_feed(text)
    with pytest.raises(ImportFileError, match="not a readable GTFS zip"):
        read_feed(tmp_path / "missing.zip")


def test_stop_times_without_a_time_and_without_pickup_are_kept_but_marked(tmp_path: Path) -> None:
    header, *rows = read_member(BUS_781, "stop_times.txt").splitlines()
    # On the first trip: Bronntor (sequence 2) has no time (not a timepoint); Benzstraße
    # (sequence 3) lets people off but not on (pickup_type 1).
    rows[1] = rows[1].replace("09:21:00,09:21:00", ",")
    pickup = ["0"] * len(rows)
    pickup[2] = "1"
    lines = [f"{r},{p}" for r, p in zip(rows, pickup, strict=True)]
    text = "\n".join([header + ",pickup_type", *lines])
    feed = read_feed(altered_feed(tmp_path / "f.zip", replace={"stop_times.txt": text + "\n"}))
    first = {
        st.stop_sequence: st for st in feed.stop_times if st.trip_id == "1.T0.31-781-j20-1.1.H"
    }
    assert (first[2].arrival_s, first[2].departure_s) == (None, None)
    assert not first[3].pickup
    assert first[3].drop_off
    assert first[4].pickup
    assert first[4].departure_s == 9 * 3600 + 23 * 60


def test_the_import_report_warns_about_a_feed_that_has_ended() -> None:
    report = TimetableReport(
        name="781",
        region="herrenberg",
        stops=9,
        stops_inside=9,
        routes=1,
        trips=18,
        stop_times=180,
        service_from=date(2020, 4, 27),
        service_until=date(2020, 12, 12),
        timezone="Europe/Berlin",
        replaced=False,
        today=date(2020, 12, 13),
    )
    assert str(report).endswith(
        "service 2020-04-27 to 2020-12-12 (Europe/Berlin); its service ended on 2020-12-12: "
        "no bus is found for later days"
    )
    running = dataclasses.replace(report, today=date(2020, 12, 12))
    assert str(running).endswith("service 2020-04-27 to 2020-12-12 (Europe/Berlin)")
