-- Guard rails for the lifecycle: rows the ledger refuses are set aside
-- (posting_error), refunds know their partner, refund events are rendered
-- from their row, and CHECK constraints keep every status, amount and
-- schedule in its allowed shape. In particular an in-flight row (a payment
-- PROCESSING, or SUCCEEDED with a cancel pending; a refund PROCESSING) is
-- always scheduled for the resolver, and a finished one never is.
ALTER TABLE acq_payments ADD COLUMN posting_error TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_refunds ADD COLUMN partner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_refunds ADD COLUMN posting_error TEXT NOT NULL DEFAULT '';
UPDATE acq_refunds SET partner_id = (SELECT p.partner_id FROM acq_payments p WHERE p.payment_id = acq_refunds.payment_id);
ALTER TABLE acq_events ADD COLUMN refund_id TEXT NOT NULL DEFAULT '';

UPDATE acq_payments SET next_attempt_time = NULL
	WHERE status IN ('FAILED', 'CANCELLED') OR (status = 'SUCCEEDED' AND NOT cancel_requested);
UPDATE acq_payments SET next_attempt_time = update_time
	WHERE next_attempt_time IS NULL AND (status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested));
UPDATE acq_refunds SET next_attempt_time = NULL WHERE status <> 'PROCESSING';
UPDATE acq_refunds SET next_attempt_time = update_time WHERE next_attempt_time IS NULL AND status = 'PROCESSING';

ALTER TABLE acq_payments ADD CONSTRAINT acq_payments_status CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELLED'));
ALTER TABLE acq_payments ADD CONSTRAINT acq_payments_mode CHECK (mode IN ('MPM', 'CPM'));
ALTER TABLE acq_payments ADD CONSTRAINT acq_payments_amounts CHECK (merchant_minor > 0 AND wallet_minor >= 0 AND cost_minor >= 0 AND attempts >= 0);
ALTER TABLE acq_payments ADD CONSTRAINT acq_payments_refunded CHECK (refunded_minor >= 0 AND refunded_minor <= merchant_minor
	AND (refunded_minor = 0 OR (status = 'SUCCEEDED' AND NOT cancel_requested)));
ALTER TABLE acq_payments ADD CONSTRAINT acq_payments_in_flight_scheduled CHECK (
	(status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested)) = (next_attempt_time IS NOT NULL));
ALTER TABLE acq_refunds ADD CONSTRAINT acq_refunds_status CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED'));
ALTER TABLE acq_refunds ADD CONSTRAINT acq_refunds_amounts CHECK (merchant_minor > 0 AND wallet_minor > 0 AND cost_minor >= 0 AND attempts >= 0);
ALTER TABLE acq_refunds ADD CONSTRAINT acq_refunds_in_flight_scheduled CHECK ((status = 'PROCESSING') = (next_attempt_time IS NOT NULL));

-- The poster's queues, oldest change first, without the rows set aside.
DROP INDEX acq_payments_unposted;
CREATE INDEX acq_payments_unposted ON acq_payments (update_time, payment_id)
	WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE AND posting_error = '';
DROP INDEX acq_refunds_unposted;
CREATE INDEX acq_refunds_unposted ON acq_refunds (update_time, refund_id)
	WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE AND posting_error = '';
