-- Settlement cycles: a posting joins the cycle that closes after it; a
-- statement per partner and currency nets the cycle's receivable entries.
ALTER TABLE ledger_postings ADD COLUMN cycle_id TEXT;
CREATE INDEX ledger_postings_open ON ledger_postings (create_time) WHERE cycle_id IS NULL;
CREATE INDEX ledger_postings_cycle ON ledger_postings (cycle_id);
CREATE TABLE settlement_cycles (
	cycle_id TEXT PRIMARY KEY,
	cutoff TIMESTAMP NOT NULL,
	close_time TIMESTAMP NOT NULL,
	postings INT8 NOT NULL
);
CREATE TABLE settlement_statements (
	statement_id TEXT PRIMARY KEY,
	sequence INT8 NOT NULL UNIQUE,
	cycle_id TEXT NOT NULL,
	partner_id TEXT NOT NULL,
	currency TEXT NOT NULL,
	net_minor INT8 NOT NULL,
	postings INT8 NOT NULL,
	cutoff TIMESTAMP NOT NULL,
	UNIQUE (cycle_id, partner_id, currency)
);
