-- Webhooks can be changed in place (PATCH /v1/webhooks/{id}): a new URL, or a new secret.
--
-- A new secret replaces the old one at once, but the old one may keep signing alongside it
-- for a while (previous_secret until previous_secret_until): each delivery then carries both
-- signatures, so an app back end can switch to the new secret whenever it deploys, without a
-- window in which it refuses genuine deliveries. A secret that leaked is replaced without
-- that overlap.
ALTER TABLE webhook
    ADD COLUMN previous_secret text CHECK (length(previous_secret) >= 16),
    ADD COLUMN previous_secret_until timestamptz,
    ADD COLUMN secret_changed_at timestamptz,
    ADD CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL));
