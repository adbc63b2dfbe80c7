-- Cycles per partner. A posting records its partner and merchant network
-- (0007 fills them in for the postings made before), so that a partner's
-- cycle finds its own postings by an index (0008). A cycle names its
-- partner, or '' for an operator's close of every partner at once. Each
-- cycle's mirror statements say what Unigate owes each merchant network
-- for the cycle's payments: networks are paid as their partners' cycles
-- settle.
ALTER TABLE ledger_postings ADD COLUMN partner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger_postings ADD COLUMN network_id TEXT NOT NULL DEFAULT '';
ALTER TABLE settlement_cycles ADD COLUMN partner_id TEXT NOT NULL DEFAULT '';
CREATE TABLE settlement_network_statements (
	statement_id TEXT PRIMARY KEY,
	cycle_id TEXT NOT NULL REFERENCES settlement_cycles (cycle_id),
	network_id TEXT NOT NULL,
	currency TEXT NOT NULL,
	-- Credit-positive: what Unigate owes the network (negative: is owed).
	net_minor INT8 NOT NULL,
	postings INT8 NOT NULL,
	cutoff TIMESTAMPTZ NOT NULL,
	UNIQUE (cycle_id, network_id, currency)
);
