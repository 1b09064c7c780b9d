-- Live events without NOTIFY: each service process polls the event table (maas/notify.py).
--
-- A NOTIFY takes a lock that every notifying transaction holds from just before its commit to
-- its end, the commit record's flush included: the triggers of 0006/0011/0012 made every
-- change that writes an event (every new request, every pass, every match) commit one after
-- the other, and each notification was sent to every listening process, which parsed it. The
-- processes now read new final events in batches, which also carry the rows the streams send.
--
-- The trigger keeps queuing webhook deliveries in the transaction of the change (the outbox);
-- the poll asks whether an event queued one, by this index, to wake the sender only then.
CREATE INDEX webhook_delivery_event ON webhook_delivery (event_id);

CREATE OR REPLACE FUNCTION event_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    community_text text := NEW.payload ->> 'community_id';
    community uuid;
BEGIN
    IF community_text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        community := community_text::uuid;
    END IF;
    INSERT INTO webhook_delivery (webhook_id, event_id)
    SELECT w.id, NEW.id FROM webhook w
    WHERE w.active AND (w.person_id = NEW.person_id OR w.community_id = community);
    RETURN NULL;
END
$$;
