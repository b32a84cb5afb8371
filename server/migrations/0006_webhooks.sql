-- Webhook subscriptions and the deliveries of every event to them.

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    account_uid     TEXT NOT NULL REFERENCES payment_accounts (uid),
    url             TEXT NOT NULL,
    all_events      BIGINT NOT NULL,         -- 1: subscribed to every type ("*")
    enabled         BIGINT NOT NULL,
    description     TEXT,
    secret          TEXT NOT NULL,           -- whsec_…, AES-256-GCM sealed
    previous_secret TEXT,                    -- the one before a rotation, sealed; also signs until:
    previous_until  BIGINT,
    disabled_reason TEXT,
    failing_since   BIGINT,                  -- first failed attempt since the last success
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX webhooks_account ON webhooks (account_uid, created_at, id);

-- The event types a subscription takes (when not all of them).
CREATE TABLE webhook_event_types (
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    event_type TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event_type)
);
CREATE INDEX webhook_event_types_type ON webhook_event_types (event_type);

-- One event to one subscription; written in the transaction that writes the event.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,        -- wd_…
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id),
    account_uid     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL,           -- pending | succeeded | failed
    attempts        TEXT NOT NULL DEFAULT '[]', -- JSON: [{at, response_status, duration_ms, error, response_body}]
    attempt_count   BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,                  -- while pending
    lease_until     BIGINT,                  -- a process is attempting it until then
    leased_by       TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
