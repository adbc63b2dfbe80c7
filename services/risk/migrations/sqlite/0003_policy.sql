-- Decisions as kept for audit: the outcome (a review counts against the
-- limits like an approval), the model's score, every reason, and the rule
-- set and model they were made with.
ALTER TABLE risk_decisions ADD COLUMN outcome TEXT NOT NULL DEFAULT 'APPROVE';
ALTER TABLE risk_decisions ADD COLUMN score_bp INT8 NOT NULL DEFAULT 0;
-- A JSON array of {"rule_id", "action", "shadow", "detail"}.
ALTER TABLE risk_decisions ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE risk_decisions ADD COLUMN device_ref TEXT NOT NULL DEFAULT '';
-- network/merchant_id
ALTER TABLE risk_decisions ADD COLUMN merchant TEXT NOT NULL DEFAULT '';
-- MPM or CPM
ALTER TABLE risk_decisions ADD COLUMN mode TEXT NOT NULL DEFAULT '';
-- The merchant's city, for the travel features a restarted replica rebuilds.
ALTER TABLE risk_decisions ADD COLUMN city TEXT NOT NULL DEFAULT '';
-- The model's features as it scored the payment (comma-separated, in
-- model.FeatureNames' order; '' when the model did not run): what a
-- resolved case's label is trained on.
ALTER TABLE risk_decisions ADD COLUMN features TEXT NOT NULL DEFAULT '';
ALTER TABLE risk_decisions ADD COLUMN rules_version INT8 NOT NULL DEFAULT 0;
ALTER TABLE risk_decisions ADD COLUMN model_version TEXT NOT NULL DEFAULT '';
-- Whether the payment counts in risk_usage (approved, with user limits,
-- for a named user): what Release gives back.
ALTER TABLE risk_decisions ADD COLUMN counted BOOL NOT NULL DEFAULT FALSE;
UPDATE risk_decisions SET counted = TRUE WHERE approved AND NOT released;
-- Declines made before outcomes were stored.
UPDATE risk_decisions SET outcome = 'DECLINE' WHERE NOT approved;
CREATE INDEX risk_decisions_time ON risk_decisions (create_time);
CREATE INDEX risk_decisions_outcome ON risk_decisions (outcome, create_time);

-- The policy every replica applies, changed through the risk API and
-- re-read by every replica within a second of risk_policy_version moving.
-- Rule sets are kept, never updated: the highest version is in force.
CREATE TABLE risk_rule_sets (
	version INT8 PRIMARY KEY CHECK (version > 0),
	-- A JSON array of rules.Rule.
	rules TEXT NOT NULL,
	actor TEXT NOT NULL,
	create_time TIMESTAMP NOT NULL
);
CREATE TABLE risk_list_entries (
	list TEXT NOT NULL CHECK (list IN ('block', 'allow', 'suspend')),
	kind TEXT NOT NULL CHECK (kind IN ('user', 'device', 'merchant', 'mcc', 'partner')),
	value TEXT NOT NULL CHECK (value <> ''),
	note TEXT NOT NULL,
	actor TEXT NOT NULL,
	update_time TIMESTAMP NOT NULL,
	PRIMARY KEY (list, kind, value)
);
-- Limits per partner ('*': every partner without its own), minor units of
-- currency; 0 is no limit.
CREATE TABLE risk_limits (
	partner_id TEXT PRIMARY KEY,
	currency TEXT NOT NULL,
	per_payment INT8 NOT NULL CHECK (per_payment >= 0),
	user_per_payment INT8 NOT NULL CHECK (user_per_payment >= 0),
	user_daily INT8 NOT NULL CHECK (user_daily >= 0),
	user_monthly INT8 NOT NULL CHECK (user_monthly >= 0),
	merchant_daily INT8 NOT NULL CHECK (merchant_daily >= 0),
	partner_daily INT8 NOT NULL CHECK (partner_daily >= 0),
	-- The merchant's and the partner's calendar month, in the risk
	-- service's day zone.
	merchant_monthly INT8 NOT NULL CHECK (merchant_monthly >= 0),
	partner_monthly INT8 NOT NULL CHECK (partner_monthly >= 0),
	actor TEXT NOT NULL,
	update_time TIMESTAMP NOT NULL
);
-- One row, moved by every policy change in the change's transaction: what
-- replicas poll. Changes are rare; payments never write it.
CREATE TABLE risk_policy_version (
	id INT8 PRIMARY KEY CHECK (id = 1),
	version INT8 NOT NULL
);
INSERT INTO risk_policy_version (id, version) VALUES (1, 0);
-- Every policy change, for audit: the version it made.
CREATE TABLE risk_policy_events (
	version INT8 PRIMARY KEY,
	event_time TIMESTAMP NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	detail TEXT NOT NULL
);

-- Each user's approved, unreleased total of the current day and month in
-- one currency: one row per user, so the exact limits are one conditional
-- upsert per payment, never a scan and never a row shared between users.
-- day is YYYY-MM-DD and month YYYY-MM in the risk service's day zone.
CREATE TABLE risk_usage (
	partner_id TEXT NOT NULL,
	user_ref TEXT NOT NULL,
	currency TEXT NOT NULL,
	day TEXT NOT NULL,
	day_used INT8 NOT NULL,
	month TEXT NOT NULL,
	month_used INT8 NOT NULL,
	-- The limits the last payment was checked against (0: none).
	day_limit INT8 NOT NULL DEFAULT 0,
	month_limit INT8 NOT NULL DEFAULT 0,
	PRIMARY KEY (partner_id, user_ref, currency)
);
INSERT INTO risk_usage (partner_id, user_ref, currency, day, day_used, month, month_used)
SELECT d.partner_id, d.user_ref, d.currency, l.last_day,
	SUM(CASE WHEN d.day = l.last_day THEN d.minor_units ELSE 0 END),
	SUBSTR(l.last_day, 1, 7),
	SUM(CASE WHEN SUBSTR(d.day, 1, 7) = SUBSTR(l.last_day, 1, 7) THEN d.minor_units ELSE 0 END)
FROM risk_decisions d JOIN (
	SELECT partner_id, user_ref, currency, MAX(day) AS last_day FROM risk_decisions GROUP BY partner_id, user_ref, currency
) l ON l.partner_id = d.partner_id AND l.user_ref = d.user_ref AND l.currency = d.currency
WHERE d.approved AND NOT d.released
GROUP BY d.partner_id, d.user_ref, d.currency, l.last_day;
