-- Authorizations expire a week after they are made: the job that voids them looks for
-- authorized payments only, oldest first, so its index holds only those (a captured or voided
-- payment leaves it). The query names the status as a literal, so that the planner can match
-- the index's condition.
CREATE INDEX payments_authorized ON payments (created_at) WHERE status = 'authorized';
-- Housekeeping deletes the outbox's messages older than a week by their time.
CREATE INDEX outbox_messages_created ON outbox_messages (created_at);
-- Housekeeping deletes the fee quotes and challenge codes of sessions that can no longer be
-- paid a week after they were made, by their time.
CREATE INDEX fee_quotes_created ON fee_quotes (created_at);
CREATE INDEX challenges_created ON challenges (created_at);
