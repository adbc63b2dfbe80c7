// Package store keeps the acquirer's payments, refunds and partner events
// in SQL (PostgreSQL/CockroachDB, or the embedded SQLite), implementing
// acquirer.Store.
//
// Every state change is a named transition — one conditional UPDATE …
// RETURNING that names the states it applies from, with the partner event
// it causes written in the same statement (data-modifying CTEs on
// PostgreSQL and CockroachDB) or the same transaction (SQLite). A
// transition made by an elected singleton carries its fence: the fence
// row is read in the same SERIALIZABLE transaction as the write, so a
// leader that was replaced can write nothing. CHECK constraints in the
// schema keep statuses, amounts and schedules in their allowed shape, and
// CheckInvariants verifies the rest with queries.
package store
