-- Reconciliation: a run compares a counterparty's file with one statement.
-- The same file (by SHA-256) is the same run. A run's breaks are kept as
-- found (recon_run_breaks, never updated); recon_breaks holds each
-- movement's break across runs, open until a later run no longer finds it
-- or an operator resolves it with a reason. statement_id names a partner's
-- statement or a network statement (settlement_network_statements).
CREATE TABLE recon_runs (
	run_id TEXT PRIMARY KEY,
	statement_id TEXT NOT NULL,
	file_name TEXT NOT NULL,
	sha256 TEXT NOT NULL CHECK (sha256 <> ''),
	row_count INT8 NOT NULL,
	matched INT8 NOT NULL,
	mismatched INT8 NOT NULL,
	missing_in_unigate INT8 NOT NULL,
	missing_at_counterparty INT8 NOT NULL,
	cleared INT8 NOT NULL,
	create_time TIMESTAMPTZ NOT NULL,
	actor TEXT NOT NULL,
	UNIQUE (statement_id, sha256)
);
CREATE TABLE recon_run_breaks (
	run_id TEXT NOT NULL REFERENCES recon_runs (run_id),
	seq INT8 NOT NULL,
	payment_id TEXT NOT NULL,
	reversal_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	detail TEXT NOT NULL,
	line INT8 NOT NULL,
	PRIMARY KEY (run_id, seq)
);
CREATE TABLE recon_breaks (
	break_id TEXT PRIMARY KEY,
	statement_id TEXT NOT NULL,
	payment_id TEXT NOT NULL,
	reversal_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	detail TEXT NOT NULL,
	line INT8 NOT NULL,
	first_run_id TEXT NOT NULL,
	last_run_id TEXT NOT NULL,
	create_time TIMESTAMPTZ NOT NULL,
	resolve_time TIMESTAMPTZ,
	resolved_by TEXT NOT NULL,
	resolution TEXT NOT NULL,
	UNIQUE (statement_id, payment_id, reversal_id)
);
CREATE INDEX recon_breaks_open ON recon_breaks (create_time) WHERE resolve_time IS NULL;
