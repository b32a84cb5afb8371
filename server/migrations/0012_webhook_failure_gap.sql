-- When the subscription's last attempt failed: a failure streak only counts toward disabling
-- while its failures keep coming (a gap longer than the retry schedule's longest wait means no
-- delivery was even tried, so the next failure starts a new streak).
ALTER TABLE webhooks ADD COLUMN last_failure_at BIGINT;
