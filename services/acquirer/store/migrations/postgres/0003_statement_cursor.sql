-- How far the relay has read settlement's statements.
CREATE TABLE acq_cursors (
	name TEXT PRIMARY KEY,
	value INT8 NOT NULL
);
