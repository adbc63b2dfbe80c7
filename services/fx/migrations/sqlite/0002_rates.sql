-- Quotes priced from live rates: the settlement leg, the cost rate, the
-- direction and the rate legs (JSON) the price was made from. Quotes of
-- 0001 read as settling in the wallet currency.
ALTER TABLE fx_quotes ADD COLUMN settlement_currency TEXT;
ALTER TABLE fx_quotes ADD COLUMN settlement_minor INT8;
ALTER TABLE fx_quotes ADD COLUMN cost_rate TEXT;
ALTER TABLE fx_quotes ADD COLUMN direction TEXT;
ALTER TABLE fx_quotes ADD COLUMN legs TEXT;

-- Every rate the ingesting leader received, kept for audit: what Unigate
-- could have priced from, and what it refused.
CREATE TABLE fx_rate_history (
	id TEXT PRIMARY KEY,
	provider TEXT NOT NULL,
	base_currency TEXT NOT NULL,
	quote_currency TEXT NOT NULL,
	bid TEXT NOT NULL,
	ask TEXT NOT NULL,
	source_time TIMESTAMP NOT NULL,
	receive_time TIMESTAMP NOT NULL,
	rejected TEXT NOT NULL,
	fence INT8 NOT NULL
);
CREATE INDEX fx_rate_history_pair ON fx_rate_history (base_currency, quote_currency, receive_time);

-- The newest ingestion leader's election revision: a deposed leader's
-- writes are refused.
CREATE TABLE fx_fences (
	name TEXT PRIMARY KEY,
	revision INT8 NOT NULL
);
