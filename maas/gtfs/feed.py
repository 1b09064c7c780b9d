"""Read and check a GTFS feed (.zip) before anything is stored.

Everything the "next bus connection" needs is read: ``agency.txt`` (the time zone), ``stops.txt``,
``routes.txt``, ``trips.txt``, ``stop_times.txt``, ``calendar.txt`` and/or
``calendar_dates.txt``, and ``frequencies.txt`` if there is one (each run of a trip defined by
headways becomes a trip of its own). The first problem found raises :class:`ImportFileError`
with one line naming the file, the line and the field; a feed that fails is never partly
stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maas.gtfs.timetable import ServiceCalendar, parse_date, parse_time
from maas.meeting_point_import import ImportFileError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# location_type 3 (generic node) and 4 (boarding area) may lack a position; nobody boards there.
_POSITIONLESS_TYPES = frozenset({"3", "4"})


@dataclass(frozen=True, slots=True)
class Stop:
    stop_id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    short_name: str
    long_name: str
    route_type: int


@dataclass(frozen=True, slots=True)
class Trip:
    trip_id: str
    route_id: str
    service_id: str
    headsign: str | None


@dataclass(frozen=True, slots=True)
class StopTime:
    trip_id: str
    stop_sequence: int
    stop_id: str
    arrival_s: int | None
    departure_s: int | None
    pickup: bool
    drop_off: bool


@dataclass
class Feed:
    """A checked feed, ready to store."""

    path: Path
    sha256: str
    timezone: str
    stops: list[Stop] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)
    stop_times: list[StopTime] = field(default_factory=list)
    calendars: dict[str, ServiceCalendar] = field(default_factory=dict)
    exceptions: dict[tuple[str, date], bool] = field(default_factory=dict)

    @property
    def max_time_s(self) -> int:
        return max(
            (t for st in self.stop_times for t in (st.arrival_s, st.departure_s) if t is not None),
            default=0,
        )

    @property
    def service_period(self) -> tuple[date | None, date | None]:
        days = [d for c in self.calendars.values() for d in (c.start, c.end)]
        days += [d for (_, d), added in self.exceptions.items() if added]
        return (min(days), max(days)) if days else (None, None)


class _Table:
    """One text file of the zip: its rows with line numbers, and errors that name them."""

    def __init__(self, path: Path, name: str, text: str) -> None:
        self.path, self.name = path, name
        self.reader = csv.DictReader(io.StringIO(text))
        self.columns = {(c or "").strip() for c in (self.reader.fieldnames or ())}

    def error(self, message: str, line: int | None = None) -> ImportFileError:
        where = f"{self.name} line {line}" if line is not None else self.name
        return ImportFileError(f"{self.path}: {where}: {message}")

    def require_columns(self, *columns: str) -> None:
        missing = set(columns) - self.columns
        if missing:
            raise self.error(f"lacks the column(s) {', '.join(sorted(missing))}")

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for line, row in enumerate(self.reader, start=2):
                yield line, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        except csv.Error as exc:
            raise self.error(f"is not valid CSV ({exc})") from None

    def value(self, row: dict[str, str], column: str, line: int) -> str:
        value = row.get(column, "")
        if not value:
            raise self.error(f"{column} is empty", line)
        return value


def read_feed(path: Path) -> Feed:
    """The checked feed; :class:`ImportFileError` naming file, line and field if it is broken."""
    try:
        data = path.read_bytes()
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = {n.rsplit("/", 1)[-1]: n for n in archive.namelist()}
        texts: dict[str, str] = {}
        for name in (
            "agency.txt",
            "stops.txt",
            "routes.txt",
            "trips.txt",
            "stop_times.txt",
            "calendar.txt",
            "calendar_dates.txt",
            "frequencies.txt",
        ):
            if name in names:
                try:
                    texts[name] = archive.read(names[name]).decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise ImportFileError(f"{path}: {name}: is not UTF-8") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFileError(f"{path}: not a readable GTFS zip ({exc})") from exc
    for name in ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt"):
        if name not in texts:
            raise ImportFileError(f"{path}: no {name} in the GTFS zip")
    if "calendar.txt" not in texts and "calendar_dates.txt" not in texts:
        raise ImportFileError(
            f"{path}: neither calendar.txt nor calendar_dates.txt in the GTFS zip"
        )

    def table(name: str) -> _Table:
        return _Table(path, name, texts[name])

    feed = Feed(path, hashlib.sha256(data).hexdigest(), _timezone(table("agency.txt")))
    _read_calendars(feed, texts, table)
    _read_stops(feed, table("stops.txt"))
    _read_routes(feed, table("routes.txt"))
    _read_trips(feed, table("trips.txt"))
    _read_stop_times(feed, table("stop_times.txt"))
    if "frequencies.txt" in texts:
        _expand_frequencies(feed, table("frequencies.txt"))
    return feed


def _timezone(agency: _Table) -> str:
    agency.require_columns("agency_timezone")
    zones = set()
    for line, row in agency.rows():
        zone = agency.value(row, "agency_timezone", line)
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise agency.error(f"agency_timezone {zone!r} is not a known time zone", line) from None
        zones.add(zone)
    if not zones:
        raise agency.error("has no agency")
    if len(zones) > 1:
        raise agency.error(f"agency_timezone differs between agencies ({', '.join(sorted(zones))})")
    return zones.pop()


def _read_calendars(feed: Feed, texts: dict[str, str], table: Callable[[str], _Table]) -> None:
    if "calendar.txt" in texts:
        cal = table("calendar.txt")
        cal.require_columns("service_id", *WEEKDAYS, "start_date", "end_date")
        for line, row in cal.rows():
            sid = cal.value(row, "service_id", line)
            if sid in feed.calendars:
                raise cal.error(f"service_id {sid!r} appears twice", line)
            flags = []
            for day in WEEKDAYS:
                if row.get(day) not in ("0", "1"):
                    raise cal.error(f"{day} must be 0 or 1", line)
                flags.append(row[day] == "1")
            try:
                start = parse_date(cal.value(row, "start_date", line))
            except ValueError as exc:
                raise cal.error(f"start_date: {exc}", line) from None
            try:
                end = parse_date(cal.value(row, "end_date", line))
            except ValueError as exc:
                raise cal.error(f"end_date: {exc}", line) from None
            if end < start:
                raise cal.error("end_date is before start_date", line)
            feed.calendars[sid] = ServiceCalendar(
                (flags[0], flags[1], flags[2], flags[3], flags[4], flags[5], flags[6]), start, end
            )
    if "calendar_dates.txt" in texts:
        dates = table("calendar_dates.txt")
        dates.require_columns("service_id", "date", "exception_type")
        for line, row in dates.rows():
            sid = dates.value(row, "service_id", line)
            try:
                when = parse_date(dates.value(row, "date", line))
            except ValueError as exc:
                raise dates.error(f"date: {exc}", line) from None
            kind = row.get("exception_type")
            if kind not in ("1", "2"):
                raise dates.error("exception_type must be 1 (added) or 2 (removed)", line)
            if (sid, when) in feed.exceptions:
                raise dates.error(f"service_id {sid!r} has the date {when} twice", line)
            feed.exceptions[(sid, when)] = kind == "1"


def _read_stops(feed: Feed, stops: _Table) -> None:
    stops.require_columns("stop_id")
    seen: set[str] = set()
    for line, row in stops.rows():
        stop_id = stops.value(row, "stop_id", line)
        if stop_id in seen:
            raise stops.error(f"stop_id {stop_id!r} appears twice", line)
        seen.add(stop_id)
        if row.get("location_type", "") in _POSITIONLESS_TYPES and not row.get("stop_lat"):
            continue
        try:
            lat, lon = float(row.get("stop_lat", "")), float(row.get("stop_lon", ""))
        except ValueError:
            raise stops.error("stop_lat/stop_lon is not a position", line) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise stops.error("stop_lat/stop_lon is not a WGS84 position", line)
        feed.stops.append(Stop(stop_id, row.get("stop_name") or stop_id, lon, lat))


def _read_routes(feed: Feed, routes: _Table) -> None:
    routes.require_columns("route_id", "route_type")
    seen: set[str] = set()
    for line, row in routes.rows():
        route_id = routes.value(row, "route_id", line)
        if route_id in seen:
            raise routes.error(f"route_id {route_id!r} appears twice", line)
        seen.add(route_id)
        short, long = row.get("route_short_name", ""), row.get("route_long_name", "")
        if not (short or long):
            raise routes.error("route_short_name and route_long_name are both empty", line)
        try:
            route_type = int(routes.value(row, "route_type", line))
        except ValueError:
            raise routes.error("route_type is not a number", line) from None
        feed.routes.append(Route(route_id, short, long, route_type))


def _read_trips(feed: Feed, trips: _Table) -> None:
    trips.require_columns("route_id", "service_id", "trip_id")
    routes = {r.route_id for r in feed.routes}
    services = set(feed.calendars) | {sid for sid, _ in feed.exceptions}
    seen: set[str] = set()
    for line, row in trips.rows():
        trip_id = trips.value(row, "trip_id", line)
        if trip_id in seen:
            raise trips.error(f"trip_id {trip_id!r} appears twice", line)
        seen.add(trip_id)
        route_id = trips.value(row, "route_id", line)
        if route_id not in routes:
            raise trips.error(f"route_id {route_id!r} is not in routes.txt", line)
        service_id = trips.value(row, "service_id", line)
        if service_id not in services:
            raise trips.error(
                f"service_id {service_id!r} is in neither calendar.txt nor calendar_dates.txt",
                line,
            )
        feed.trips.append(Trip(trip_id, route_id, service_id, row.get("trip_headsign") or None))


def _read_stop_times(feed: Feed, times: _Table) -> None:
    times.require_columns("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time")
    trips = {t.trip_id for t in feed.trips}
    stops = {s.stop_id for s in feed.stops}
    by_trip: dict[str, dict[int, tuple[int, StopTime]]] = {}
    for line, row in times.rows():
        trip_id = times.value(row, "trip_id", line)
        if trip_id not in trips:
            raise times.error(f"trip_id {trip_id!r} is not in trips.txt", line)
        stop_id = times.value(row, "stop_id", line)
        if stop_id not in stops:
            raise times.error(f"stop_id {stop_id!r} is not a stop with a position", line)
        try:
            sequence = int(times.value(row, "stop_sequence", line))
        except ValueError:
            raise times.error("stop_sequence is not a whole number", line) from None
        if sequence < 0:
            raise times.error("stop_sequence is negative", line)
        parsed: dict[str, int | None] = {}
        for column in ("arrival_time", "departure_time"):
            try:
                parsed[column] = parse_time(row[column]) if row.get(column) else None
            except ValueError as exc:
                raise times.error(f"{column}: {exc}", line) from None
        arrival = (
            parsed["arrival_time"]
            if parsed["arrival_time"] is not None
            else parsed["departure_time"]
        )
        departure = parsed["departure_time"] if parsed["departure_time"] is not None else arrival
        if arrival is not None and departure is not None and departure < arrival:
            raise times.error("departure_time is before arrival_time", line)
        flags = {}
        for column in ("pickup_type", "drop_off_type"):
            value = row.get(column, "")
            if value not in ("", "0", "1", "2", "3"):
                raise times.error(f"{column} must be 0, 1, 2 or 3", line)
            flags[column] = value != "1"
        stop_times = by_trip.setdefault(trip_id, {})
        if sequence in stop_times:
            raise times.error(f"trip {trip_id!r} has stop_sequence {sequence} twice", line)
        stop_times[sequence] = (
            line,
            StopTime(
                trip_id, sequence, stop_id, arrival, departure,
                flags["pickup_type"], flags["drop_off_type"],
            ),
        )  # fmt: skip
    if not by_trip:
        raise times.error("has no stop times")
    for trip_id, stop_times in by_trip.items():
        last: int | None = None
        for sequence in sorted(stop_times):
            line, st = stop_times[sequence]
            if st.arrival_s is not None and last is not None and st.arrival_s < last:
                raise times.error(f"arrival_time goes back in time along trip {trip_id!r}", line)
            if st.departure_s is not None:
                last = st.departure_s
            feed.stop_times.append(st)


def _expand_frequencies(feed: Feed, frequencies: _Table) -> None:
    """Trips defined by headways run every ``headway_secs`` from ``start_time`` until before
    ``end_time``; their stop times only give the times relative to the first stop. Each run
    becomes a trip of its own (``<trip_id>@<seconds>``); the template does not run itself."""
    frequencies.require_columns("trip_id", "start_time", "end_time", "headway_secs")
    trips = {t.trip_id: t for t in feed.trips}
    runs: dict[str, list[int]] = {}
    for line, row in frequencies.rows():
        trip_id = frequencies.value(row, "trip_id", line)
        if trip_id not in trips:
            raise frequencies.error(f"trip_id {trip_id!r} is not in trips.txt", line)
        bounds = []
        for column in ("start_time", "end_time"):
            try:
                bounds.append(parse_time(frequencies.value(row, column, line)))
            except ValueError as exc:
                raise frequencies.error(f"{column}: {exc}", line) from None
        try:
            headway_s = int(frequencies.value(row, "headway_secs", line))
        except ValueError:
            raise frequencies.error("headway_secs is not a whole number", line) from None
        if headway_s <= 0:
            raise frequencies.error("headway_secs must be positive", line)
        if bounds[1] < bounds[0]:
            raise frequencies.error("end_time is before start_time", line)
        runs.setdefault(trip_id, []).extend(range(bounds[0], bounds[1], headway_s))
    if not runs:
        return
    templates: dict[str, list[StopTime]] = {trip_id: [] for trip_id in runs}
    for st in feed.stop_times:
        if st.trip_id in templates:
            templates[st.trip_id].append(st)
    new_trips: list[Trip] = []
    new_times: list[StopTime] = []
    for trip_id, starts in runs.items():
        template = sorted(templates[trip_id], key=lambda st: st.stop_sequence)
        first = next((t for t in (template[0].departure_s, template[0].arrival_s)
                      if t is not None), None) if template else None  # fmt: skip
        if first is None:
            raise frequencies.error(
                f"trip {trip_id!r} runs by headway but its first stop time has no time"
            )
        for start in sorted(set(starts)):
            shift, run_id = start - first, f"{trip_id}@{start}"
            new_trips.append(replace(trips[trip_id], trip_id=run_id))
            new_times += [
                replace(
                    st,
                    trip_id=run_id,
                    arrival_s=None if st.arrival_s is None else st.arrival_s + shift,
                    departure_s=None if st.departure_s is None else st.departure_s + shift,
                )
                for st in template
            ]
    feed.trips = [t for t in feed.trips if t.trip_id not in runs] + new_trips
    feed.stop_times = [st for st in feed.stop_times if st.trip_id not in runs] + new_times
