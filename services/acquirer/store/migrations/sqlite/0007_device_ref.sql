-- The partner's pseudonymous id of the device an MPM payment was made
-- from ('' when it sent none; see the postgres set).
ALTER TABLE acq_payments ADD COLUMN device_ref TEXT NOT NULL DEFAULT '';
