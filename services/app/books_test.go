package app_test

import (
	"context"
	"io"
	"os"
	"sort"
	"testing"
	"time"

	acqstore "github.com/unigate/unigate/services/acquirer/store"
	"github.com/unigate/unigate/services/settlement"
)

// checkBooks waits until every payment, cancel and refund is final and
// every posting owed has reached the ledger (or was set aside as
// poisoned), then checks both sides' invariants by SQL and that the ledger
// holds exactly the postings the acquirer's rows call for: one per
// succeeded payment, the payment and its reversal for a cancel after the
// money moved, one reversal per succeeded refund, nothing for a payment
// that failed or never moved money.
func (e *env) checkBooks(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var open int
		err := e.db.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM acq_payments WHERE next_attempt_time IS NOT NULL
				OR (status IN ('SUCCEEDED', 'CANCELLED') AND NOT ledger_posted AND posting_error = ''))
			+ (SELECT count(*) FROM acq_refunds WHERE status = 'PROCESSING'
				OR (status = 'SUCCEEDED' AND NOT ledger_posted AND posting_error = ''))`).Scan(&open)
		if err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("books: %d payments or refunds still in flight or unposted after 20s", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	bad, err := acqstore.New(e.db).CheckInvariants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lbad, err := settlement.NewSQLStore(e.ledgerDB).CheckInvariants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(bad, lbad...) {
		t.Errorf("invariant violated: %s", v)
	}

	want := map[string]bool{}
	rows, err := e.db.QueryContext(ctx, `SELECT payment_id, status, credited FROM acq_payments WHERE posting_error = ''`)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for rows.Next() {
		var (
			id, status string
			credited   bool
		)
		if err := rows.Scan(&id, &status, &credited); err != nil {
			t.Fatal(err)
		}
		ours[id] = true
		switch {
		case status == "SUCCEEDED":
			want[id+"/payment"] = true
		case status == "CANCELLED" && credited:
			want[id+"/payment"], want[id+"/reversal:cancel-"+id] = true, true
		}
	}
	rows.Close()
	rows, err = e.db.QueryContext(ctx, `SELECT payment_id, refund_id FROM acq_refunds WHERE status = 'SUCCEEDED' AND posting_error = ''`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid, rid string
		if err := rows.Scan(&pid, &rid); err != nil {
			t.Fatal(err)
		}
		want[pid+"/reversal:"+rid] = true
	}
	rows.Close()
	got := map[string]bool{}
	rows, err = e.ledgerDB.QueryContext(ctx, `SELECT payment_id, kind FROM ledger_postings`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid, kind string
		if err := rows.Scan(&pid, &kind); err != nil {
			t.Fatal(err)
		}
		if ours[pid] { // the ledger tests also post payments of their own
			got[pid+"/"+kind] = true
		}
	}
	rows.Close()
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("ledger and payments disagree: missing postings %v, unexpected postings %v", missing, extra)
	}
}

// scenario runs a scenario and then checks the books.
func (e *env) scenario(t *testing.T, name string, f func(*testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		f(t)
		if !t.Failed() {
			e.checkBooks(t)
		}
	})
}

// testLogOut is where the stack logs in tests: nowhere, unless
// UNIGATE_TEST_LOG is set.
func testLogOut() io.Writer {
	if os.Getenv("UNIGATE_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
