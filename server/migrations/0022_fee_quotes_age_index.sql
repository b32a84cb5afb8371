-- Housekeeping deletes the fee quotes of sessions that can no longer be paid a week after they
-- were made, by their time.
CREATE INDEX IF NOT EXISTS fee_quotes_created ON fee_quotes (created_at);
