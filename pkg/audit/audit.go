package audit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the audit log's schema: the table audit_log.
var Migrations = sqlstore.Migrations{Component: "audit", FS: migrationsFS, Dir: "migrations"}

// ZeroHash is the prev_hash of the first entry of the chain.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashVersion is the first field of every hashed encoding, so that a later
// encoding can never collide with this one.
const hashVersion = "unigate.audit.v1"

var (
	// ErrInvalid is returned by Append for an entry it refuses to write,
	// and by Chain and List for a limit that is not positive.
	ErrInvalid = errors.New("audit: invalid argument")
	// ErrConcurrentLink is returned by Chain when an entry it was linking
	// was linked by someone else in the meantime: two linkers ran at once.
	// Nothing is written; the next pass starts from the new end.
	ErrConcurrentLink = errors.New("audit: entry linked concurrently")
)

// Entry is one record of the audit log: who (Actor) did what (Action) to
// what (Subject), with which result (Outcome), and the state of the
// subject before and after as JSON.
type Entry struct {
	// ID identifies the entry; Append makes a random one when it is empty.
	ID string `json:"id"`
	// Time is when the action happened, kept to the microsecond in UTC;
	// Append uses the current time when it is zero.
	Time time.Time `json:"time"`
	// Actor is "<kind>:<name>": "partner:hipay", "network:cnsim",
	// "operator:alice", "service:acquirer-resolver".
	Actor string `json:"actor"`
	// Action is "<area>.<verb>": "payment.pay", "refund.create",
	// "routing.put_partner", "cycle.close", "auth.denied".
	Action string `json:"action"`
	// Subject is what the action was on, typically a payment id; it may
	// be empty.
	Subject string `json:"subject"`
	// Outcome is "ok" or "refused:<REASON>".
	Outcome string `json:"outcome"`
	// Before and After are the subject's state around the action, as
	// JSON; either may be nil. They are stored and hashed byte for byte.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// TraceID ties the entry to the request's trace; it may be empty.
	TraceID string `json:"trace_id,omitempty"`

	// Seq, PrevHash and Hash are set by Chain: the entry's place in the
	// chain (from 1), the Hash of the entry before it (ZeroHash for the
	// first), and the hex SHA-256 of its canonical encoding. They are
	// zero for an entry not linked yet.
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Append writes e unchained: the linker (Chain) gives it its place in the
// chain later. q is a *sqlstore.Tx to record e atomically with the change
// it describes — a rolled-back transaction leaves no entry — or a
// *sqlstore.DB to write it on its own. Append only inserts, so writers
// never contend on a shared row.
//
// Append returns ErrInvalid (wrapped) when Actor, Action or Outcome is
// empty, Before or After is not valid JSON, or a chain field is set; a
// repeated ID is a unique violation (sqlstore.IsUniqueViolation).
func Append(ctx context.Context, q sqlstore.Querier, e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	if e.ID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		e.ID = hex.EncodeToString(b[:])
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	_, err := q.ExecContext(ctx, `INSERT INTO audit_log (entry_id, create_time, actor, action, subject, outcome,
		before_json, after_json, trace_id, seq, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, '', '')`,
		e.ID, e.Time, e.Actor, e.Action, e.Subject, e.Outcome, nullJSON(e.Before), nullJSON(e.After), e.TraceID)
	if err != nil {
		return fmt.Errorf("audit: append %s %s: %w", e.Action, e.Subject, err)
	}
	return nil
}

func (e Entry) validate() error {
	switch {
	case e.Actor == "":
		return fmt.Errorf("%w: actor is required", ErrInvalid)
	case e.Action == "":
		return fmt.Errorf("%w: action is required", ErrInvalid)
	case e.Outcome == "":
		return fmt.Errorf("%w: outcome is required", ErrInvalid)
	case len(e.Before) > 0 && !json.Valid(e.Before):
		return fmt.Errorf("%w: before is not valid JSON", ErrInvalid)
	case len(e.After) > 0 && !json.Valid(e.After):
		return fmt.Errorf("%w: after is not valid JSON", ErrInvalid)
	case e.Seq != 0 || e.PrevHash != "" || e.Hash != "":
		return fmt.Errorf("%w: seq, prev_hash and hash are set by Chain, not by the writer", ErrInvalid)
	}
	return nil
}

func nullJSON(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// ChainOption configures Chain and Run.
type ChainOption func(*chainOptions)

type chainOptions struct {
	fence func(ctx context.Context, tx *sqlstore.Tx) error
}

// WithFence makes Chain call check inside its transaction before linking
// anything; an error from check aborts the pass and is returned as is.
// The elected linker passes a check of its election's fencing token, so a
// deposed linker cannot link after its successor has started.
func WithFence(check func(ctx context.Context, tx *sqlstore.Tx) error) ChainOption {
	return func(o *chainOptions) { o.fence = check }
}

const entryColumns = `entry_id, create_time, actor, action, subject, outcome, before_json, after_json, trace_id, seq, prev_hash, hash`

// Chain links up to limit unchained entries in one transaction: after the
// last linked entry, in (Time, ID) order, each gets the next Seq, the
// previous entry's Hash as PrevHash, and its own Hash. It returns how many
// it linked. Only one process should run it (the elected linker, see
// WithFence); two at once cannot fork the chain — seq is unique, and the
// loser fails with a unique violation, a serialization failure or
// ErrConcurrentLink — but they waste each other's work.
func Chain(ctx context.Context, db *sqlstore.DB, limit int, opts ...ChainOption) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: chain limit %d is not positive", ErrInvalid, limit)
	}
	var o chainOptions
	for _, opt := range opts {
		opt(&o)
	}
	n := 0
	err := db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		n = 0
		if o.fence != nil {
			if err := o.fence(ctx, tx); err != nil {
				return err
			}
		}
		last, prev := int64(0), ZeroHash
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		entries, err := query(ctx, tx, `SELECT `+entryColumns+` FROM audit_log
			WHERE seq IS NULL ORDER BY create_time, entry_id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		for i := range entries {
			e := &entries[i]
			last++
			e.Seq, e.PrevHash = last, prev
			e.Hash = e.computeHash()
			prev = e.Hash
		}
		if err := link(ctx, tx, entries); err != nil {
			return err
		}
		n = len(entries)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: chain: %w", err)
	}
	return n, nil
}

// link writes the entries' seq and hashes, each only if no one linked it
// first (else ErrConcurrentLink): on PostgreSQL and CockroachDB in one
// statement over arrays, on SQLite, which has none, one statement each.
func link(ctx context.Context, tx *sqlstore.Tx, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if tx.Dialect() != sqlstore.SQLite {
		ids, seqs, prevs, hashes := make([]string, len(entries)), make([]int64, len(entries)), make([]string, len(entries)), make([]string, len(entries))
		for i, e := range entries {
			ids[i], seqs[i], prevs[i], hashes[i] = e.ID, e.Seq, e.PrevHash, e.Hash
		}
		res, err := tx.ExecContext(ctx, `UPDATE audit_log SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
			FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS INT8[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[])) AS v (entry_id, seq, prev_hash, hash)
			WHERE audit_log.entry_id = v.entry_id AND audit_log.seq IS NULL`, ids, seqs, prevs, hashes)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k != int64(len(entries)) {
			return fmt.Errorf("%w: %d of %d entries", ErrConcurrentLink, int64(len(entries))-k, len(entries))
		}
		return nil
	}
	for _, e := range entries {
		res, err := tx.ExecContext(ctx, `UPDATE audit_log SET seq = $1, prev_hash = $2, hash = $3 WHERE entry_id = $4 AND seq IS NULL`,
			e.Seq, e.PrevHash, e.Hash, e.ID)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k != 1 {
			return fmt.Errorf("%w: %s", ErrConcurrentLink, e.ID)
		}
	}
	return nil
}

// runBatch is how many entries Run links per transaction.
const runBatch = 500

// Run links new entries now and then every interval, until ctx ends: the
// elected linker's loop, run under its term's context. A pass that fills
// a batch is followed at once by another. Errors — a lost fence included —
// go to onErr (which may be nil) and the loop carries on; the caller ends
// it by cancelling ctx. every must be positive.
func Run(ctx context.Context, db *sqlstore.DB, every time.Duration, onErr func(error), opts ...ChainOption) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := Chain(ctx, db, runBatch, opts...)
			if err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
			if err != nil || n < runBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Report is the result of Verify.
type Report struct {
	// Entries is how many linked entries were found intact: all of them
	// when the chain is intact, those before FirstBroken otherwise.
	Entries int64
	// FirstBroken is the Seq of the first entry that fails verification
	// (for a gap, the missing Seq); 0 when the chain is intact.
	FirstBroken int64
	// Reason says why FirstBroken fails: "sequence gap", "unexpected
	// sequence N", "prev_hash does not link" or "hash mismatch".
	Reason string
	// Head is the Hash of the last intact entry (ZeroHash for an empty
	// chain). Recorded outside the database, (Entries, Head) lets a later
	// Verify show that the log was not truncated or rewritten since.
	Head string
}

// verifyPage is how many entries Verify reads per query.
const verifyPage = 1000

// Verify walks the linked entries in Seq order and recomputes each hash,
// stopping at the first entry that does not verify. Entries not linked
// yet are not part of the chain and are not checked. The error is for a
// failed read only; a broken chain is reported in Report.
func Verify(ctx context.Context, q sqlstore.Querier) (Report, error) {
	r := Report{Head: ZeroHash}
	after := int64(math.MinInt64)
	for {
		page, err := query(ctx, q, `SELECT `+entryColumns+` FROM audit_log
			WHERE seq IS NOT NULL AND seq > $1 ORDER BY seq LIMIT $2`, after, verifyPage)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		for _, e := range page {
			next := r.Entries + 1
			switch {
			case e.Seq > next:
				r.FirstBroken, r.Reason = next, "sequence gap"
			case e.Seq < next:
				r.FirstBroken, r.Reason = next, "unexpected sequence "+strconv.FormatInt(e.Seq, 10)
			case e.PrevHash != r.Head:
				r.FirstBroken, r.Reason = next, "prev_hash does not link"
			case e.computeHash() != e.Hash:
				r.FirstBroken, r.Reason = next, "hash mismatch"
			}
			if r.FirstBroken != 0 {
				return r, nil
			}
			r.Entries, r.Head = next, e.Hash
		}
		if len(page) < verifyPage {
			return r, nil
		}
		after = page[len(page)-1].Seq
	}
}

// List returns up to limit linked entries with Seq > afterSeq, in Seq
// order. Entries not linked yet are not listed.
func List(ctx context.Context, q sqlstore.Querier, afterSeq int64, limit int) ([]Entry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: list limit %d is not positive", ErrInvalid, limit)
	}
	entries, err := query(ctx, q, `SELECT `+entryColumns+` FROM audit_log
		WHERE seq IS NOT NULL AND seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return entries, nil
}

