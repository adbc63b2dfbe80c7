-- The audit log. Writers insert rows unchained (seq NULL, hashes empty),
-- usually in the transaction of the change they record. The elected linker
-- (audit.Chain) later gives each row its place in the chain: seq, the hash
-- of the row before it, and its own hash. before_json and after_json are
-- TEXT, not JSONB, so the bytes hashed are the bytes stored.
CREATE TABLE audit_log (
	entry_id TEXT PRIMARY KEY,
	create_time TIMESTAMP NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	subject TEXT NOT NULL,
	outcome TEXT NOT NULL,
	before_json TEXT,
	after_json TEXT,
	trace_id TEXT NOT NULL,
	seq INT8 NULL UNIQUE,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	-- A row is either unchained or fully chained, never half of each.
	CONSTRAINT audit_log_chained CHECK (
		(seq IS NULL AND prev_hash = '' AND hash = '')
		OR (seq > 0 AND length(prev_hash) = 64 AND length(hash) = 64))
);
-- The linker's queue: partial, so it holds only the rows written since the
-- linker's last pass.
CREATE INDEX audit_log_unchained ON audit_log (create_time, entry_id) WHERE seq IS NULL;
