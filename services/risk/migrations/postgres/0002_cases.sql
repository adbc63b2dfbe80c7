-- Review cases: a payment decided "review" (or raised by an alert after
-- the fact) opens one case; analysts assign and resolve it with a label.
-- A case's history is its events, never updated. A confirmed fraud may
-- block the user and the device: entries on the block list
-- (risk_list_entries, 0003), written in the resolution's transaction.
CREATE TABLE risk_cases (
	case_id TEXT PRIMARY KEY,
	payment_id TEXT NOT NULL UNIQUE,
	partner_id TEXT NOT NULL,
	user_ref TEXT NOT NULL,
	device_ref TEXT NOT NULL,
	merchant TEXT NOT NULL,
	-- Why it opened: rule ids and the model's top features.
	reasons TEXT NOT NULL,
	-- The model's score in basis points of probability, 0..10000.
	score_bp INT8 NOT NULL CHECK (score_bp BETWEEN 0 AND 10000),
	state TEXT NOT NULL CHECK (state IN ('OPEN', 'ASSIGNED', 'RESOLVED')),
	assignee TEXT NOT NULL,
	label TEXT NOT NULL CHECK (label IN ('', 'FRAUD', 'LEGITIMATE')),
	resolution TEXT NOT NULL,
	create_time TIMESTAMPTZ NOT NULL,
	update_time TIMESTAMPTZ NOT NULL
);
CREATE INDEX risk_cases_state ON risk_cases (state, create_time);
CREATE TABLE risk_case_events (
	case_id TEXT NOT NULL REFERENCES risk_cases (case_id),
	seq INT8 NOT NULL,
	event_time TIMESTAMPTZ NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	detail TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
);
