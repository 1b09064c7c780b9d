-- The event insert trigger (0006) again, with two changes for the cost per event:
--
-- * The webhook lookup compares uuids, not `community_id::text` with the payload's text: the
--   cast on the column kept the planner from using the partial index `webhook_community`, so
--   every event read every subscription. Only the canonical form matches, as before; anything
--   else in a free payload (events.record) names no community instead of failing the change.
-- * The notification says how many deliveries it queued: "<person> <event id> <deliveries>".
--   The webhook sender is woken only when there is something to send, not on every event.

CREATE OR REPLACE FUNCTION event_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    community_text text := NEW.payload ->> 'community_id';
    community uuid;
    queued integer;
BEGIN
    IF community_text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        community := community_text::uuid;
    END IF;
    INSERT INTO webhook_delivery (webhook_id, event_id)
    SELECT w.id, NEW.id FROM webhook w
    WHERE w.active AND (w.person_id = NEW.person_id OR w.community_id = community);
    GET DIAGNOSTICS queued = ROW_COUNT;
    PERFORM pg_notify('maas_event',
                      NEW.person_id::text || ' ' || NEW.id::text || ' ' || queued::text);
    RETURN NULL;
END
$$;
