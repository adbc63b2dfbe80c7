-- ledger_postings loses its one updated column: membership now lives in
-- settlement_cycle_postings (0003). A cycle finds its open postings by
-- creation time.
DROP INDEX ledger_postings_open;
DROP INDEX ledger_postings_cycle;
ALTER TABLE ledger_postings DROP COLUMN cycle_id;
CREATE INDEX ledger_postings_time ON ledger_postings (create_time);
