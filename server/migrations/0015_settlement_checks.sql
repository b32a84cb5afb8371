-- The settlement sweeper asks about each processing payment when its next check is due, and
-- moves the check later when the answer is "not yet" (or the processor cannot be asked): the
-- oldest payments no longer stand in front of the others for good. Its index holds processing
-- payments only, by when each is due.
ALTER TABLE payments ADD COLUMN settle_check_at BIGINT NOT NULL DEFAULT 0;
DROP INDEX payments_processing;
CREATE INDEX payments_settle_check ON payments (settle_check_at) WHERE status = 'processing';
