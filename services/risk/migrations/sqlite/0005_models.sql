-- Models put in force through the risk API (PutModel): each one loaded
-- before it is stored, kept whole so that every replica can read it. The
-- newest (the highest seq) is in force; the committed model is until one
-- is stored. seq is the policy version that stored it: putting a stored
-- model again gives it the new version, so that it is the newest again.
CREATE TABLE risk_models (
	seq INT8 PRIMARY KEY CHECK (seq > 0),
	-- "sha256:" and the first 12 hex digits of the file's SHA-256
	-- (model.Model.ID), as decisions record it.
	model_id TEXT NOT NULL UNIQUE,
	-- The file as put: XGBoost 1.x JSON.
	body BLOB NOT NULL,
	xgboost_version TEXT NOT NULL,
	trees INT8 NOT NULL,
	size_bytes INT8 NOT NULL,
	note TEXT NOT NULL,
	actor TEXT NOT NULL,
	create_time TIMESTAMP NOT NULL
);
