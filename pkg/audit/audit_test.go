package audit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

var base = time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)

// run runs fn on a fresh, migrated database on every back end.
func run(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		if err := db.Migrate(context.Background(), Migrations); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
}

func entry(i int) Entry {
	return Entry{
		ID:      fmt.Sprintf("e%04d", i),
		Time:    base.Add(time.Duration(i) * time.Millisecond),
		Actor:   "partner:hipay",
		Action:  "payment.pay",
		Subject: fmt.Sprintf("pay-%d", i),
		Outcome: "ok",
		Before:  json.RawMessage(`{"status":"PROCESSING"}`),
		After:   json.RawMessage(fmt.Sprintf(`{"status":"SUCCEEDED","minor":%d}`, i)),
		TraceID: fmt.Sprintf("trace-%d", i),
	}
}

func mustAppend(t *testing.T, q sqlstore.Querier, e Entry) {
	t.Helper()
	if err := Append(context.Background(), q, e); err != nil {
		t.Fatal(err)
	}
}

// chainAll links every unchained entry, limit at a time.
func chainAll(t *testing.T, db *sqlstore.DB, limit int) {
	t.Helper()
	for {
		n, err := Chain(context.Background(), db, limit)
		if err != nil {
			t.Fatal(err)
		}
		if n < limit {
			return
		}
	}
}

