package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
)

// TestGroupCommit drives the request path's writes concurrently through
// the group-committing store on PostgreSQL, so that they share
// statements, and checks each caller got exactly what a lone write would
// have answered: a repeat is not inserted and gets the stored row, a
// payment succeeds once with one event, a payment past PROCESSING is left
// as it is, each inserted payment has exactly one audit entry, and a
// signed request's id is fresh exactly once.
func TestGroupCommit(t *testing.T) {
	db := openPostgres(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	s := store.NewBatching(ctx, db, 16)
	x := suite{ctx: ctx, db: db, s: s}

	// Already there before the crowd: a repeat of pay-gc-0 will meet it,
	// and pay-gc-failed cannot succeed.
	x.insert(t, newPayment("pay-gc-0", t0))
	x.insert(t, paymentIn("pay-gc-failed", "failed", t0))

	const n = 60
	var wg sync.WaitGroup
	inserted := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPayment(fmt.Sprintf("pay-gc-%d", i), t0.Add(time.Duration(i)*time.Millisecond))
			if i == 0 {
				p.CreateTime = t0.Add(time.Hour) // a repeat: the stored row comes back, not this one
			}
			var got acquirer.Payment
			got, inserted[i], errs[i] = s.InsertPayment(ctx, p)
			if errs[i] == nil && got.ID != p.ID {
				errs[i] = fmt.Errorf("returned payment %s", got.ID)
			}
			if i == 0 && errs[i] == nil && !got.CreateTime.Equal(t0) {
				errs[i] = fmt.Errorf("a repeat returned %v, not the stored row", got.CreateTime)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || inserted[i] != (i != 0) {
			t.Errorf("insert %d: inserted %v, %v", i, inserted[i], errs[i])
		}
	}
	var audits int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE subject LIKE 'pay-gc-%'`).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if audits != n+1 { // the crowd's 59 new ones, pay-gc-0 and pay-gc-failed
		t.Errorf("%d audit entries, want %d: one per inserted payment", audits, n+1)
	}

	// Every payment succeeds, pay-gc-7 twice at once; pay-gc-failed cannot.
	applied := make([]bool, n+2)
	errs = make([]error, n+2)
	got := make([]acquirer.Payment, n+2)
	for i := range n + 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("pay-gc-%d", i)
			switch i {
			case n:
				id = "pay-gc-7"
			case n + 1:
				id = "pay-gc-failed"
			}
			got[i], applied[i], errs[i] = s.MarkSucceeded(ctx, id, "ref-"+id, "", when, nil)
		}()
	}
	wg.Wait()
	for i := range n + 2 {
		if errs[i] != nil {
			t.Fatalf("success %d: %v", i, errs[i])
		}
	}
	if applied[7] == applied[n] {
		t.Errorf("pay-gc-7 succeeded twice at once: applied %v and %v, want exactly one", applied[7], applied[n])
	}
	if applied[n+1] || got[n+1].Status != acquirer.Failed {
		t.Errorf("a failed payment: applied %v, status %s", applied[n+1], got[n+1].Status)
	}
	for i := range n {
		if i != 7 && !applied[i] {
			t.Errorf("pay-gc-%d not applied", i)
		}
		id := fmt.Sprintf("pay-gc-%d", i)
		p := x.payment(t, id)
		if p.Status != acquirer.Succeeded || p.NetworkReference != "ref-"+id || p.LedgerPosted || p.NextAttempt != nil {
			t.Errorf("%s stored as %s ref %q posted %v", id, p.Status, p.NetworkReference, p.LedgerPosted)
		}
		if applied[i] && (got[i].Status != acquirer.Succeeded || got[i].ID != id) {
			t.Errorf("%s returned %s %s", id, got[i].ID, got[i].Status)
		}
		x.wantEvents(t, id, "", when, acquirer.EventPaymentSucceeded)
	}
	if evs := x.events(t, "pay-gc-failed"); len(evs) != 0 {
		t.Errorf("the failed payment got events %v", evs)
	}
	// Signed requests' ids: 40 new ones at once, each twice; one of each
	// pair is fresh, the other a replay, and an id recorded before is a
	// replay for everyone.
	if fresh, err := s.SeenRequest(ctx, "partner:hipay", "req-old", when.Add(time.Hour)); err != nil || !fresh {
		t.Fatalf("first use: fresh %v, %v", fresh, err)
	}
	const ids = 40
	seen := make([]bool, 2*ids+3)
	errs = make([]error, 2*ids+3)
	for i := range 2*ids + 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("req-%d", i%ids)
			if i >= 2*ids {
				id = "req-old"
			}
			seen[i], errs[i] = s.SeenRequest(ctx, "partner:hipay", id, when.Add(time.Hour))
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || errs[i+ids] != nil {
			t.Fatalf("request id %d: %v, %v", i, errs[i], errs[i+ids])
		}
		if seen[i] == seen[i+ids] {
			t.Errorf("req-%d used twice at once: fresh %v and %v, want exactly one", i, seen[i], seen[i+ids])
		}
	}
	for i := 2 * ids; i < 2*ids+3; i++ {
		if errs[i] != nil || seen[i] {
			t.Errorf("a replay of req-old: fresh %v, %v", seen[i], errs[i])
		}
	}
	if fresh, err := s.SeenRequest(ctx, "partner:zalopay", "req-old", when.Add(time.Hour)); err != nil || !fresh {
		t.Errorf("another caller's id of the same name: fresh %v, %v; want fresh", fresh, err)
	}

	st := s.BatchStats()
	if st.Statements >= st.Requests {
		t.Errorf("%d requests in %d statements: nothing was group-committed", st.Requests, st.Statements)
	}
	t.Logf("group commit: %d requests in %d statements", st.Requests, st.Statements)
}