func query(ctx context.Context, q sqlstore.Querier, stmt string, args ...any) ([]Entry, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e             Entry
			before, after sql.NullString
			seq           sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Subject, &e.Outcome,
			&before, &after, &e.TraceID, &seq, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		if before.String != "" {
			e.Before = json.RawMessage(before.String)
		}
		if after.String != "" {
			e.After = json.RawMessage(after.String)
		}
		e.Seq = seq.Int64
		out = append(out, e)
	}
	return out, rows.Err()
}

// computeHash is the hex SHA-256 of e's canonical encoding: each field as
// an 8-byte big-endian length followed by its bytes, in this order:
// "unigate.audit.v1", Seq in decimal, PrevHash, ID, Time in UTC RFC 3339
// with nanoseconds (trailing zeros dropped), Actor, Action, Subject,
// Outcome, Before, After, TraceID. An absent Before or After is empty.
func (e Entry) computeHash() string {
	sum := sha256.Sum256(e.canonical())
	return hex.EncodeToString(sum[:])
}

func (e Entry) canonical() []byte {
	fields := [...]string{
		hashVersion,
		strconv.FormatInt(e.Seq, 10),
		e.PrevHash,
		e.ID,
		e.Time.UTC().Format(time.RFC3339Nano),
		e.Actor,
		e.Action,
		e.Subject,
		e.Outcome,
		string(e.Before),
		string(e.After),
		e.TraceID,
	}
	size := 0
	for _, f := range fields {
		size += 8 + len(f)
	}
	b := make([]byte, 0, size)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// ChainID identifies the audit log of a database: services sharing a
// database share its log, and elect its one linker by this id.
func ChainID(ctx context.Context, q sqlstore.Querier) (string, error) {
	var id string
	if err := q.QueryRowContext(ctx, `SELECT chain_id FROM audit_meta`).Scan(&id); err != nil {
		return "", fmt.Errorf("audit: chain id: %w", err)
	}
	return id, nil
}

// ErrFenced is returned by a Chain fenced with Fenced when a newer linker
// has claimed the fence.
var ErrFenced = errors.New("audit: a newer linker holds the fence")

// ClaimFence records rev (the elected linker's election revision) as the
// fence of the log's linker; false if a newer revision holds it already.
func ClaimFence(ctx context.Context, db *sqlstore.DB, rev int64) (bool, error) {
	return db.ClaimFence(ctx, "audit_fences", "linker", rev)
}

// Fenced makes Chain link only while rev is the newest claimed fence
// (ErrFenced otherwise), checked in its transaction.
func Fenced(rev int64) ChainOption {
	return WithFence(func(ctx context.Context, tx *sqlstore.Tx) error {
		if err := sqlstore.CheckFence(ctx, tx, "audit_fences", "linker", rev); errors.Is(err, sqlstore.ErrFenced) {
			return fmt.Errorf("%w (revision %d)", ErrFenced, rev)
		} else if err != nil {
			return err
		}
		return nil
	})
}
