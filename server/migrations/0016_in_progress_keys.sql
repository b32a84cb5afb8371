-- The housekeeping looks for idempotency keys left in progress (by a crash) every minute: its
-- index holds those keys only (a handful at any time), where the age index would have it walk
-- every key of the last two days. The query names the state as a literal.
CREATE INDEX idempotency_keys_in_progress ON idempotency_keys (created_at) WHERE state = 'in_progress';
