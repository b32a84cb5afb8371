-- Identity provider keys, account API keys, customers and their saved methods, and the event
-- outbox every change writes to in its own transaction.

-- RS256 signing keys of the built-in identity provider. The private key is sealed under the
-- master key; the public parts are published in the JWKS while tokens it signed may live.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,   -- PKCS#1 DER, AES-256-GCM sealed
    public_n    TEXT NOT NULL,   -- base64url modulus
    public_e    TEXT NOT NULL,   -- base64url exponent
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT           -- no longer signs; still published until its tokens expire
);
CREATE INDEX signing_keys_active ON signing_keys (retired_at, created_at);

-- Account API keys (gk_…): shown once, kept as a SHA-256 hash.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_uid  TEXT NOT NULL REFERENCES payment_accounts (uid),
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    label        TEXT NOT NULL,
    scopes       TEXT NOT NULL,  -- space-separated
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_uid, created_at);

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    account_uid TEXT NOT NULL REFERENCES payment_accounts (uid),
    email       TEXT,
    name        TEXT,
    phone       TEXT,
    reference   TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX customers_account ON customers (account_uid, created_at, id);
CREATE INDEX customers_email ON customers (account_uid, email);

-- Saved payment methods: what can be shown (brand, last 4, expiry) and the processor's token,
-- sealed. Never a card number.
CREATE TABLE payment_methods (
    id              TEXT PRIMARY KEY,
    account_uid     TEXT NOT NULL REFERENCES payment_accounts (uid),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    type            TEXT NOT NULL,   -- card | ach
    brand           TEXT,
    last4           TEXT NOT NULL,
    exp_month       BIGINT,
    exp_year        BIGINT,
    funding         TEXT,
    bank_name       TEXT,
    account_type    TEXT,
    usage           TEXT NOT NULL,   -- on_session | off_session
    fingerprint     TEXT NOT NULL,
    processor_token TEXT NOT NULL,   -- AES-256-GCM sealed
    created_at      BIGINT NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX payment_methods_customer ON payment_methods (customer_id, created_at);

-- The transactional outbox: one row per event, written with the change it reports.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    account_uid TEXT NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,       -- the resource as the API shows it (JSON)
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_account ON events (account_uid, created_at, id);

-- The sandbox processor's own records: what it tokenized (never the card number: the test
-- behaviour and display details only).
CREATE TABLE sandbox_tokens (
    token      TEXT PRIMARY KEY,
    behaviour  TEXT NOT NULL,
    details    TEXT NOT NULL,        -- JSON: brand, last4, funding, …
    created_at BIGINT NOT NULL
);
