package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

func TestFencing(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		name := acquirer.SingletonName
		claim := func(t *testing.T, name string, rev int64, want bool) {
			t.Helper()
			if ok, err := x.s.ClaimFence(x.ctx, name, rev); err != nil || ok != want {
				t.Fatalf("ClaimFence(%s, %d) = %v, %v; want %v", name, rev, ok, err, want)
			}
		}
		f5 := &acquirer.Fence{Name: name, Revision: 5}
		f6 := &acquirer.Fence{Name: name, Revision: 6}

		t.Run("an unclaimed fence does not hold", func(t *testing.T) {
			p := x.insert(t, paymentIn("pay-unclaimed", "processing", t0))
			if _, ok, err := x.s.MarkFailed(x.ctx, p.ID, rpcerr.RiskDeclined, "no", when, f5); !is(err, acquirer.ErrFenced) || ok {
				t.Fatalf("MarkFailed = %v, %v; want ErrFenced", ok, err)
			}
			same(t, "payment", x.payment(t, p.ID), p)
		})

		t.Run("claims", func(t *testing.T) {
			claim(t, name, 5, true)
			p := x.insert(t, paymentIn("pay-holding", "processing", t0))
			if _, ok, err := x.s.MarkSucceeded(x.ctx, p.ID, "net-ref", "", when, f5); err != nil || !ok {
				t.Fatalf("MarkSucceeded with the newest fence = %v, %v", ok, err)
			}
			claim(t, name, 6, true)
			claim(t, name, 5, false)
			claim(t, name, 6, true) // the newest revision may claim again
			claim(t, "other", 1, true)
			claim(t, name, 5, false) // another name's claim changes nothing
		})

		// Every fenced payment transition, from a state it applies from,
		// with the replaced leader's fence: refused, nothing written; with
		// the new leader's it applies.
		n := 0
		for _, tc := range transitions {
			if !tc.fenced {
				continue
			}
			t.Run("stale "+tc.name, func(t *testing.T) {
				n++
				p := x.insert(t, paymentIn(fmt.Sprintf("pay-stale-%d", n), tc.applies[0].from, t0))
				got, applied, err := tc.run(x, p.ID, f5)
				if !is(err, acquirer.ErrFenced) || applied {
					t.Fatalf("%s with a stale fence = applied %v, %v; want ErrFenced", tc.name, applied, err)
				}
				if got.ID != "" {
					t.Errorf("%s with a stale fence returned a payment %+v", tc.name, got)
				}
				same(t, "payment", x.payment(t, p.ID), p)
				x.wantEvents(t, p.ID, "", when)
				if _, applied, err := tc.run(x, p.ID, f6); err != nil || !applied {
					t.Fatalf("%s with the newest fence = applied %v, %v", tc.name, applied, err)
				}
			})
		}

		t.Run("stale refund transitions", func(t *testing.T) {
			p := x.insert(t, paymentIn("pay-refunded", "succeeded", t0))
			r := x.insertRefund(t, newRefund("ref-1", p.ID, 4000, at(time.Minute)))
			p = x.payment(t, p.ID)
			for name, run := range map[string]func(f *acquirer.Fence) (acquirer.Refund, bool, error){
				"MarkRefundSucceeded": func(f *acquirer.Fence) (acquirer.Refund, bool, error) {
					return x.s.MarkRefundSucceeded(x.ctx, r.ID, "wallet-ref", when, f)
				},
				"MarkRefundFailed": func(f *acquirer.Fence) (acquirer.Refund, bool, error) {
					return x.s.MarkRefundFailed(x.ctx, r.ID, rpcerr.WalletDeclined, "no", when, f)
				},
				"RescheduleRefund": func(f *acquirer.Fence) (acquirer.Refund, bool, error) {
					return x.s.RescheduleRefund(x.ctx, r.ID, next, when, f)
				},
			} {
				if _, applied, err := run(f5); !is(err, acquirer.ErrFenced) || applied {
					t.Errorf("%s with a stale fence = applied %v, %v; want ErrFenced", name, applied, err)
				}
			}
			same(t, "refund", x.refund(t, r.ID), r)
			same(t, "payment", x.payment(t, p.ID), p)
			x.wantEvents(t, p.ID, r.ID, when)
		})

		t.Run("stale SequenceEvents", func(t *testing.T) {
			p := x.insert(t, paymentIn("pay-event", "processing", t0))
			if _, ok, err := x.s.MarkSucceeded(x.ctx, p.ID, "net-ref", "", when, nil); err != nil || !ok {
				t.Fatalf("MarkSucceeded = %v, %v", ok, err)
			}
			if tps, err := x.s.SequenceEvents(x.ctx, *f5, 100); !is(err, acquirer.ErrFenced) || len(tps) != 0 {
				n := len(tps)
				t.Fatalf("SequenceEvents with a stale fence = %d, %v; want ErrFenced", n, err)
			}
			for _, e := range x.events(t, p.ID) {
				if e.Sequence != nil {
					t.Fatalf("event %s sequenced %d by a stale leader", e.ID, *e.Sequence)
				}
			}
			if tps, err := x.s.SequenceEvents(x.ctx, *f6, 100); err != nil || len(tps) == 0 {
				n := len(tps)
				t.Fatalf("SequenceEvents with the newest fence = %d, %v", n, err)
			}
		})

		t.Run("stale AddStatementEvents", func(t *testing.T) {
			ev := acquirer.Event{ID: "statement-st-1", PartnerID: partnerID, Type: acquirer.EventStatementReady, Body: []byte(`{}`), Time: when}
			if err := x.s.AddStatementEvents(x.ctx, *f5, []acquirer.Event{ev}, 9); !is(err, acquirer.ErrFenced) {
				t.Fatalf("AddStatementEvents with a stale fence = %v; want ErrFenced", err)
			}
			if c, err := x.s.StatementCursor(x.ctx); err != nil || c != 0 {
				t.Fatalf("StatementCursor = %d, %v; want 0", c, err)
			}
			var count int
			if err := x.db.QueryRowContext(x.ctx, `SELECT count(*) FROM acq_events WHERE event_id = $1`, ev.ID).Scan(&count); err != nil || count != 0 {
				t.Fatalf("statement events stored by a stale leader: %d, %v", count, err)
			}
			if err := x.s.AddStatementEvents(x.ctx, *f6, []acquirer.Event{ev}, 9); err != nil {
				t.Fatalf("AddStatementEvents with the newest fence: %v", err)
			}
			if c, err := x.s.StatementCursor(x.ctx); err != nil || c != 9 {
				t.Fatalf("StatementCursor = %d, %v; want 9", c, err)
			}
		})
	})
}
