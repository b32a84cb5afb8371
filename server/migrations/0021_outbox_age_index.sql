-- Housekeeping deletes the outbox's messages older than a week by their time.
CREATE INDEX IF NOT EXISTS outbox_messages_created ON outbox_messages (created_at);
