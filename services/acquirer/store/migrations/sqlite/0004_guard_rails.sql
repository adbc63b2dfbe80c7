-- Guard rails for the lifecycle (see the postgres set): SQLite cannot add
-- a CHECK constraint to a table, so both tables are rebuilt with theirs.
ALTER TABLE acq_events ADD COLUMN refund_id TEXT NOT NULL DEFAULT '';

CREATE TABLE acq_payments_new (
	payment_id TEXT PRIMARY KEY,
	partner_id TEXT NOT NULL,
	partner_payment_id TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	mode TEXT NOT NULL CHECK (mode IN ('MPM', 'CPM')),
	status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
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
	merchant_order_id TEXT NOT NULL DEFAULT '',
	network_endpoint TEXT NOT NULL DEFAULT '',
	partner_endpoint TEXT NOT NULL DEFAULT '',
	credited BOOL NOT NULL DEFAULT FALSE,
	refunded_minor INT8 NOT NULL DEFAULT 0,
	cancel_requested BOOL NOT NULL DEFAULT FALSE,
	attempts INT8 NOT NULL DEFAULT 0,
	next_attempt_time TIMESTAMP,
	posting_error TEXT NOT NULL DEFAULT '',
	UNIQUE (partner_id, partner_payment_id),
	CONSTRAINT acq_payments_amounts CHECK (merchant_minor > 0 AND wallet_minor >= 0 AND cost_minor >= 0 AND attempts >= 0),
	CONSTRAINT acq_payments_refunded CHECK (refunded_minor >= 0 AND refunded_minor <= merchant_minor
		AND (refunded_minor = 0 OR (status = 'SUCCEEDED' AND NOT cancel_requested))),
	CONSTRAINT acq_payments_in_flight_scheduled CHECK (
		(status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested)) = (next_attempt_time IS NOT NULL))
);
INSERT INTO acq_payments_new SELECT payment_id, partner_id, partner_payment_id, request_hash, mode, status, user_ref,
	network_id, merchant_id, merchant_name, merchant_city, mcc, merchant_country, merchant_currency, merchant_minor,
	wallet_currency, wallet_minor, cost_minor, quote_id, rate, network_reference, failure_reason, failure_message,
	ledger_posted, create_time, update_time, merchant_order_id, network_endpoint, partner_endpoint, credited,
	refunded_minor, cancel_requested, attempts,
	CASE
		WHEN status IN ('FAILED', 'CANCELLED') OR (status = 'SUCCEEDED' AND NOT cancel_requested) THEN NULL
		ELSE COALESCE(next_attempt_time, update_time)
	END, ''
	FROM acq_payments;
DROP TABLE acq_payments;
ALTER TABLE acq_payments_new RENAME TO acq_payments;
CREATE INDEX acq_payments_due ON acq_payments (next_attempt_time) WHERE next_attempt_time IS NOT NULL;
CREATE UNIQUE INDEX acq_payments_order ON acq_payments (network_id, merchant_order_id) WHERE mode = 'CPM';
CREATE INDEX acq_payments_unposted ON acq_payments (update_time, payment_id)
	WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE AND posting_error = '';

CREATE TABLE acq_refunds_new (
	refund_id TEXT PRIMARY KEY,
	payment_id TEXT NOT NULL,
	partner_id TEXT NOT NULL,
	network_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED')),
	merchant_currency TEXT NOT NULL,
	merchant_minor INT8 NOT NULL,
	wallet_currency TEXT NOT NULL,
	wallet_minor INT8 NOT NULL,
	cost_minor INT8 NOT NULL,
	partner_reference TEXT NOT NULL,
	failure_reason TEXT NOT NULL,
	failure_message TEXT NOT NULL,
	ledger_posted BOOL NOT NULL,
	attempts INT8 NOT NULL,
	next_attempt_time TIMESTAMP,
	create_time TIMESTAMP NOT NULL,
	update_time TIMESTAMP NOT NULL,
	posting_error TEXT NOT NULL DEFAULT '',
	UNIQUE (network_id, request_id),
	CONSTRAINT acq_refunds_amounts CHECK (merchant_minor > 0 AND wallet_minor > 0 AND cost_minor >= 0 AND attempts >= 0),
	CONSTRAINT acq_refunds_in_flight_scheduled CHECK ((status = 'PROCESSING') = (next_attempt_time IS NOT NULL))
);
INSERT INTO acq_refunds_new SELECT r.refund_id, r.payment_id, COALESCE(p.partner_id, ''), r.network_id, r.request_id,
	r.request_hash, r.status, r.merchant_currency, r.merchant_minor, r.wallet_currency, r.wallet_minor, r.cost_minor,
	r.partner_reference, r.failure_reason, r.failure_message, r.ledger_posted, r.attempts,
	CASE WHEN r.status = 'PROCESSING' THEN COALESCE(r.next_attempt_time, r.update_time) END,
	r.create_time, r.update_time, ''
	FROM acq_refunds r LEFT JOIN acq_payments p ON p.payment_id = r.payment_id;
DROP TABLE acq_refunds;
ALTER TABLE acq_refunds_new RENAME TO acq_refunds;
CREATE INDEX acq_refunds_payment ON acq_refunds (payment_id);
CREATE INDEX acq_refunds_due ON acq_refunds (next_attempt_time) WHERE next_attempt_time IS NOT NULL;
CREATE INDEX acq_refunds_unposted ON acq_refunds (update_time, refund_id)
	WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE AND posting_error = '';
