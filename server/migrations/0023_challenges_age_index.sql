-- Housekeeping deletes the challenge codes of sessions that can no longer be paid a week after
-- they were made, by their time.
CREATE INDEX IF NOT EXISTS challenges_created ON challenges (created_at);
