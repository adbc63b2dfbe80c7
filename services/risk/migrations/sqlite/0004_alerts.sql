-- Alerts raised after the fact by rules over many payments: one per rule,
-- subject and hour, each with the review case it opened ('' until then).
CREATE TABLE risk_alerts (
	alert_id TEXT PRIMARY KEY,
	rule_id TEXT NOT NULL,
	scope TEXT NOT NULL CHECK (scope IN ('merchant', 'user')),
	subject TEXT NOT NULL,
	partner_id TEXT NOT NULL,
	detail TEXT NOT NULL,
	window_end TIMESTAMP NOT NULL,
	case_id TEXT NOT NULL,
	create_time TIMESTAMP NOT NULL
);
CREATE INDEX risk_alerts_owed ON risk_alerts (case_id);
