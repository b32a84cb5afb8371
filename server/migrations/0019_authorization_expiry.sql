-- Authorizations expire a week after they are made, and a background pass voids them. A void
-- the processor refuses (or cannot be asked for) is tried again later, not at every pass: this
-- is when. Adding a column with no default changes no row, so it takes its lock for an instant
-- (each index below is a migration of its own: PostgreSQL keeps a migration's locks until it
-- commits, so one file of several builds would hold each table until the last was built).
ALTER TABLE payments ADD COLUMN expiry_check_at BIGINT;
