-- Portable schema: TEXT and BIGINT only, so one file means the same on SQLite and PostgreSQL.
-- Times are unix milliseconds; JSON is stored as text; booleans as 0/1.

-- Small facts about this installation (e.g. whether the sandbox demo was created).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- OAuth 2.0 app clients of the built-in identity provider (client credentials grant).
CREATE TABLE app_clients (
    client_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,          -- SHA-256 of the secret, hex; the secret is shown once
    scopes      TEXT NOT NULL,          -- space-separated scopes the client may request
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

-- Tenants: the merchant's organisation.
CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    contact_email TEXT,
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX clients_created_at ON clients (created_at, id);

-- One merchant configuration: processor, fees, branding, origins.
CREATE TABLE payment_accounts (
    uid                   TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients (id),
    name                  TEXT NOT NULL,
    currency              TEXT NOT NULL,
    processor_type        TEXT NOT NULL,
    processor_credentials TEXT,         -- AES-256-GCM under the master key; never returned
    enabled_methods       TEXT NOT NULL, -- JSON array
    fee_rules             TEXT NOT NULL, -- JSON array, ordered
    branding              TEXT NOT NULL, -- JSON object
    allowed_origins       TEXT NOT NULL, -- JSON array
    statement_descriptor  TEXT,
    reject_avs_mismatch   BIGINT NOT NULL DEFAULT 0, -- 1: decline cards whose AVS check fails
    redirect_secret       TEXT NOT NULL, -- AES-256-GCM under the master key (needed to sign)
    metadata              TEXT NOT NULL DEFAULT '{}',
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX payment_accounts_client ON payment_accounts (client_id);
CREATE INDEX payment_accounts_created_at ON payment_accounts (created_at, uid);
