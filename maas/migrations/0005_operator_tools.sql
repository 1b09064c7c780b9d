-- Operator tools: versioned, audited matching parameters per community, and what-if replays.
--
-- community_params_version holds every version of a community's parameters: who changed them,
-- when, why, and the complete parameter set (the previous version holds the old values). The
-- community's params_version column points at the current one; every matching run records the
-- version it used (foreign key below). A rollback is a new version equal to an old one.
--
-- Before this migration the parameters lived in community.settings and a trigger bumped
-- params_version whenever settings changed. From now on only the /params endpoints change
-- parameters; settings keep the community's other options. A new community starts at
-- version 1 with the parameter keys found in its settings (so creating a community with
-- settings still works as before).

CREATE TABLE community_params_version (
    community_id uuid NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    version integer NOT NULL CHECK (version >= 1),
    params jsonb NOT NULL,
    changed_by uuid REFERENCES person (id) ON DELETE SET NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    reason text CHECK (length(reason) <= 500),
    restored_version integer,               -- set on a rollback: the version it restores
    PRIMARY KEY (community_id, version)
);

DROP TRIGGER community_params_version ON community;
DROP FUNCTION community_bump_params_version();

-- The parameter keys a community's settings may have carried (maas.domain.params.FIELDS).
CREATE FUNCTION params_from_settings(settings jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT COALESCE(jsonb_object_agg(key, value), '{}'::jsonb)
    FROM jsonb_each(settings)
    WHERE key = ANY (ARRAY[
        'max_detour_min', 'max_detour_pct', 'ride_time_factor', 'ride_time_extra_min',
        'max_walk_m', 'horizon_h', 'board_s', 'alight_s', 'help_board_s', 'drop_penalty',
        'arc_cost_weight', 'cutoff_min', 'fallback_text', 'fallback_phone',
        'volunteer_max_rides_per_week', 'volunteer_quiet_from', 'volunteer_quiet_until'])
$$;

-- Existing communities: their current version, and every older version a run recorded (with
-- the parameters that run used).
INSERT INTO community_params_version (community_id, version, params, changed_at, reason)
SELECT id, params_version, params_from_settings(settings), updated_at,
       'parameters before versioning (from the community settings)'
FROM community;
INSERT INTO community_params_version (community_id, version, params, changed_at, reason)
SELECT DISTINCT ON (r.community_id, r.params_version)
       r.community_id, r.params_version, r.params, r.started_at,
       'parameters before versioning (as recorded by a matching run)'
FROM matching_run r
WHERE NOT EXISTS (SELECT 1 FROM community_params_version v
                  WHERE v.community_id = r.community_id AND v.version = r.params_version)
ORDER BY r.community_id, r.params_version, r.started_at;

CREATE FUNCTION community_initial_params() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO community_params_version (community_id, version, params, reason)
    VALUES (NEW.id, NEW.params_version, params_from_settings(NEW.settings),
            'initial parameters');
    RETURN NEW;
END
$$;
CREATE TRIGGER community_initial_params AFTER INSERT ON community
    FOR EACH ROW EXECUTE FUNCTION community_initial_params();

ALTER TABLE matching_run ADD CONSTRAINT matching_run_params_version_fk
    FOREIGN KEY (community_id, params_version)
    REFERENCES community_params_version (community_id, version);

-- A what-if replay: the matcher on a past or generated day under candidate parameters. It
-- never writes matches; its KPIs (and those of what actually ran, or of the current
-- parameters on a generated day) are kept in result.
CREATE TABLE whatif_run (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    community_id uuid NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    requested_by uuid REFERENCES person (id) ON DELETE SET NULL,
    day date NOT NULL,
    source text NOT NULL CHECK (source IN ('past', 'generated')),
    num_requests integer CHECK (num_requests BETWEEN 1 AND 2000),
    seed integer,
    params jsonb NOT NULL,                   -- the candidate parameters, complete
    base_params_version integer NOT NULL,    -- the version current when the run started
    status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    stage text NOT NULL DEFAULT 'queued',
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result jsonb,
    error text,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX whatif_run_community_started ON whatif_run (community_id, started_at DESC, id);
