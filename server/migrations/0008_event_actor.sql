-- Who caused an event: `user:<email>` for a dashboard user; NULL for API calls and the
-- server's own jobs.
ALTER TABLE events ADD COLUMN actor TEXT;
