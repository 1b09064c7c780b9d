-- Bus timetables from GTFS feeds, for the fallback: a request still unmatched at its cut-off is
-- told the next direct bus connection, when the region's feeds have one. A feed belongs to a
-- region and is named; importing it again replaces all its rows in one transaction (the child
-- tables cascade from gtfs_feed). Times stay as GTFS has them: seconds since "noon minus 12 h"
-- of the service day in the feed's time zone, so trips after midnight (25:10:00) and days with
-- a clock change resolve in maas/gtfs/timetable.py, not here.

CREATE TABLE gtfs_feed (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id integer NOT NULL REFERENCES region (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name <> ''),
    timezone text NOT NULL,                  -- agency_timezone of agency.txt (one per feed)
    source_name text NOT NULL,               -- file name of the .zip
    source_sha256 text NOT NULL,
    service_from date,                       -- first and last day of calendar.txt and
    service_until date,                      -- calendar_dates.txt (for the operator's eyes)
    max_time_s integer NOT NULL CHECK (max_time_s >= 0),  -- latest stop time (past 24:00?)
    imported_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (region_id, name)
);

CREATE TABLE gtfs_stop (
    feed_id integer NOT NULL REFERENCES gtfs_feed (id) ON DELETE CASCADE,
    stop_id text NOT NULL,
    name text NOT NULL,
    position geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (feed_id, stop_id)
);
CREATE INDEX gtfs_stop_position_gix ON gtfs_stop USING gist ((position::geography));

CREATE TABLE gtfs_route (
    feed_id integer NOT NULL REFERENCES gtfs_feed (id) ON DELETE CASCADE,
    route_id text NOT NULL,
    short_name text NOT NULL,
    long_name text NOT NULL,
    route_type integer NOT NULL,
    PRIMARY KEY (feed_id, route_id)
);

CREATE TABLE gtfs_trip (
    feed_id integer NOT NULL,
    trip_id text NOT NULL,
    route_id text NOT NULL,
    service_id text NOT NULL,
    headsign text,
    PRIMARY KEY (feed_id, trip_id),
    FOREIGN KEY (feed_id, route_id) REFERENCES gtfs_route (feed_id, route_id) ON DELETE CASCADE
);
CREATE INDEX gtfs_trip_service ON gtfs_trip (feed_id, service_id);

-- A stop without a time (not a timepoint) is kept for the order of the trip but never offered
-- as a place to get on or off.
CREATE TABLE gtfs_stop_time (
    feed_id integer NOT NULL,
    trip_id text NOT NULL,
    stop_sequence integer NOT NULL CHECK (stop_sequence >= 0),
    stop_id text NOT NULL,
    arrival_s integer CHECK (arrival_s >= 0),
    departure_s integer CHECK (departure_s >= 0),
    pickup boolean NOT NULL,                 -- pickup_type is not 1 (no pickup)
    drop_off boolean NOT NULL,               -- drop_off_type is not 1
    PRIMARY KEY (feed_id, trip_id, stop_sequence),
    FOREIGN KEY (feed_id, trip_id) REFERENCES gtfs_trip (feed_id, trip_id) ON DELETE CASCADE,
    FOREIGN KEY (feed_id, stop_id) REFERENCES gtfs_stop (feed_id, stop_id) ON DELETE CASCADE
);
CREATE INDEX gtfs_stop_time_stop ON gtfs_stop_time (feed_id, stop_id);

CREATE TABLE gtfs_calendar (
    feed_id integer NOT NULL REFERENCES gtfs_feed (id) ON DELETE CASCADE,
    service_id text NOT NULL,
    weekdays boolean[] NOT NULL CHECK (cardinality(weekdays) = 7),  -- Monday first
    start_date date NOT NULL,
    end_date date NOT NULL CHECK (end_date >= start_date),
    PRIMARY KEY (feed_id, service_id)
);

CREATE TABLE gtfs_calendar_date (
    feed_id integer NOT NULL REFERENCES gtfs_feed (id) ON DELETE CASCADE,
    service_id text NOT NULL,
    day date NOT NULL,
    added boolean NOT NULL,                  -- exception_type 1 (added) or 2 (removed)
    PRIMARY KEY (feed_id, service_id, day)
);

-- What the rider was told with "no driver found" (text, phone, the bus connection or null),
-- so the request's outcome shows it later exactly as sent. Null for notices before 0008.
ALTER TABLE fallback_notice ADD COLUMN fallback jsonb;
