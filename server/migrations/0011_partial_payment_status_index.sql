-- The settlement sweeper looks for processing payments only (ACH awaiting its settlement), so
-- its index holds only those: a card payment, which is born succeeded, no longer adds an entry
-- to it, and a settled one leaves it. The query names the status as a literal, so that the
-- planner can match the index's condition.
DROP INDEX payments_status;
CREATE INDEX payments_processing ON payments (updated_at) WHERE status = 'processing';
