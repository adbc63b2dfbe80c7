-- Cycle membership moves out of ledger_postings into its own table, so a
-- posting is never updated: joining a cycle inserts a membership row. The
-- existing memberships are copied here; 0004 drops the old column (in a
-- transaction of its own: CockroachDB refuses DDL after a write).
CREATE TABLE settlement_cycle_postings (
	posting_id TEXT PRIMARY KEY REFERENCES ledger_postings (posting_id),
	cycle_id TEXT NOT NULL CHECK (cycle_id <> '')
);
CREATE INDEX settlement_cycle_postings_cycle ON settlement_cycle_postings (cycle_id);
-- A payment whose cancel was accepted before it settled: no cycle takes its
-- postings until its cancel reversal is posted.
CREATE TABLE settlement_cancel_holds (
	payment_id TEXT PRIMARY KEY CHECK (payment_id <> ''),
	create_time TIMESTAMPTZ NOT NULL
);
-- The elected cutoff writer's fencing token: revision only moves up.
CREATE TABLE settlement_fences (
	name TEXT PRIMARY KEY CHECK (name <> ''),
	revision INT8 NOT NULL CHECK (revision >= 0)
);
INSERT INTO settlement_cycle_postings (posting_id, cycle_id)
	SELECT posting_id, cycle_id FROM ledger_postings WHERE cycle_id IS NOT NULL;
