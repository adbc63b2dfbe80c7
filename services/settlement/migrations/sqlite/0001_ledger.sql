-- The ledger is append-only: postings and their entries are never updated.
-- Balances are sums over entries, so no balance row is ever hot.
CREATE TABLE ledger_postings (
	posting_id TEXT PRIMARY KEY,
	payment_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	create_time TIMESTAMP NOT NULL,
	UNIQUE (payment_id, kind)
);
CREATE TABLE ledger_entries (
	posting_id TEXT NOT NULL REFERENCES ledger_postings (posting_id),
	seq INT8 NOT NULL,
	account TEXT NOT NULL,
	side TEXT NOT NULL CHECK (side IN ('D', 'C')),
	currency TEXT NOT NULL,
	minor_units INT8 NOT NULL CHECK (minor_units > 0),
	PRIMARY KEY (posting_id, seq)
);
