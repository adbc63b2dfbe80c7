-- What the partner owes for a payment, and a refund gives back, in the
-- partner's settlement currency, fixed by the payment's quote; cost_minor
-- is in that currency from now on. A row from before settlement
-- currencies has settlement_currency '' and reads as settling in its
-- wallet's currency: settlement amount = wallet amount (its cost was in
-- that currency).
ALTER TABLE acq_payments ADD COLUMN settlement_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_payments ADD COLUMN settlement_minor INT8 NOT NULL DEFAULT 0;
ALTER TABLE acq_refunds ADD COLUMN settlement_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_refunds ADD COLUMN settlement_minor INT8 NOT NULL DEFAULT 0;
ALTER TABLE acq_payments ADD CONSTRAINT acq_payments_settlement CHECK (settlement_minor >= 0 AND (settlement_currency <> '' OR settlement_minor = 0));
ALTER TABLE acq_refunds ADD CONSTRAINT acq_refunds_settlement CHECK (settlement_minor >= 0 AND (settlement_currency <> '' OR settlement_minor = 0));
