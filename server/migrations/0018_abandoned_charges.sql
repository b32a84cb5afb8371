-- A charge that recovery gave up (its processor had not seen the reference when asked) may still
-- reach the processor and be approved. The request that sent it undoes it then, unless that
-- request's process died first: so each given-up reference is also watched here, in the
-- transaction that gives it up. The watch looks it up at the processor now and then and undoes
-- an approval it finds (a card voided or refunded; a bank debit refunded once it has settled).
-- The row goes once the charge is undone, declined or returned, or once a day has passed without
-- the processor seeing it. One whose undo the processor refused stays, with the refusal, for an
-- operator to refund by hand; the watch no longer looks at it.
CREATE TABLE abandoned_charges (
    reference    TEXT PRIMARY KEY,   -- the attempt's or operation's id, the processor's reference
    account_uid  TEXT NOT NULL,
    amount       BIGINT NOT NULL,    -- what an approval under the reference takes
    abandoned_at BIGINT NOT NULL,
    check_at     BIGINT NOT NULL,    -- the next lookup
    refusal      TEXT                -- why the processor refused the undo
);
CREATE INDEX abandoned_charges_due ON abandoned_charges (check_at) WHERE refusal IS NULL;
