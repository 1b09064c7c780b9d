-- The HTTP API's data: communities (tenants), meeting points, people with roles and tokens,
-- ride offers and requests, matches (written by the matching engine, read by the API), and
-- idempotency keys.
--
-- Communities name their region by text and reference the road import's village by id
-- without a foreign key: a road re-import replaces villages, and communities (with their
-- people and rides) must outlive that.
--
-- Public ids are UUIDs so that ids reveal neither counts nor creation order.

CREATE TYPE meeting_point_kind AS ENUM ('mitfahrbank', 'bus_stop', 'parking', 'other');
CREATE TYPE ride_status AS ENUM ('open', 'cancelled');
CREATE TYPE match_status AS ENUM (
    'proposed', 'accepted', 'confirmed', 'completed', 'declined', 'cancelled', 'no_show'
);
CREATE TYPE party_status AS ENUM ('pending', 'accepted', 'declined', 'cancelled');
CREATE TYPE stop_kind AS ENUM ('pickup', 'dropoff');

CREATE TABLE community (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    region text NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    village_id bigint,
    area geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(area)),
    settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- One community per village of a region, so that "communities sync" can run twice.
CREATE UNIQUE INDEX community_region_village_key ON community (region, village_id)
    WHERE village_id IS NOT NULL;
CREATE INDEX community_area_gist ON community USING gist (area);
CREATE INDEX community_created_key ON community (created_at, id);

