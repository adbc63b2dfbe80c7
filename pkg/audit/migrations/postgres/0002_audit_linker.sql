-- The chain's identity and the linker's fence. Services that share a
-- database share its audit log; they elect one linker for it by the
-- chain's id (audit.ChainID), whichever service they are, and the elected
-- linker claims its election's revision here so that a deposed linker
-- links nothing after its successor started (audit.ClaimFence).
CREATE TABLE audit_meta (
	chain_id TEXT PRIMARY KEY
);
INSERT INTO audit_meta (chain_id) VALUES (md5(random()::TEXT || clock_timestamp()::TEXT));
CREATE TABLE audit_fences (
	name TEXT PRIMARY KEY,
	revision INT8 NOT NULL
);
