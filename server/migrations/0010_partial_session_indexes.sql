-- The sweepers' indexes hold only the sessions they look for: active ones (for expiry) and
-- processing ones (for recovery). A confirm then touches one entry of each as the session moves
-- active → processing → completed, instead of moving an entry within both indexes twice, and
-- finished sessions (nearly all of them) leave both. Queries that use them name the status as a
-- literal, so that the planner can match the index's condition.
DROP INDEX hosted_sessions_due;
DROP INDEX hosted_sessions_processing;
CREATE INDEX hosted_sessions_due ON hosted_sessions (expires_at) WHERE status = 'active';
CREATE INDEX hosted_sessions_processing ON hosted_sessions (processing_since) WHERE status = 'processing';
