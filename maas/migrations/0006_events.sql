-- Live operations: an outbox of events per person, woken streams and signed webhooks.
--
-- Every state change of a request, offer or match writes one `event` row per person concerned
-- through the triggers below, so it lands in the SAME transaction as the change whatever code
-- made it (API, matching run, scheduler). The insert trigger on `event` calls pg_notify, which
-- PostgreSQL delivers only on commit: a change that rolls back sends nothing. It also queues
-- one `webhook_delivery` per matching subscription (the outbox the webhook sender drains).

CREATE TABLE event (
    id bigserial PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    kind text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_person ON event (person_id, id);

-- Subscriptions of app back ends: to one community's events or one person's.
CREATE TABLE webhook (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    community_id uuid REFERENCES community (id) ON DELETE CASCADE,
    person_id uuid REFERENCES person (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (url ~ '^https?://'),
    secret text NOT NULL CHECK (length(secret) >= 16),  -- kept: every delivery is signed with it
    created_by uuid REFERENCES person (id) ON DELETE SET NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((community_id IS NULL) <> (person_id IS NULL))
);
CREATE INDEX webhook_community ON webhook (community_id) WHERE active;
CREATE INDEX webhook_person ON webhook (person_id) WHERE active;

CREATE TYPE webhook_delivery_status AS ENUM ('pending', 'delivered', 'dead');

CREATE TABLE webhook_delivery (
    id bigserial PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhook (id) ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    status webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    last_status_code integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_delivery_status ON webhook_delivery (status, id);

CREATE FUNCTION event_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('maas_event', NEW.person_id::text || ' ' || NEW.id::text);
    INSERT INTO webhook_delivery (webhook_id, event_id)
    SELECT w.id, NEW.id FROM webhook w
    WHERE w.active AND (w.person_id = NEW.person_id
                        OR w.community_id::text = NEW.payload ->> 'community_id');
    RETURN NULL;
END
$$;
CREATE TRIGGER event_after_insert AFTER INSERT ON event
    FOR EACH ROW EXECUTE FUNCTION event_after_insert();

-- One event for one person (NULL persons, e.g. anonymised, are skipped).
CREATE FUNCTION maas_event(p_person uuid, p_kind text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_person IS NOT NULL THEN
        INSERT INTO event (person_id, kind, payload) VALUES (p_person, p_kind, p_payload);
    END IF;
END
$$;

CREATE FUNCTION match_event_payload(m match) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'community_id', m.community_id, 'match_id', m.id, 'offer_id', m.offer_id,
        'occurrence_date', m.occurrence_date, 'departure_at', m.departure_at,
        'status', m.status, 'driver_status', m.driver_status)
$$;

-- A match: proposed (driver), its status or the driver's answer changed, its time moved, or
-- withdrawn by a later run (deleted while proposed). Riders hear of status changes unless
-- they already left the match.
CREATE FUNCTION match_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    driver uuid;
    kind text;
    rec match;
BEGIN
    rec := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    SELECT person_id INTO driver FROM ride_offer WHERE id = rec.offer_id;
    IF TG_OP = 'INSERT' THEN
        PERFORM maas_event(driver, 'match.proposed', match_event_payload(NEW));
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'proposed' THEN
            PERFORM maas_event(driver, 'match.withdrawn', match_event_payload(OLD));
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        kind := 'match.' || NEW.status::text;
    ELSIF NEW.departure_at IS DISTINCT FROM OLD.departure_at THEN
        kind := 'match.time_changed';
    ELSIF NEW.driver_status IS DISTINCT FROM OLD.driver_status THEN
        kind := 'match.driver_' || NEW.driver_status::text;
    ELSE
        RETURN NULL;
    END IF;
    PERFORM maas_event(driver, kind, match_event_payload(NEW));
    PERFORM maas_event(q.person_id, kind,
                       match_event_payload(NEW) || jsonb_build_object('request_id', q.id))
    FROM match_rider r JOIN ride_request q ON q.id = r.request_id
    WHERE r.match_id = NEW.id AND (r.status IN ('pending', 'accepted') OR kind = 'match.cancelled');
    RETURN NULL;
END
$$;
CREATE TRIGGER match_events AFTER INSERT OR DELETE OR UPDATE OF status, driver_status,
    departure_at ON match FOR EACH ROW EXECUTE FUNCTION match_events();

-- A rider in a match: proposed to them, their answer (told to them and the driver), or
-- withdrawn with a proposed match.
CREATE FUNCTION match_rider_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rider uuid;
    driver uuid;
    rec match_rider;
    m match;
    payload jsonb;
BEGIN
    rec := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    SELECT person_id INTO rider FROM ride_request WHERE id = rec.request_id;
    SELECT * INTO m FROM match WHERE id = rec.match_id;
    IF m.id IS NULL THEN
        -- Deleted with its match (a later run replaced the proposal).
        IF OLD.status IN ('pending', 'accepted') THEN
            PERFORM maas_event(rider, 'match.withdrawn', jsonb_build_object(
                'match_id', OLD.match_id, 'request_id', OLD.request_id,
                'community_id', (SELECT community_id FROM ride_request
                                 WHERE id = OLD.request_id)));
        END IF;
        RETURN NULL;
    END IF;
    payload := match_event_payload(m) || jsonb_build_object('request_id', rec.request_id);
    IF TG_OP = 'INSERT' THEN
        PERFORM maas_event(rider, 'match.proposed', payload);
    ELSIF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
        SELECT person_id INTO driver FROM ride_offer WHERE id = m.offer_id;
        PERFORM maas_event(rider, 'match.rider_' || NEW.status::text, payload);
        PERFORM maas_event(driver, 'match.rider_' || NEW.status::text, payload);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER match_rider_events AFTER INSERT OR DELETE OR UPDATE OF status ON match_rider
    FOR EACH ROW EXECUTE FUNCTION match_rider_events();

-- A stop's planned time moved (a confirmed ride re-timed): its rider is told.
CREATE FUNCTION match_stop_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.planned_at IS DISTINCT FROM OLD.planned_at THEN
        PERFORM maas_event(q.person_id, 'match.time_changed', jsonb_build_object(
            'community_id', q.community_id, 'match_id', NEW.match_id, 'request_id', q.id,
            'kind', NEW.kind, 'planned_at', NEW.planned_at, 'was', OLD.planned_at))
        FROM ride_request q WHERE q.id = NEW.request_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER match_stop_events AFTER UPDATE OF planned_at ON match_stop
    FOR EACH ROW EXECUTE FUNCTION match_stop_events();

-- Requests and offers: created and cancelled.
CREATE FUNCTION ride_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    what text := CASE TG_TABLE_NAME WHEN 'ride_request' THEN 'request' ELSE 'offer' END;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM maas_event(NEW.person_id, what || '.created', jsonb_build_object(
            'community_id', NEW.community_id, what || '_id', NEW.id));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM maas_event(NEW.person_id, what || '.' || NEW.status::text, jsonb_build_object(
            'community_id', NEW.community_id, what || '_id', NEW.id));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ride_request_events AFTER INSERT OR UPDATE OF status ON ride_request
    FOR EACH ROW EXECUTE FUNCTION ride_events();
CREATE TRIGGER ride_offer_events AFTER INSERT OR UPDATE OF status ON ride_offer
    FOR EACH ROW EXECUTE FUNCTION ride_events();
