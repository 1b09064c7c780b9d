-- Idempotency keys expire after a day. Each claim drops a few expired keys through this index
-- (maas.store.idempotency), instead of scanning the whole table as every keyed POST did.
CREATE INDEX idempotency_key_created ON idempotency_key (created_at);