func count(t *testing.T, q sqlstore.Querier, where string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(context.Background(), `SELECT count(*) FROM audit_log WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func verify(t *testing.T, q sqlstore.Querier) Report {
	t.Helper()
	r, err := Verify(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantIntact(t *testing.T, r Report, entries int64) {
	t.Helper()
	if r.FirstBroken != 0 || r.Reason != "" || r.Entries != entries {
		t.Fatalf("Verify = %+v, want intact with %d entries", r, entries)
	}
}

func TestAppend(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()

		t.Run("refused", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				edit func(*Entry)
			}{
				{"no actor", func(e *Entry) { e.Actor = "" }},
				{"no action", func(e *Entry) { e.Action = "" }},
				{"no outcome", func(e *Entry) { e.Outcome = "" }},
				{"before not JSON", func(e *Entry) { e.Before = json.RawMessage(`{"status":`) }},
				{"after not JSON", func(e *Entry) { e.After = json.RawMessage(`nope`) }},
				{"seq set", func(e *Entry) { e.Seq = 1 }},
				{"hash set", func(e *Entry) { e.Hash = ZeroHash }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := entry(900)
					tc.edit(&e)
					if err := Append(ctx, db, e); !errors.Is(err, ErrInvalid) {
						t.Fatalf("Append = %v, want ErrInvalid", err)
					}
				})
			}
			if n := count(t, db, `1 = 1`); n != 0 {
				t.Fatalf("%d rows written by refused appends", n)
			}
		})

		t.Run("autocommit", func(t *testing.T) {
			mustAppend(t, db, entry(1))
			if n := count(t, db, `entry_id = $1 AND seq IS NULL AND prev_hash = '' AND hash = ''`, "e0001"); n != 1 {
				t.Fatalf("want one unchained row, got %d", n)
			}
			if got, err := List(ctx, db, 0, 10); err != nil || len(got) != 0 {
				t.Fatalf("List before linking = %v, %v; want nothing", got, err)
			}
		})

		t.Run("in a committed transaction", func(t *testing.T) {
			err := db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error { return Append(ctx, tx, entry(2)) })
			if err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, `entry_id = $1`, "e0002"); n != 1 {
				t.Fatalf("committed entry: %d rows", n)
			}
		})

		t.Run("in a rolled-back transaction", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
				if err := Append(ctx, tx, entry(3)); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx = %v, want boom", err)
			}
			if n := count(t, db, `entry_id = $1`, "e0003"); n != 0 {
				t.Fatalf("rolled-back entry left %d rows", n)
			}
		})

		t.Run("repeated id", func(t *testing.T) {
			if err := Append(ctx, db, entry(1)); !sqlstore.IsUniqueViolation(err) {
				t.Fatalf("Append = %v, want a unique violation", err)
			}
		})

		t.Run("defaults", func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			mustAppend(t, db, Entry{Actor: "operator:alice", Action: "cycle.close", Outcome: "refused:CYCLE_OPEN"})
			chainAll(t, db, 10)
			got, err := List(ctx, db, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("listed %d entries, want 3", len(got))
			}
			e := got[2] // the newest
			if len(e.ID) != 32 || e.Time.Before(before) || e.Time.Location() != time.UTC || e.Before != nil || e.After != nil {
				t.Fatalf("defaulted entry: %+v", e)
			}
			wantIntact(t, verify(t, db), 3)
		})
	})
}

func TestChainRoundTrip(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		r := verify(t, db)
		wantIntact(t, r, 0)
		if r.Head != ZeroHash {
			t.Fatalf("empty head = %q", r.Head)
		}
		if n, err := Chain(ctx, db, 10); n != 0 || err != nil {
			t.Fatalf("Chain on an empty log = %d, %v", n, err)
		}
		if _, err := Chain(ctx, db, 0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Chain(limit 0) = %v, want ErrInvalid", err)
		}
		// Written out of time order: linked in time order.
		for _, i := range []int{3, 1, 2} {
			mustAppend(t, db, entry(i))
		}
		if n, err := Chain(ctx, db, 2); n != 2 || err != nil {
			t.Fatalf("Chain = %d, %v; want 2", n, err)
		}
		if n, err := Chain(ctx, db, 2); n != 1 || err != nil {
			t.Fatalf("Chain = %d, %v; want 1", n, err)
		}
		got, err := List(ctx, db, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		prev := ZeroHash
		for k, e := range got {
			want := entry(k + 1)
			want.Seq, want.PrevHash, want.Hash = int64(k+1), prev, e.Hash
			if !reflect.DeepEqual(e, want) {
				t.Fatalf("entry %d:\n got %+v\nwant %+v", k+1, e, want)
			}
			if len(e.Hash) != 64 || e.Hash != e.computeHash() {
				t.Fatalf("entry %d hash %q", k+1, e.Hash)
			}
			prev = e.Hash
		}
		if got, err := List(ctx, db, 1, 1); err != nil || len(got) != 1 || got[0].Seq != 2 {
			t.Fatalf("List(after 1, limit 1) = %+v, %v", got, err)
		}
		r = verify(t, db)
		wantIntact(t, r, 3)
		if r.Head != prev {
			t.Fatalf("head = %s, want %s", r.Head, prev)
		}
	})
}

func TestChainConcurrent(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		const writers, each = 4, 25
		stop := make(chan struct{})
		var linkers sync.WaitGroup
		linkErrs := make(chan error, 1000)
		// Two linkers at once (no fence): they may fail each other's
		// passes, but must never fork the chain.
		for range 2 {
			linkers.Add(1)
			go func() {
				defer linkers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := Chain(ctx, db, 7); err != nil {
						linkErrs <- err
					}
				}
			}()
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e := entry(w*each + i)
					e.Time = time.Now() // as a live writer would
					if i%2 == 0 {
						errs <- Append(ctx, db, e)
						continue
					}
					errs <- db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error { return Append(ctx, tx, e) })
				}
			}()
		}
		wg.Wait()
		close(stop)
		linkers.Wait()
		close(errs)
		close(linkErrs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		refused := 0
		for err := range linkErrs {
			if !sqlstore.IsUniqueViolation(err) && !errors.Is(err, ErrConcurrentLink) {
				t.Fatalf("linker: %v", err)
			}
			refused++
		}
		t.Logf("linker passes that lost to the other linker: %d", refused)
		chainAll(t, db, 7)
		wantIntact(t, verify(t, db), writers*each)

		seen := map[string]bool{}
		var after int64
		for {
			page, err := List(ctx, db, after, 30)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				if e.Seq != after+1 || seen[e.ID] {
					t.Fatalf("entry %s at seq %d after %d (seen: %v)", e.ID, e.Seq, after, seen[e.ID])
				}
				seen[e.ID], after = true, e.Seq
			}
			if len(page) < 30 {
				break
			}
		}
		if len(seen) != writers*each {
			t.Fatalf("listed %d entries, want %d", len(seen), writers*each)
		}
	})
}

func TestChainFence(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mustAppend(t, db, entry(1))
		fenced := errors.New("fenced")
		refuse := WithFence(func(context.Context, *sqlstore.Tx) error { return fenced })
		if n, err := Chain(ctx, db, 10, refuse); n != 0 || !errors.Is(err, fenced) {
			t.Fatalf("Chain under a lost fence = %d, %v; want 0, fenced", n, err)
		}
		if n := count(t, db, `seq IS NOT NULL`); n != 0 {
			t.Fatalf("%d entries linked under a lost fence", n)
		}
		// The check runs in Chain's transaction: it sees what Chain sees.
		var pending int
		hold := WithFence(func(ctx context.Context, tx *sqlstore.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE seq IS NULL`).Scan(&pending)
		})
		if n, err := Chain(ctx, db, 10, hold); n != 1 || err != nil || pending != 1 {
			t.Fatalf("Chain under a held fence = %d, %v (fence saw %d pending)", n, err, pending)
		}
	})
}

