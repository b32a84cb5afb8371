-- Hosted checkout: sessions, fee quotes, confirm attempts, payments and their ledger,
-- idempotency records, challenges, the sandbox mail outbox, and the sandbox processor's records.

CREATE TABLE hosted_sessions (
    id                  TEXT PRIMARY KEY,
    account_uid         TEXT NOT NULL REFERENCES payment_accounts (uid),
    status              TEXT NOT NULL,          -- active | processing | completed | expired
    version             BIGINT NOT NULL,        -- bumped by every PATCH: older fee quotes go stale
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    description         TEXT,
    reference           TEXT,
    line_items          TEXT,                   -- JSON array
    tax_amount          BIGINT,
    shipping_amount     BIGINT,
    customer_id         TEXT,
    customer_email      TEXT,
    success_url         TEXT NOT NULL,
    cancel_url          TEXT NOT NULL,
    layout              TEXT NOT NULL,
    allowed_methods     TEXT NOT NULL,          -- JSON array
    setup_future_usage  TEXT NOT NULL,
    required_avs_fields TEXT NOT NULL,          -- JSON array
    locale              TEXT NOT NULL,
    branding            TEXT,                   -- JSON overrides
    fraud_signals       TEXT,                   -- JSON
    metadata            TEXT NOT NULL DEFAULT '{}',
    secret_hash         TEXT NOT NULL,          -- SHA-256 of the client secret
    secret_sealed       TEXT NOT NULL,          -- the client secret, sealed (shown while active)
    confirm_attempts    BIGINT NOT NULL DEFAULT 0,  -- attempts that reached the processor
    processing_attempt  TEXT,                   -- the attempt holding the session in `processing`
    processing_since    BIGINT,
    challenge_satisfied BIGINT NOT NULL DEFAULT 0,
    challenge_window    BIGINT,                 -- start of the current 10-minute send window
    challenge_sends     BIGINT NOT NULL DEFAULT 0,  -- codes sent in that window
    payment_id          TEXT,
    fee_amount          BIGINT,
    total_amount        BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    completed_at        BIGINT
);
CREATE INDEX hosted_sessions_account ON hosted_sessions (account_uid, created_at, id);
CREATE INDEX hosted_sessions_due ON hosted_sessions (status, expires_at);
CREATE INDEX hosted_sessions_processing ON hosted_sessions (status, processing_since);

CREATE TABLE fee_quotes (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES hosted_sessions (id),
    method_type    TEXT NOT NULL,
    card_bin       TEXT,
    funding        TEXT,
    saved_method   TEXT,
    rule_index     BIGINT,                      -- which fee rule applied (NULL: none)
    session_version BIGINT NOT NULL,
    amount         BIGINT NOT NULL,
    fee_amount     BIGINT NOT NULL,
    total_amount   BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    disclosure     TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX fee_quotes_session ON fee_quotes (session_id);

-- One row per confirm that claimed the session; its id is the reference the processor sees,
-- so a crash can be resolved by asking the processor about it.
CREATE TABLE confirm_attempts (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES hosted_sessions (id),
    status      TEXT NOT NULL,                  -- processing | succeeded | declined | abandoned
    request     TEXT NOT NULL,                  -- what recovery needs: quote, method summary, consent
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX confirm_attempts_session ON confirm_attempts (session_id);

CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    account_uid     TEXT NOT NULL REFERENCES payment_accounts (uid),
    status          TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    fee_amount      BIGINT NOT NULL,
    total_amount    BIGINT NOT NULL,
    amount_captured BIGINT NOT NULL DEFAULT 0,
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL,
    payment_method  TEXT NOT NULL,              -- JSON: type, brand, last4, … (never a number)
    avs_result      TEXT,
    decline_code    TEXT,
    session_id      TEXT,
    attempt_id      TEXT UNIQUE,                -- at most one payment per processor attempt
    customer_id     TEXT,
    terminal_id     TEXT,
    processor       TEXT NOT NULL,
    processor_ref   TEXT,
    reference       TEXT,
    description     TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}',
    consent         TEXT,                       -- JSON consent record
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- The duplicate-payment guard: a session can hold at most one payment that did not fail.
CREATE UNIQUE INDEX payments_one_per_session ON payments (session_id) WHERE status <> 'failed';
CREATE INDEX payments_account ON payments (account_uid, created_at, id);
CREATE INDEX payments_status ON payments (status, updated_at);

CREATE TABLE payment_transactions (
    id          TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    position    BIGINT NOT NULL,                -- 1, 2, … within the payment: the ledger's order
    type        TEXT NOT NULL,                  -- authorization | capture | void | refund | settlement | failure
    amount      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX payment_transactions_payment ON payment_transactions (payment_id, position);

-- Idempotency-Key records: the first request's fingerprint and, once done, its exact answer.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,                 -- whose key space (an account's creates, a session's confirms)
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    state        TEXT NOT NULL,                 -- in_progress | done
    status_code  BIGINT,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- One-time codes for the customer challenge (step-up).
CREATE TABLE challenges (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES hosted_sessions (id),
    code_hash   TEXT NOT NULL,
    destination TEXT NOT NULL,
    failures    BIGINT NOT NULL DEFAULT 0,
    verified_at BIGINT,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX challenges_session ON challenges (session_id, created_at);

-- Mail that went nowhere but here (sandbox without SMTP): GET /api/outbox.
CREATE TABLE outbox_messages (
    id         TEXT PRIMARY KEY,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The sandbox processor's own ledger, keyed by the caller's reference (its idempotency key).
CREATE TABLE sandbox_charges (
    reference     TEXT PRIMARY KEY,
    processor_ref TEXT NOT NULL UNIQUE,
    charge        TEXT NOT NULL,                -- JSON: outcome and display details
    behaviour     TEXT NOT NULL,                -- JSON: what the test instrument does
    amount        BIGINT NOT NULL,
    captured      BIGINT NOT NULL DEFAULT 0,
    refunded      BIGINT NOT NULL DEFAULT 0,
    voided        BIGINT NOT NULL DEFAULT 0,
    settle_at     BIGINT,                       -- ACH: when it settles or returns
    created_at    BIGINT NOT NULL
);

CREATE TABLE sandbox_refunds (
    reference     TEXT PRIMARY KEY,             -- the caller's idempotency key for the refund
    processor_ref TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
