-- The recovery jobs take the oldest stuck confirms and money movements first. One they cannot
-- resolve (its processor does not answer, or its account's credentials no longer work) is
-- asked about again only once `recover_at` has come, so fifty of them no longer stand in front
-- of every other merchant's for good. 0: due at once.
ALTER TABLE hosted_sessions ADD COLUMN recover_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_operations ADD COLUMN recover_at BIGINT NOT NULL DEFAULT 0;

-- A checkout that completes with an email to write to (the session's, or its customer's) is due
-- a receipt from that moment: the completing UPDATE sets `receipt_due_at`, so a crash loses
-- none, and the receipt job takes each (a conditional UPDATE back to NULL) before sending it.
-- The index holds the sessions with a receipt still to send only.
ALTER TABLE hosted_sessions ADD COLUMN receipt_due_at BIGINT;
CREATE INDEX hosted_sessions_receipts ON hosted_sessions (receipt_due_at) WHERE receipt_due_at IS NOT NULL;