func TestLinkerFenceAndChainID(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		id, err := ChainID(ctx, db)
		if err != nil || len(id) != 32 {
			t.Fatalf("ChainID = %q, %v", id, err)
		}
		if again, err := ChainID(ctx, db); err != nil || again != id {
			t.Fatalf("ChainID again = %q, %v; want %q", again, err, id)
		}
		mustAppend(t, db, entry(1))
		if ok, err := ClaimFence(ctx, db, 7); !ok || err != nil {
			t.Fatalf("ClaimFence(7) = %v, %v", ok, err)
		}
		if ok, err := ClaimFence(ctx, db, 5); ok || err != nil {
			t.Fatalf("ClaimFence(5) after 7 = %v, %v; want refused", ok, err)
		}
		if n, err := Chain(ctx, db, 10, Fenced(5)); n != 0 || !errors.Is(err, ErrFenced) {
			t.Fatalf("Chain by a deposed linker = %d, %v; want ErrFenced", n, err)
		}
		if n, err := Chain(ctx, db, 10, Fenced(7)); n != 1 || err != nil {
			t.Fatalf("Chain by the linker holding the fence = %d, %v", n, err)
		}
	})
}

func TestRun(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var runErrs []error
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(ctx, db, 5*time.Millisecond, func(err error) { mu.Lock(); runErrs = append(runErrs, err); mu.Unlock() })
		}()
		for i := range 20 {
			mustAppend(t, db, entry(i))
		}
		deadline := time.Now().Add(10 * time.Second)
		for verify(t, db).Entries < 20 {
			if time.Now().After(deadline) {
				t.Fatal("Run did not link the entries")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		wantIntact(t, verify(t, db), 20)
		mu.Lock()
		defer mu.Unlock()
		if len(runErrs) != 0 {
			t.Fatalf("Run reported %v", runErrs)
		}
	})
}

