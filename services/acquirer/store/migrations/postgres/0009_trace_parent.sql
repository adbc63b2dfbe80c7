-- The W3C traceparent of the request that created the payment ('' when it
-- was not traced): the resolver and the poster continue its trace from it,
-- so that a payment's trace shows the work done for it after the request.
ALTER TABLE acq_payments ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
