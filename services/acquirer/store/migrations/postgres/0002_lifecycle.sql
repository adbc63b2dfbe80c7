-- The payment lifecycle: CPM, cancels, refunds, resolution of U, events.
ALTER TABLE acq_payments ADD COLUMN merchant_order_id TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_payments ADD COLUMN network_endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_payments ADD COLUMN partner_endpoint TEXT NOT NULL DEFAULT '';
-- credited: the downstream confirmed the money moved (so a cancel reverses
-- a posting); refunded_minor: refunds reserved or done, merchant currency.
ALTER TABLE acq_payments ADD COLUMN credited BOOL NOT NULL DEFAULT FALSE;
ALTER TABLE acq_payments ADD COLUMN refunded_minor INT8 NOT NULL DEFAULT 0;
ALTER TABLE acq_payments ADD COLUMN cancel_requested BOOL NOT NULL DEFAULT FALSE;
-- The resolver's schedule: attempts made and when to try next (NULL: nothing to do).
ALTER TABLE acq_payments ADD COLUMN attempts INT8 NOT NULL DEFAULT 0;
ALTER TABLE acq_payments ADD COLUMN next_attempt_time TIMESTAMPTZ;
CREATE INDEX acq_payments_due ON acq_payments (next_attempt_time) WHERE next_attempt_time IS NOT NULL;
CREATE UNIQUE INDEX acq_payments_order ON acq_payments (network_id, merchant_order_id) WHERE mode = 'CPM';
DROP INDEX acq_payments_unposted;
CREATE INDEX acq_payments_unposted ON acq_payments (payment_id) WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE;

CREATE TABLE acq_refunds (
	refund_id TEXT PRIMARY KEY,
	payment_id TEXT NOT NULL,
	network_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status TEXT NOT NULL,
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
	next_attempt_time TIMESTAMPTZ,
	create_time TIMESTAMPTZ NOT NULL,
	update_time TIMESTAMPTZ NOT NULL,
	UNIQUE (network_id, request_id)
);
CREATE INDEX acq_refunds_payment ON acq_refunds (payment_id);
CREATE INDEX acq_refunds_due ON acq_refunds (next_attempt_time) WHERE next_attempt_time IS NOT NULL;
CREATE INDEX acq_refunds_unposted ON acq_refunds (refund_id) WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE;

-- The transactional outbox of partner events: written in the same
-- transaction as the state change; the relay gives each a per-partner
-- sequence (the partner's cursor).
CREATE TABLE acq_events (
	event_id TEXT PRIMARY KEY,
	partner_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	-- A payment event names its payment and is rendered from the payment's
	-- row when delivered; a refund event carries its refund as it was.
	payment_id TEXT NOT NULL,
	body BYTEA,
	create_time TIMESTAMPTZ NOT NULL,
	sequence INT8
);
CREATE INDEX acq_events_unsequenced ON acq_events (create_time) WHERE sequence IS NULL;
CREATE UNIQUE INDEX acq_events_by_sequence ON acq_events (partner_id, sequence) WHERE sequence IS NOT NULL;
CREATE TABLE acq_event_cursors (
	partner_id TEXT PRIMARY KEY,
	last_sequence INT8 NOT NULL
);

-- Fencing tokens of singleton leaders: a write made as leader checks that
-- its election revision is still the newest.
CREATE TABLE acq_fences (
	name TEXT PRIMARY KEY,
	revision INT8 NOT NULL
);
