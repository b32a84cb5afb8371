-- Every secret a rotation replaced, each signing beside the current one until its own overlap
-- ends: a second rotation within 24 hours no longer drops the first one's old secret.
CREATE TABLE webhook_previous_secrets (
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    secret     TEXT NOT NULL,
    until_ms   BIGINT NOT NULL,
    rotated_at BIGINT NOT NULL
);
CREATE INDEX webhook_previous_secrets_webhook ON webhook_previous_secrets (webhook_id, until_ms);

-- The one previous secret a row kept until now (sealed under the same per-webhook context).
INSERT INTO webhook_previous_secrets (webhook_id, secret, until_ms, rotated_at)
    SELECT id, previous_secret, previous_until, updated_at FROM webhooks
    WHERE previous_secret IS NOT NULL AND previous_until IS NOT NULL;
UPDATE webhooks SET previous_secret = NULL, previous_until = NULL WHERE previous_secret IS NOT NULL;
