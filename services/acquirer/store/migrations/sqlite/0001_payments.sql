-- Payments, keyed by a payment id derived from (partner, partner key), so
-- a retried request maps to the same row. The row is the idempotency
-- record (request_hash) and, with ledger_posted = FALSE on a succeeded
-- payment, the outbox of its ledger posting.
CREATE TABLE acq_payments (
	payment_id TEXT PRIMARY KEY,
	partner_id TEXT NOT NULL,
	partner_payment_id TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	mode TEXT NOT NULL,
	status TEXT NOT NULL,
	user_ref TEXT NOT NULL,
	network_id TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	merchant_name TEXT NOT NULL,
	merchant_city TEXT NOT NULL,
	mcc TEXT NOT NULL,
	merchant_country TEXT NOT NULL,
	merchant_currency TEXT NOT NULL,
	merchant_minor INT8 NOT NULL,
	wallet_currency TEXT NOT NULL,
	wallet_minor INT8 NOT NULL,
	cost_minor INT8 NOT NULL,
	quote_id TEXT NOT NULL,
	rate TEXT NOT NULL,
	network_reference TEXT NOT NULL,
	failure_reason TEXT NOT NULL,
	failure_message TEXT NOT NULL,
	ledger_posted BOOL NOT NULL,
	create_time TIMESTAMP NOT NULL,
	update_time TIMESTAMP NOT NULL,
	UNIQUE (partner_id, partner_payment_id)
);
-- Succeeded payments whose posting has not reached the ledger yet: the
-- poster's queue. Partial, so it holds only the few rows in flight.
CREATE INDEX acq_payments_unposted ON acq_payments (payment_id) WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE;