// TestTamper changes a linked log behind the package's back, one way at a
// time, each in a transaction that is rolled back, and checks Verify
// names the first entry affected.
func TestTamper(t *testing.T) {
	run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		const n = 10
		for i := 1; i <= n; i++ {
			mustAppend(t, db, entry(i))
			if i%4 == 0 {
				chainAll(t, db, 3) // linked in several passes and batches
			}
		}
		chainAll(t, db, 3)
		chain, err := List(ctx, db, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		intact := verify(t, db)
		wantIntact(t, intact, n)

		exec := func(stmts ...string) func(context.Context, *sqlstore.Tx) error {
			return func(ctx context.Context, tx *sqlstore.Tx) error {
				for _, s := range stmts {
					if _, err := tx.ExecContext(ctx, s); err != nil {
						return fmt.Errorf("%s: %w", s, err)
					}
				}
				return nil
			}
		}
		// insert writes e as a linked row, as an attacker with SQL access would.
		insert := func(e Entry) func(context.Context, *sqlstore.Tx) error {
			return func(ctx context.Context, tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+entryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
					e.ID, e.Time, e.Actor, e.Action, e.Subject, e.Outcome, nullJSON(e.Before), nullJSON(e.After), e.TraceID, e.Seq, e.PrevHash, e.Hash)
				return err
			}
		}
		then := func(steps ...func(context.Context, *sqlstore.Tx) error) func(context.Context, *sqlstore.Tx) error {
			return func(ctx context.Context, tx *sqlstore.Tx) error {
				for _, s := range steps {
					if err := s(ctx, tx); err != nil {
						return err
					}
				}
				return nil
			}
		}
		// forged is a well-formed entry, correctly hashed, linked after
		// the entry at seq-1.
		forged := func(seq int64) Entry {
			e := entry(800)
			e.Actor, e.Action, e.Outcome = "operator:mallory", "refund.create", "ok"
			e.Seq, e.PrevHash = seq, chain[seq-2].Hash
			e.Hash = e.computeHash()
			return e
		}
		otherHash := strings.Repeat("ab", 32)
		// shift moves the entries from seq on one place up (in two steps:
		// seq is unique at every row).
		shift := func(seq int) func(context.Context, *sqlstore.Tx) error {
			return exec(fmt.Sprintf(`UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= %d`, seq),
				`UPDATE audit_log SET seq = seq - 999999 WHERE seq > 1000000`)
		}

		for _, tc := range []struct {
			name   string
			tamper func(context.Context, *sqlstore.Tx) error
			broken int64
			reason string
		}{
			{"edit actor", exec(`UPDATE audit_log SET actor = 'operator:mallory' WHERE seq = 4`), 4, "hash mismatch"},
			{"edit outcome of the first", exec(`UPDATE audit_log SET outcome = 'refused:DENIED' WHERE seq = 1`), 1, "hash mismatch"},
			{"edit subject", exec(`UPDATE audit_log SET subject = 'pay-999' WHERE seq = 9`), 9, "hash mismatch"},
			{"edit after", exec(`UPDATE audit_log SET after_json = '{"status":"SUCCEEDED","minor":1}' WHERE seq = 6`), 6, "hash mismatch"},
			{"drop before", exec(`UPDATE audit_log SET before_json = NULL WHERE seq = 2`), 2, "hash mismatch"},
			{"edit trace id", exec(`UPDATE audit_log SET trace_id = '' WHERE seq = 10`), 10, "hash mismatch"},
			{"edit id", exec(`UPDATE audit_log SET entry_id = 'x' WHERE seq = 3`), 3, "hash mismatch"},
			{"edit time", func(ctx context.Context, tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE audit_log SET create_time = $1 WHERE seq = 5`, chain[4].Time.Add(time.Microsecond))
				return err
			}, 5, "hash mismatch"},
			{"delete a middle entry", exec(`DELETE FROM audit_log WHERE seq = 5`), 5, "sequence gap"},
			{"delete the first entry", exec(`DELETE FROM audit_log WHERE seq = 1`), 1, "sequence gap"},
			{"swap two entries' seq", exec(`UPDATE audit_log SET seq = 1000 WHERE seq = 3`,
				`UPDATE audit_log SET seq = 3 WHERE seq = 7`, `UPDATE audit_log SET seq = 7 WHERE seq = 1000`), 3, "prev_hash does not link"},
			{"swap neighbours and relink prev_hash", exec(`UPDATE audit_log SET seq = 1000 WHERE seq = 6`,
				`UPDATE audit_log SET seq = 6 WHERE seq = 7`, `UPDATE audit_log SET seq = 7 WHERE seq = 1000`,
				fmt.Sprintf(`UPDATE audit_log SET prev_hash = '%s' WHERE seq = 6`, chain[4].Hash)), 6, "hash mismatch"},
			{"change a hash", exec(fmt.Sprintf(`UPDATE audit_log SET hash = '%s' WHERE seq = 8`, otherHash)), 8, "hash mismatch"},
			{"change the last hash", exec(fmt.Sprintf(`UPDATE audit_log SET hash = '%s' WHERE seq = 10`, otherHash)), 10, "hash mismatch"},
			{"change a prev_hash", exec(fmt.Sprintf(`UPDATE audit_log SET prev_hash = '%s' WHERE seq = 2`, otherHash)), 2, "prev_hash does not link"},
			{"forged row at the end with a made-up hash", func(ctx context.Context, tx *sqlstore.Tx) error {
				e := forged(n + 1)
				e.Hash = otherHash
				return insert(e)(ctx, tx)
			}, n + 1, "hash mismatch"},
			{"forged row past the end", func(ctx context.Context, tx *sqlstore.Tx) error {
				e := forged(n + 1)
				e.Seq = n + 2
				e.Hash = e.computeHash()
				return insert(e)(ctx, tx)
			}, n + 1, "sequence gap"},
			{"forged row inserted in the middle", then(shift(5), insert(forged(5))), 6, "prev_hash does not link"},
			{"forged row in place of one", then(exec(`DELETE FROM audit_log WHERE seq = 5`), insert(forged(5))), 6, "prev_hash does not link"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var r Report
				head := ZeroHash // of the last entry before the break, as tampered
				rollback := errors.New("rollback")
				err := db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
					if err := tc.tamper(ctx, tx); err != nil {
						return err
					}
					var err error
					if r, err = Verify(ctx, tx); err != nil {
						return err
					}
					if tc.broken > 1 {
						if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, tc.broken-1).Scan(&head); err != nil {
							return err
						}
					}
					return rollback
				})
				if !errors.Is(err, rollback) {
					t.Fatal(err)
				}
				if r.FirstBroken != tc.broken || r.Reason != tc.reason || r.Entries != tc.broken-1 || r.Head != head {
					t.Fatalf("Verify = %+v, want broken at %d: %s, after %d intact entries", r, tc.broken, tc.reason, tc.broken-1)
				}
			})
		}

		// What the chain alone cannot show (doc.go): an attacker who
		// recomputes every hash from the entry he edits to the end leaves
		// an intact chain. Only a Head recorded elsewhere shows it.
		t.Run("rewritten tail is caught only against a recorded head", func(t *testing.T) {
			rollback := errors.New("rollback")
			var r Report
			err := db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
				prev := chain[7].Hash
				for _, e := range chain[8:] {
					e.Actor, e.PrevHash = "operator:mallory", prev
					e.Hash = e.computeHash()
					if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4`,
						e.Actor, e.PrevHash, e.Hash, e.Seq); err != nil {
						return err
					}
					prev = e.Hash
				}
				var err error
				if r, err = Verify(ctx, tx); err != nil {
					return err
				}
				return rollback
			})
			if !errors.Is(err, rollback) {
				t.Fatal(err)
			}
			if r.FirstBroken != 0 || r.Entries != intact.Entries || r.Head == intact.Head {
				t.Fatalf("Verify = %+v, recorded head %s", r, intact.Head)
			}
		})

		// Every tamper was rolled back.
		if r := verify(t, db); r != intact {
			t.Fatalf("after the rollbacks Verify = %+v, want %+v", r, intact)
		}
	})
}

