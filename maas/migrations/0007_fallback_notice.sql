-- Cut-off and fallback: a request still without a confirmed ride at its community's cut-off
-- before departure is told "no driver found" with the fallback, once. This row is the "once":
-- written in the transaction of the event, so a retried scheduler tick tells no one twice.

CREATE TABLE fallback_notice (
    request_id uuid PRIMARY KEY REFERENCES ride_request (id) ON DELETE CASCADE,
    community_id uuid NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    told_at timestamptz NOT NULL DEFAULT now()
);
