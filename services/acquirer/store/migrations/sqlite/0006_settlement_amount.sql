-- What the partner owes for a payment, and a refund gives back, in the
-- partner's settlement currency (see the postgres set). SQLite cannot add
-- a table constraint, so each column carries its CHECK.
ALTER TABLE acq_payments ADD COLUMN settlement_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_payments ADD COLUMN settlement_minor INT8 NOT NULL DEFAULT 0
	CHECK (settlement_minor >= 0 AND (settlement_currency <> '' OR settlement_minor = 0));
ALTER TABLE acq_refunds ADD COLUMN settlement_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE acq_refunds ADD COLUMN settlement_minor INT8 NOT NULL DEFAULT 0
	CHECK (settlement_minor >= 0 AND (settlement_currency <> '' OR settlement_minor = 0));
