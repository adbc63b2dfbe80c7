package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

func paymentIDs(ps []acquirer.Payment) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func refundIDs(rs []acquirer.Refund) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// postingError reads a row's posting_error.
func (x suite) postingError(t *testing.T, table, column, id string) string {
	t.Helper()
	var v string
	if err := x.db.QueryRowContext(x.ctx, `SELECT posting_error FROM `+table+` WHERE `+column+` = $1`, id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUnposted(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		// Rows in every state, changed at the times given; inserted out of
		// order.
		for _, row := range []struct {
			id, state string
			posted    bool
			changed   time.Duration
		}{
			{"pay-a", "succeeded", false, 3 * time.Second},
			{"pay-b", "cancelled", false, time.Second},
			{"pay-c", "succeeded", true, 0},
			{"pay-d", "failed", false, 0},
			{"pay-e", "processing", false, 0},
			{"pay-h", "succeeded", false, 2 * time.Second},
			{"pay-g", "succeeded", false, 2 * time.Second},
			{"pay-f", "succeeded+cancel", false, 4 * time.Second},
			{"pay-i", "cancelled", true, 0},
			{"pay-j", "processing+cancel", false, 0},
		} {
			p := paymentIn(row.id, row.state, t0)
			p.LedgerPosted, p.UpdateTime = row.posted, at(row.changed)
			x.insert(t, p)
		}
		unposted := func(t *testing.T, limit int, want ...string) []acquirer.Payment {
			t.Helper()
			got, err := x.s.Unposted(x.ctx, limit)
			if err != nil {
				t.Fatal(err)
			}
			if ids := paymentIDs(got); !slices.Equal(ids, want) {
				t.Fatalf("Unposted(%d) = %v, want %v", limit, ids, want)
			}
			for _, p := range got {
				same(t, "Unposted row", p, x.payment(t, p.ID))
			}
			return got
		}

		t.Run("succeeded and cancelled rows owing postings, oldest change first", func(t *testing.T) {
			unposted(t, 100, "pay-b", "pay-g", "pay-h", "pay-a", "pay-f")
			unposted(t, 2, "pay-b", "pay-g")
		})

		t.Run("poisoned rows are left out", func(t *testing.T) {
			if err := x.s.MarkPostingPoisoned(x.ctx, "pay-g", false, "unknown account"); err != nil {
				t.Fatal(err)
			}
			if err := x.s.MarkPostingPoisoned(x.ctx, "pay-h", false, ""); err != nil {
				t.Fatal(err)
			}
			unposted(t, 100, "pay-b", "pay-a", "pay-f")
			if got := x.payment(t, "pay-g").PostingError; got != "unknown account" {
				t.Errorf("PostingError = %q, want the reason", got)
			}
			if got := x.payment(t, "pay-h").PostingError; got == "" {
				t.Errorf("PostingError of a row poisoned without a reason is empty")
			}
			// A row already posted is not poisoned.
			if err := x.s.MarkPostingPoisoned(x.ctx, "pay-c", false, "late"); err != nil {
				t.Fatal(err)
			}
			if got := x.payment(t, "pay-c").PostingError; got != "" {
				t.Errorf("PostingError of a posted row = %q, want none", got)
			}
		})

		t.Run("MarkPosted marks rows still in the status given", func(t *testing.T) {
			snapshot := unposted(t, 100, "pay-b", "pay-a", "pay-f")
			// pay-a is cancelled after the poster read it: its reversal is
			// still owed.
			if _, ok, err := x.s.RequestCancel(x.ctx, "pay-a", t0, next, at(5*time.Second)); err != nil || !ok {
				t.Fatalf("RequestCancel = %v, %v", ok, err)
			}
			if _, ok, err := x.s.MarkReversed(x.ctx, "pay-a", at(6*time.Second), nil); err != nil || !ok {
				t.Fatalf("MarkReversed = %v, %v", ok, err)
			}
			// pay-f's cancel is refused: still SUCCEEDED, the same posting.
			if _, ok, err := x.s.RefuseCancel(x.ctx, "pay-f", at(5*time.Second), nil); err != nil || !ok {
				t.Fatalf("RefuseCancel = %v, %v", ok, err)
			}
			if err := x.s.MarkPosted(x.ctx, snapshot); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]bool{"pay-a": false, "pay-b": true, "pay-f": true, "pay-d": false, "pay-e": false, "pay-j": false} {
				if got := x.payment(t, id).LedgerPosted; got != want {
					t.Errorf("%s LedgerPosted = %v, want %v", id, got, want)
				}
			}
			unposted(t, 100, "pay-a")
			if err := x.s.MarkPosted(x.ctx, nil); err != nil {
				t.Fatalf("MarkPosted(nil): %v", err)
			}
			// A snapshot in another status marks nothing.
			stale := x.payment(t, "pay-a")
			stale.Status = acquirer.Succeeded
			if err := x.s.MarkPosted(x.ctx, []acquirer.Payment{stale}); err != nil {
				t.Fatal(err)
			}
			unposted(t, 100, "pay-a")
		})
	})
}

func TestUnpostedRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		p1 := x.insert(t, paymentIn("pay-1", "succeeded", t0))
		p2 := x.insert(t, paymentIn("pay-2", "succeeded", t0))
		// refunds of 1000 each, finished at the times given.
		for _, row := range []struct {
			id, payment string
			status      acquirer.Status
			finished    time.Duration
		}{
			{"ref-c", p1.ID, acquirer.Succeeded, 3 * time.Second},
			{"ref-b", p2.ID, acquirer.Succeeded, time.Second},
			{"ref-p", p1.ID, acquirer.Processing, 0},
			{"ref-f", p2.ID, acquirer.Failed, 0},
			{"ref-a", p1.ID, acquirer.Succeeded, time.Second},
			{"ref-d", p2.ID, acquirer.Succeeded, 2 * time.Second},
		} {
			x.insertRefund(t, newRefund(row.id, row.payment, 1000, t0))
			var err error
			switch row.status {
			case acquirer.Succeeded:
				_, _, err = x.s.MarkRefundSucceeded(x.ctx, row.id, "wallet-"+row.id, at(row.finished), nil)
			case acquirer.Failed:
				_, _, err = x.s.MarkRefundFailed(x.ctx, row.id, rpcerr.WalletDeclined, "no", at(row.finished), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		unposted := func(t *testing.T, limit int, want ...string) {
			t.Helper()
			got, err := x.s.UnpostedRefunds(x.ctx, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, rp := range got {
				ids = append(ids, rp.Refund.ID)
				same(t, "refund", rp.Refund, x.refund(t, rp.Refund.ID))
				same(t, "its payment", rp.Payment, x.payment(t, rp.Refund.PaymentID))
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("UnpostedRefunds(%d) = %v, want %v", limit, ids, want)
			}
		}

		unposted(t, 100, "ref-a", "ref-b", "ref-d", "ref-c")
		unposted(t, 3, "ref-a", "ref-b", "ref-d")

		if err := x.s.MarkRefundsPosted(x.ctx, []string{"ref-a", "ref-d"}); err != nil {
			t.Fatal(err)
		}
		if err := x.s.MarkRefundsPosted(x.ctx, nil); err != nil {
			t.Fatalf("MarkRefundsPosted(nil): %v", err)
		}
		if r := x.refund(t, "ref-a"); !r.LedgerPosted {
			t.Errorf("ref-a not marked posted")
		}
		unposted(t, 100, "ref-b", "ref-c")

		if err := x.s.MarkPostingPoisoned(x.ctx, "ref-b", true, "unknown account"); err != nil {
			t.Fatal(err)
		}
		if got := x.postingError(t, "acq_refunds", "refund_id", "ref-b"); got != "unknown account" {
			t.Errorf("posting_error = %q", got)
		}
		unposted(t, 100, "ref-c")
	})
}

func TestDuePayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		now := at(10 * time.Second)
		for _, row := range []struct {
			id, state        string
			cpm              bool
			network, partner string // endpoints
			due              *time.Time
		}{
			{"pay-1", "processing", false, "net-a", "wallet-b", ptr(at(3 * time.Second))},
			{"pay-2", "processing", true, "net-a", "wallet-b", ptr(at(time.Second))},
			{"pay-3", "processing+cancel", false, "net-b", "wallet-a", ptr(at(2500 * time.Millisecond))},
			{"pay-4", "processing+timed out", false, "net-b", "wallet-a", ptr(at(2250 * time.Millisecond))},
			{"pay-5", "processing", false, "net-c", "wallet-a", ptr(now)},
			{"pay-6", "processing", false, "net-c", "wallet-a", ptr(now.Add(time.Microsecond))},
			{"pay-7", "succeeded", false, "net-c", "wallet-a", nil},
			{"pay-8", "succeeded+cancel", true, "net-c", "wallet-c", ptr(at(500 * time.Millisecond))},
			{"pay-9", "failed", false, "net-c", "wallet-a", nil},
		} {
			p := paymentIn(row.id, row.state, t0)
			if row.cpm {
				p.Mode, p.MerchantOrderID = acquirer.CPM, "order-"+row.id
			}
			p.NetworkEndpoint, p.PartnerEndpoint, p.NextAttempt = row.network, row.partner, row.due
			x.insert(t, p)
		}
		for _, tc := range []struct {
			name          string
			now           time.Time
			limit         int
			skipIDs       []string
			skipEndpoints []string
			want          []string
		}{
			{"all due, soonest first", now, 100, nil, nil, []string{"pay-8", "pay-2", "pay-4", "pay-3", "pay-1", "pay-5"}},
			{"a limit", now, 2, nil, nil, []string{"pay-8", "pay-2"}},
			{"earlier", at(2250 * time.Millisecond), 100, nil, nil, []string{"pay-8", "pay-2", "pay-4"}},
			{"skipping ids", now, 100, []string{"pay-2", "pay-4", "no-such"}, nil, []string{"pay-8", "pay-3", "pay-1", "pay-5"}},
			// MPM payments call their network, CPM ones their partner.
			{"skipping a network endpoint", now, 100, nil, []string{"net-a"}, []string{"pay-8", "pay-2", "pay-4", "pay-3", "pay-5"}},
			{"skipping a partner endpoint", now, 100, nil, []string{"wallet-b"}, []string{"pay-8", "pay-4", "pay-3", "pay-1", "pay-5"}},
			{"skipping both", now, 3, []string{"pay-8"}, []string{"net-b", "wallet-b"}, []string{"pay-1", "pay-5"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := x.s.DuePayments(x.ctx, tc.now, tc.limit, tc.skipIDs, tc.skipEndpoints)
				if err != nil {
					t.Fatal(err)
				}
				if ids := paymentIDs(got); !slices.Equal(ids, tc.want) {
					t.Fatalf("DuePayments = %v, want %v", ids, tc.want)
				}
				for _, p := range got {
					same(t, "due payment", p, x.payment(t, p.ID))
				}
			})
		}
	})
}

func TestDueRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		p := x.insert(t, paymentIn("pay-1", "succeeded", t0))
		now := at(10 * time.Second)
		for _, row := range []struct {
			id  string
			due time.Time
		}{
			{"ref-1", at(3 * time.Second)},
			{"ref-2", at(time.Second)},
			{"ref-3", at(1500 * time.Millisecond)},
			{"ref-4", now},
			{"ref-5", now.Add(time.Microsecond)},
			{"ref-6", at(0)},
		} {
			r := newRefund(row.id, p.ID, 1000, t0)
			r.NextAttempt = ptr(row.due)
			x.insertRefund(t, r)
		}
		if _, ok, err := x.s.MarkRefundSucceeded(x.ctx, "ref-6", "wallet-ref", at(time.Second), nil); err != nil || !ok {
			t.Fatalf("MarkRefundSucceeded = %v, %v", ok, err)
		}
		for _, tc := range []struct {
			name    string
			now     time.Time
			limit   int
			skipIDs []string
			want    []string
		}{
			{"all due, soonest first", now, 100, nil, []string{"ref-2", "ref-3", "ref-1", "ref-4"}},
			{"a limit", now, 2, nil, []string{"ref-2", "ref-3"}},
			{"earlier", at(1500 * time.Millisecond), 100, nil, []string{"ref-2", "ref-3"}},
			{"skipping ids", now, 100, []string{"ref-3", "ref-4"}, []string{"ref-2", "ref-1"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := x.s.DueRefunds(x.ctx, tc.now, tc.limit, tc.skipIDs)
				if err != nil {
					t.Fatal(err)
				}
				if ids := refundIDs(got); !slices.Equal(ids, tc.want) {
					t.Fatalf("DueRefunds = %v, want %v", ids, tc.want)
				}
				for _, r := range got {
					same(t, "due refund", r, x.refund(t, r.ID))
				}
			})
		}
	})
}
