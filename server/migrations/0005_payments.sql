-- Money after the checkout: captures, voids, refunds, direct and autopay charges, terminals.

-- Refunds sent to the processor but not yet recorded are reserved here, so racing refunds can
-- never add up to more than was captured; a capture, void or terminal charge holds the payment
-- (pending_op) while the processor works.
ALTER TABLE payments ADD COLUMN refund_pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN pending_op TEXT;
ALTER TABLE payments ADD COLUMN return_code TEXT;   -- ACH: R01, R02, … of a debit that came back
-- A terminal takes one pending payment at a time.
CREATE UNIQUE INDEX payments_one_pending_per_terminal ON payments (terminal_id) WHERE status = 'pending_terminal';

-- Every money movement made at a processor, with a stable reference (the id) the processor sees:
-- a crash between the call and its record is finished later from the processor's side.
CREATE TABLE payment_operations (
    id                TEXT PRIMARY KEY,     -- re_… for refunds, op_… otherwise
    payment_id        TEXT NOT NULL,        -- the payment (authorize: the one it will create)
    account_uid       TEXT NOT NULL REFERENCES payment_accounts (uid),
    kind              TEXT NOT NULL,        -- authorize | capture | void | refund | terminal_charge
    amount            BIGINT NOT NULL,
    reason            TEXT,                 -- refunds
    status            TEXT NOT NULL,        -- pending | succeeded | failed
    failure_code      TEXT,
    request           TEXT,                 -- what finishing needs, as JSON (never a card number)
    idempotency_scope TEXT,                 -- the Idempotency-Key it answers, if any
    idempotency_key   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX payment_operations_payment ON payment_operations (payment_id, kind, created_at);
CREATE INDEX payment_operations_pending ON payment_operations (status, created_at);

CREATE TABLE terminals (
    id            TEXT PRIMARY KEY,
    account_uid   TEXT NOT NULL REFERENCES payment_accounts (uid),
    label         TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    model         TEXT,
    location      TEXT,
    status        TEXT NOT NULL,            -- online | offline | busy
    payment_id    TEXT,                     -- the pending payment while busy
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX terminals_account ON terminals (account_uid, created_at, id);
CREATE UNIQUE INDEX terminals_serial ON terminals (account_uid, serial_number) WHERE deleted_at IS NULL;

-- The mandate accepted when a method was saved for use without the customer (JSON).
ALTER TABLE payment_methods ADD COLUMN mandate TEXT;

-- The sandbox acquirer's record of every capture, void and refund, keyed by the caller's
-- reference (its idempotency key), as an acquirer keeps its own.
CREATE TABLE sandbox_operations (
    reference     TEXT PRIMARY KEY,
    processor_ref TEXT NOT NULL,
    kind          TEXT NOT NULL,            -- capture | void | refund
    amount        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX sandbox_operations_charge ON sandbox_operations (processor_ref, kind);
INSERT INTO sandbox_operations (reference, processor_ref, kind, amount, created_at)
    SELECT reference, processor_ref, 'refund', amount, created_at FROM sandbox_refunds;
DROP TABLE sandbox_refunds;
