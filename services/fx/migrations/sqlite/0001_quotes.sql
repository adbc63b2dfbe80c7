-- Quotes: one row per quote, locked at most once.
CREATE TABLE fx_quotes (
	quote_id TEXT PRIMARY KEY,
	partner_id TEXT NOT NULL,
	state TEXT NOT NULL,
	merchant_currency TEXT NOT NULL,
	merchant_minor INT8 NOT NULL,
	wallet_currency TEXT NOT NULL,
	wallet_minor INT8 NOT NULL,
	cost_minor INT8 NOT NULL,
	mid_rate TEXT NOT NULL,
	rate TEXT NOT NULL,
	spread_bps INT8 NOT NULL,
	create_time TIMESTAMP NOT NULL,
	expire_time TIMESTAMP NOT NULL,
	payment_id TEXT,
	lock_time TIMESTAMP
);