// decodeCanonical inverts Entry.canonical: that it exists shows the
// encoding is unambiguous — two different entries never hash the same
// bytes.
func decodeCanonical(b []byte) ([]string, bool) {
	var fields []string
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, false
		}
		n := binary.BigEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b)) {
			return nil, false
		}
		fields = append(fields, string(b[:n]))
		b = b[n:]
	}
	return fields, true
}

func FuzzCanonical(f *testing.F) {
	f.Add(int64(1), ZeroHash, "e1", "partner:hipay", "payment.pay", "pay-1", "ok", `{"a":1}`, "", "trace")
	f.Add(int64(2), "", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, seq int64, prev, id, actor, action, subject, outcome, before, after, trace string) {
		e := Entry{Seq: seq, PrevHash: prev, ID: id, Time: base, Actor: actor, Action: action, Subject: subject,
			Outcome: outcome, Before: json.RawMessage(before), After: json.RawMessage(after), TraceID: trace}
		fields, ok := decodeCanonical(e.canonical())
		want := []string{hashVersion, fmt.Sprint(seq), prev, id, base.Format(time.RFC3339Nano), actor, action, subject, outcome, before, after, trace}
		if !ok || !reflect.DeepEqual(fields, want) {
			t.Fatalf("decoded %q, want %q", fields, want)
		}
	})
}
