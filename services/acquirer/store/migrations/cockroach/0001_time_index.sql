-- CockroachDB only (applied after the postgres set): a hash-sharded index
-- for listing payments by time without a single hot range at the newest
-- timestamp. The multi-region layout (REGIONAL BY ROW payments) needs the
-- database's regions first and is applied by the operator: see
-- docs/architecture.md.
CREATE INDEX acq_payments_by_time ON acq_payments (create_time) USING HASH;
