-- The partner's pseudonymous id of the device an MPM payment was made
-- from ('' when it sent none): kept with the payment so that whatever
-- reads the row later (the resolver after a restart, an operator) has
-- what risk was told.
ALTER TABLE acq_payments ADD COLUMN device_ref TEXT NOT NULL DEFAULT '';
