-- Signed requests' ids, per caller, kept while a replay could still be
-- inside the accepted time window: a second use is refused.
CREATE TABLE acq_request_ids (
	caller TEXT NOT NULL,
	request_id TEXT NOT NULL,
	expire_time TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (caller, request_id)
);
CREATE INDEX acq_request_ids_expire ON acq_request_ids (expire_time);
