// Package audit keeps an append-only, hash-chained log of money-moving and
// operator actions: who did what to which payment, route or cycle, with
// which outcome, and the state before and after.
//
// # Writing and linking are separate
//
// A writer records an action with Append, which inserts one row and
// nothing else. It takes a sqlstore.Querier, so the entry can be written
// in the same transaction as the change it describes: both commit or
// neither does. The row is written unchained — no sequence number, no
// hashes.
//
// A single elected process, the linker, later chains the new rows with
// Chain (or its loop, Run): in one transaction it reads the last linked
// entry, takes the oldest unchained rows in (time, id) order, and gives
// each the next sequence number, the previous entry's hash as prev_hash
// and its own hash. The first entry's prev_hash is 64 zeros (ZeroHash).
//
// Linking on the write path instead would make every audited action read
// and advance the chain's head: one hot row that every payment, refund and
// operator command in the switch would serialize on, across regions on
// CockroachDB, and a retry or an abort for each collision. With a separate
// linker, writers only insert rows under random ids and never contend; the
// head is touched by one process, in batches. The price is a window
// between an entry's write and its link, bounded by the linker's period
// (Run's interval, plus a failover when the leader dies): an unlinked
// entry is protected only by the database's access control. Once linked,
// an entry's hash covers its own fields and, through prev_hash, every
// entry before it, so changing any linked entry breaks the chain from that
// entry on.
//
// The linker is elected and fenced like the acquirer's event relay: pass
// WithFence with a check of the election's fencing token, run inside
// Chain's transaction, so a deposed linker cannot link after its
// successor has started. Even unfenced, two linkers cannot fork the
// chain: seq is unique, so one of them fails.
//
// Chain order is the order of linking, not strictly of time: an entry
// written in a transaction that commits late is linked after entries with
// later times.
//
// # The hash
//
// An entry's hash is the lowercase hex SHA-256 of a canonical encoding
// with no ambiguity: each field as an 8-byte big-endian length followed
// by its bytes, in this order:
//
//	"unigate.audit.v1"  (the encoding's version)
//	seq                 (decimal)
//	prev_hash
//	entry id
//	time                (UTC, RFC 3339 with nanoseconds, trailing zeros dropped)
//	actor
//	action
//	subject
//	outcome
//	before              (JSON bytes as stored; empty when absent)
//	after               (likewise)
//	trace id
//
// Before and After are stored as TEXT, not JSONB, so the bytes hashed are
// the bytes stored and read back. Times are kept to the microsecond.
//
// # Verifying
//
// Verify walks the linked entries in sequence order and recomputes every
// hash. It finds an edited field (hash mismatch), a deleted entry
// (sequence gap), an entry inserted or moved into the chain (prev_hash
// does not link, or hash mismatch) and a changed hash, and reports the
// first entry that fails. `unigatectl audit verify` runs it.
//
// What the chain cannot show on its own: the hash has no key, so someone
// who can write the table can drop entries from the end, rewrite the tail
// and recompute its hashes, or append entries with correct hashes. The
// first two are caught against a (Report.Entries, Report.Head) pair
// recorded outside the database: a later Verify must find at least that
// many entries, and the entry at that sequence (List) must still carry that
// hash. Forged appends need a keyed hash or an external witness of each
// entry, which this package does not provide. Nor does it protect an entry
// in the window before it is linked.
package audit
