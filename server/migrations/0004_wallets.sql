-- Wallet sessions: a short-lived credential (ws_…) for a customer to manage saved methods.
CREATE TABLE wallet_sessions (
    id          TEXT PRIMARY KEY,
    account_uid TEXT NOT NULL REFERENCES payment_accounts (uid),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    return_url  TEXT NOT NULL,
    locale      TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX wallet_sessions_customer ON wallet_sessions (customer_id);
