-- Event streams resume by committed transaction, not by id (see maas/http/events.py).
--
-- An event's id is taken at insert but becomes visible at commit, so ids do not become visible
-- in order. `xid` is the writing transaction's id. A reader whose snapshot has the xmin H
-- (`pg_snapshot_xmin(pg_current_snapshot())`) knows that every transaction below H has ended:
-- the events with xid < H are final, and a cursor over (xid, id) that reads only those never
-- passes an event that commits later.
--
-- The rows written before this migration get xid 0: each of them had committed or rolled back
-- (ALTER TABLE waits for every transaction that inserted one), so they come first, in id order.
-- The constant default, replaced right after, adds the column without rewriting the table.
ALTER TABLE event ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE event ALTER COLUMN xid SET DEFAULT pg_current_xact_id();

-- A person's stream reads its events after its cursor; readers of every person's events (the
-- instant answers, say) read all events after theirs.
CREATE INDEX event_person_xid ON event (person_id, xid, id);
CREATE INDEX event_xid ON event (xid, id);

-- The notification (0011) also names the writing transaction:
-- "<person> <event id> <deliveries queued> <xid>". A stream that hears of it knows how far the
-- horizon has to move before the event is final.
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
    PERFORM pg_notify('maas_event', NEW.person_id::text || ' ' || NEW.id::text || ' '
                                    || queued::text || ' ' || NEW.xid::text);
    RETURN NULL;
END
$$;
