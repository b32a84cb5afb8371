-- The payment method's type in a column of its own, so lists can filter on it (the dashboard's
-- method filter) with an index. Rows written before take it from their JSON (serde_json writes
-- it without spaces; `account_type` does not match `"type":`).
ALTER TABLE payments ADD COLUMN method_type TEXT;
UPDATE payments SET method_type = 'card' WHERE payment_method LIKE '%"type":"card"%';
UPDATE payments SET method_type = 'ach' WHERE payment_method LIKE '%"type":"ach"%';
UPDATE payments SET method_type = 'apple_pay' WHERE payment_method LIKE '%"type":"apple_pay"%';
CREATE INDEX payments_account_method ON payments (account_uid, method_type, created_at, id);
