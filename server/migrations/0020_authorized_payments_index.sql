-- The expiry pass looks for authorized payments only, oldest first, so its index holds only
-- those (a captured or voided payment leaves it). The query names the status as a literal, so
-- that the planner can match the index's condition.
CREATE INDEX IF NOT EXISTS payments_authorized ON payments (created_at) WHERE status = 'authorized';