CREATE TABLE meeting_point (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    community_id uuid NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind meeting_point_kind NOT NULL,
    position geometry(Point, 4326) NOT NULL,
    step_free boolean NOT NULL DEFAULT false,
    bench boolean NOT NULL DEFAULT false,
    shelter boolean NOT NULL DEFAULT false,
    lit boolean NOT NULL DEFAULT false,
    -- Where it came from ('api', 'osm', 'gtfs') and its id there, so imports can run twice.
    source text NOT NULL DEFAULT 'api',
    source_ref text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX meeting_point_source_key ON meeting_point (source, source_ref)
    WHERE source_ref IS NOT NULL;
CREATE INDEX meeting_point_position_gist ON meeting_point USING gist (position);
CREATE INDEX meeting_point_community_created ON meeting_point (community_id, created_at, id);

CREATE TABLE person (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL once the person deleted their account (the row stays for anonymous statistics).
    name text CHECK (length(name) BETWEEN 1 AND 200),
    phone text,
    email text,
    home_community_id uuid REFERENCES community (id) ON DELETE SET NULL,
    is_rider boolean NOT NULL DEFAULT false,
    is_driver boolean NOT NULL DEFAULT false,
    is_admin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX person_home_created ON person (home_community_id, created_at, id);

-- An operator works for one or more communities.
CREATE TABLE operator_scope (
    person_id uuid NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    community_id uuid NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    PRIMARY KEY (person_id, community_id)
);
CREATE INDEX operator_scope_community ON operator_scope (community_id);

-- Bearer tokens: only the SHA-256 of the random secret is kept.
CREATE TABLE api_token (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id uuid NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    secret_sha256 bytea NOT NULL UNIQUE,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_token_person ON api_token (person_id);

CREATE TABLE ride_offer (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id uuid NOT NULL REFERENCES person (id),
    community_id uuid NOT NULL REFERENCES community (id),
    status ride_status NOT NULL DEFAULT 'open',
    origin geometry(Point, 4326) NOT NULL,
    origin_snapped geometry(Point, 4326),
    origin_meeting_point_id uuid REFERENCES meeting_point (id) ON DELETE SET NULL,
    destination geometry(Point, 4326) NOT NULL,
    destination_snapped geometry(Point, 4326),
    destination_meeting_point_id uuid REFERENCES meeting_point (id) ON DELETE SET NULL,
    -- One-off: depart_earliest/depart_latest. Weekly: the local window on the weekdays from
    -- valid_from to valid_until (inclusive), except exception_dates, in time_zone.
    depart_earliest timestamptz,
    depart_latest timestamptz,
    weekdays smallint[],
    local_depart_earliest time,
    local_depart_latest time,
    valid_from date,
    valid_until date,
    exception_dates date[] NOT NULL DEFAULT '{}',
    time_zone text NOT NULL DEFAULT 'Europe/Berlin',
    seats smallint NOT NULL CHECK (seats BETWEEN 1 AND 8),
    max_detour_min integer NOT NULL DEFAULT 15 CHECK (max_detour_min BETWEEN 0 AND 240),
    max_detour_pct integer NOT NULL DEFAULT 50 CHECK (max_detour_pct BETWEEN 0 AND 1000),
    wheelchair boolean NOT NULL DEFAULT false,
    child_seat boolean NOT NULL DEFAULT false,
    luggage boolean NOT NULL DEFAULT false,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    CONSTRAINT ride_offer_schedule CHECK (
        (depart_earliest IS NOT NULL AND depart_latest IS NOT NULL
            AND depart_latest >= depart_earliest AND weekdays IS NULL)
        OR (depart_earliest IS NULL AND weekdays IS NOT NULL
            AND local_depart_earliest IS NOT NULL AND local_depart_latest IS NOT NULL
            AND valid_from IS NOT NULL
            AND (valid_until IS NULL OR valid_until >= valid_from))
    )
);
CREATE INDEX ride_offer_created ON ride_offer (created_at, id);
CREATE INDEX ride_offer_person ON ride_offer (person_id, created_at, id);
CREATE INDEX ride_offer_community ON ride_offer (community_id, created_at, id);
CREATE INDEX ride_offer_origin_gist ON ride_offer USING gist (origin);
CREATE INDEX ride_offer_destination_gist ON ride_offer USING gist (destination);

CREATE TABLE ride_request (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id uuid NOT NULL REFERENCES person (id),
    community_id uuid NOT NULL REFERENCES community (id),
    status ride_status NOT NULL DEFAULT 'open',
    origin geometry(Point, 4326) NOT NULL,
    origin_snapped geometry(Point, 4326),
    origin_meeting_point_id uuid REFERENCES meeting_point (id) ON DELETE SET NULL,
    destination geometry(Point, 4326) NOT NULL,
    destination_snapped geometry(Point, 4326),
    destination_meeting_point_id uuid REFERENCES meeting_point (id) ON DELETE SET NULL,
    depart_earliest timestamptz NOT NULL,
    arrive_latest timestamptz NOT NULL CHECK (arrive_latest > depart_earliest),
    passengers smallint NOT NULL DEFAULT 1 CHECK (passengers BETWEEN 1 AND 8),
    needs_wheelchair boolean NOT NULL DEFAULT false,
    needs_child_seat boolean NOT NULL DEFAULT false,
    needs_help_getting_in boolean NOT NULL DEFAULT false,
    max_walk_m integer NOT NULL DEFAULT 500 CHECK (max_walk_m BETWEEN 0 AND 5000),
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz
);
CREATE INDEX ride_request_created ON ride_request (created_at, id);
CREATE INDEX ride_request_person ON ride_request (person_id, created_at, id);
CREATE INDEX ride_request_community ON ride_request (community_id, created_at, id);
CREATE INDEX ride_request_origin_gist ON ride_request USING gist (origin);
CREATE INDEX ride_request_destination_gist ON ride_request USING gist (destination);
CREATE INDEX ride_request_window ON ride_request (depart_earliest, arrive_latest);

-- A proposed or confirmed ride: one occurrence of an offer with its riders and stops. The
-- matching engine writes a match, its riders and its stops in one transaction.
CREATE TABLE match (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    offer_id uuid NOT NULL REFERENCES ride_offer (id),
    occurrence_date date NOT NULL,
    departure_at timestamptz NOT NULL,
    community_id uuid NOT NULL REFERENCES community (id),
    status match_status NOT NULL DEFAULT 'proposed',
    driver_status party_status NOT NULL DEFAULT 'pending',
    params_version integer NOT NULL DEFAULT 0,
    route geometry(LineString, 4326),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX match_created ON match (created_at, id);
CREATE INDEX match_offer ON match (offer_id, occurrence_date);
CREATE INDEX match_community ON match (community_id, created_at, id);
CREATE INDEX match_departure ON match (departure_at);
CREATE INDEX match_route_gist ON match USING gist (route);

-- Each rider's own answer to a proposed ride (the driver's is match.driver_status).
CREATE TABLE match_rider (
    match_id uuid NOT NULL REFERENCES match (id) ON DELETE CASCADE,
    request_id uuid NOT NULL REFERENCES ride_request (id),
    status party_status NOT NULL DEFAULT 'pending',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (match_id, request_id)
);
CREATE INDEX match_rider_request ON match_rider (request_id);

CREATE TABLE match_stop (
    match_id uuid NOT NULL REFERENCES match (id) ON DELETE CASCADE,
    seq smallint NOT NULL CHECK (seq >= 0),
    request_id uuid NOT NULL,
    kind stop_kind NOT NULL,
    position geometry(Point, 4326) NOT NULL,
    meeting_point_id uuid REFERENCES meeting_point (id) ON DELETE SET NULL,
    planned_at timestamptz NOT NULL,
    PRIMARY KEY (match_id, seq),
    FOREIGN KEY (match_id, request_id) REFERENCES match_rider (match_id, request_id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX match_stop_request ON match_stop (request_id);

-- A retried POST with the same key returns the stored answer; the row is written in the same
-- transaction as whatever the POST created, so the key exists if and only if the effect does.
CREATE TABLE idempotency_key (
    person_id uuid NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_sha256 bytea NOT NULL,
    status_code smallint,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, key)
);

-- The approximate position shown before a ride is confirmed and kept after an account is
-- deleted: the centre of the point's 300 m cell in EPSG:25832 (maas.domain.privacy does the
-- same in Python).
CREATE FUNCTION approx_point(p geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ST_Transform(ST_SetSRID(ST_MakePoint(
        (floor(ST_X(ST_Transform(p, 25832)) / 300) + 0.5) * 300,
        (floor(ST_Y(ST_Transform(p, 25832)) / 300) + 0.5) * 300), 25832), 4326)
$$;
