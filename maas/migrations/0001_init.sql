-- Foundation: PostGIS and the bookkeeping every later migration relies on.
CREATE EXTENSION IF NOT EXISTS postgis;
