-- The dashboard's Home sums refunds by the day they were made (whenever their payment was),
-- from the ledger. Only refund lines enter this index: a confirm's own ledger lines (its
-- authorization and capture) do not add an entry to it.
CREATE INDEX payment_transactions_refunds ON payment_transactions (created_at) WHERE type = 'refund';
