-- The chain's identity and the linker's fence (see the PostgreSQL
-- migration).
CREATE TABLE audit_meta (
	chain_id TEXT PRIMARY KEY
);
INSERT INTO audit_meta (chain_id) VALUES (lower(hex(randomblob(16))));
CREATE TABLE audit_fences (
	name TEXT PRIMARY KEY,
	revision INT8 NOT NULL
);
