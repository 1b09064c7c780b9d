-- Matching runs: the batch optimisation of a community's open requests and offer occurrences
-- (maas.planning), its outcome per request, and the parameter version it used.
--
-- A run writes its proposals (match, match_rider, match_stop with run_id), one
-- request_outcome row per request it considered and its own finished record in ONE
-- transaction; a failed run leaves only its matching_run row with status 'failed'.

-- The parameter version of a community: bumped whenever its settings change, so that every
-- run and match records which settings produced it.
ALTER TABLE community ADD COLUMN params_version integer NOT NULL DEFAULT 1
    CHECK (params_version >= 1);

CREATE FUNCTION community_bump_params_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.settings IS DISTINCT FROM OLD.settings THEN
        NEW.params_version := OLD.params_version + 1;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER community_params_version BEFORE UPDATE OF settings ON community
    FOR EACH ROW EXECUTE FUNCTION community_bump_params_version();

CREATE TYPE matching_run_status AS ENUM ('running', 'succeeded', 'failed');

CREATE TABLE matching_run (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    community_id uuid NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    horizon_start timestamptz NOT NULL,
    horizon_end timestamptz NOT NULL CHECK (horizon_end > horizon_start),
    trigger text NOT NULL CHECK (trigger IN ('operator', 'scheduler', 'cli', 'test')),
    requested_by uuid REFERENCES person (id) ON DELETE SET NULL,
    status matching_run_status NOT NULL DEFAULT 'running',
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    params_version integer NOT NULL,
    params jsonb NOT NULL,                      -- the effective parameters, defaults filled in
    requests_count integer CHECK (requests_count >= 0),
    occurrences_count integer CHECK (occurrences_count >= 0),
    served_count integer CHECK (served_count >= 0),
    unserved_count integer CHECK (unserved_count >= 0),
    matches_count integer CHECK (matches_count >= 0),
    objective bigint,
    solver_status text,
    timings jsonb NOT NULL DEFAULT '{}'::jsonb, -- seconds per phase (inputs, snap, matrix, ...)
    error text,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX matching_run_community_started ON matching_run (community_id, started_at DESC, id);

-- Which run proposed a match (NULL for matches written otherwise).
ALTER TABLE match ADD COLUMN run_id uuid REFERENCES matching_run (id) ON DELETE SET NULL;
CREATE INDEX match_run ON match (run_id);
CREATE INDEX match_community_status ON match (community_id, status, departure_at);

-- What a run decided for each request it considered: proposed (with the match) or not served
-- and why (a matching.UnservedReason value, or one of the service's own: 'not_on_road',
-- 'only_declined_drivers', 'changed_during_run'). Kept per run for KPIs and replays; the API
-- shows a rider the latest one.
CREATE TABLE request_outcome (
    run_id uuid NOT NULL REFERENCES matching_run (id) ON DELETE CASCADE,
    request_id uuid NOT NULL REFERENCES ride_request (id) ON DELETE CASCADE,
    served boolean NOT NULL,
    match_id uuid REFERENCES match (id) ON DELETE SET NULL,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, request_id),
    CHECK (served = (reason IS NULL))
);
CREATE INDEX request_outcome_request ON request_outcome (request_id, created_at DESC);

-- A request is accepted in at most one live match: the last line of defence against booking
-- one rider twice (the accept endpoint checks it first and answers 409).
CREATE UNIQUE INDEX match_rider_one_accepted ON match_rider (request_id)
    WHERE status = 'accepted';
