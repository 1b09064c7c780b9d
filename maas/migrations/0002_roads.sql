-- Road network and villages of an imported region (maas.roads).
--
-- A region is (re)imported in one transaction by `python -m maas import-osm`: its row is
-- updated in place (region.id is stable across re-imports), its road_node/road_edge rows are
-- replaced, and its villages are upserted by OSM object, so village.id stays stable for the
-- same OSM place; villages that vanished from OSM are deleted.

CREATE TABLE region (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]*$'),
    imported_at     timestamptz NOT NULL DEFAULT now(),
    import_id       uuid NOT NULL UNIQUE,       -- names the graph cache: roads-<import_id>/
    source_name     text NOT NULL,              -- file name of the .osm.pbf
    source_sha256   text NOT NULL,
    service_area    geometry(MultiPolygon, 4326) NOT NULL,
    node_count      integer NOT NULL CHECK (node_count > 0),
    edge_count      integer NOT NULL CHECK (edge_count > 0),
    village_count   integer NOT NULL CHECK (village_count >= 0)
);
CREATE INDEX region_service_area_gix ON region USING gist (service_area);

-- Nodes of the simplified, strongly connected drivable graph (intersections, dead ends,
-- changes of road class/speed/one-way-ness).
CREATE TABLE road_node (
    region_id   integer NOT NULL REFERENCES region (id) ON DELETE CASCADE,
    node_id     bigint NOT NULL,                -- OSM node id
    geom        geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (region_id, node_id)
);
CREATE INDEX road_node_geom_gix ON road_node USING gist (geom);

-- Directed edges (a two-way road is two rows with reversed geometries), OSMnx conventions.
CREATE TABLE road_edge (
    region_id       integer NOT NULL,
    u               bigint NOT NULL,
    v               bigint NOT NULL,
    key             integer NOT NULL,
    osmid           bigint[] NOT NULL,          -- the OSM way ids the edge runs along
    highway         text NOT NULL,
    oneway          boolean NOT NULL,
    length_m        double precision NOT NULL CHECK (length_m >= 0),
    speed_kph       double precision NOT NULL CHECK (speed_kph > 0),
    travel_time_s   double precision NOT NULL CHECK (travel_time_s >= 0),
    geom            geometry(LineString, 4326) NOT NULL,
    PRIMARY KEY (region_id, u, v, key),
    FOREIGN KEY (region_id, u) REFERENCES road_node (region_id, node_id) ON DELETE CASCADE,
    FOREIGN KEY (region_id, v) REFERENCES road_node (region_id, node_id) ON DELETE CASCADE
);
CREATE INDEX road_edge_geom_gix ON road_edge USING gist (geom);
CREATE INDEX road_edge_v_idx ON road_edge (region_id, v);

-- OSM places of a region: the communities riders and drivers belong to.
CREATE TABLE village (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id       integer NOT NULL REFERENCES region (id) ON DELETE CASCADE,
    name            text NOT NULL,
    kind            text NOT NULL
        CHECK (kind IN ('town', 'village', 'suburb', 'hamlet', 'isolated_dwelling')),
    osm_type        char(1) NOT NULL CHECK (osm_type IN ('n', 'w', 'r')),
    osm_id          bigint NOT NULL,
    population      integer CHECK (population >= 0),
    polygon_source  text NOT NULL CHECK (polygon_source IN ('boundary', 'voronoi')),
    geom            geometry(MultiPolygon, 4326) NOT NULL,
    centroid        geometry(Point, 4326) NOT NULL,  -- the OSM place point (village centre)
    UNIQUE (region_id, osm_type, osm_id)
);
CREATE INDEX village_geom_gix ON village USING gist (geom);
CREATE INDEX village_centroid_gix ON village USING gist (centroid);
CREATE INDEX village_region_name_idx ON village (region_id, name);
