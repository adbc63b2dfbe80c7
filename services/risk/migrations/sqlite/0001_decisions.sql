-- One row per evaluated payment: its decision and, if approved and not
-- released, the amount it counts against the user's daily limit.
CREATE TABLE risk_decisions (
	payment_id TEXT PRIMARY KEY,
	partner_id TEXT NOT NULL,
	user_ref TEXT NOT NULL,
	day TEXT NOT NULL,
	currency TEXT NOT NULL,
	minor_units INT8 NOT NULL,
	approved BOOL NOT NULL,
	reason TEXT NOT NULL,
	rule_id TEXT NOT NULL,
	message TEXT NOT NULL,
	released BOOL NOT NULL,
	create_time TIMESTAMP NOT NULL
);
CREATE INDEX risk_decisions_user_day ON risk_decisions (partner_id, user_ref, day);
