package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// newRefund returns a valid refund request of minor merchant units,
// PROCESSING and scheduled a minute after its creation; InsertRefund
// prices its wallet and cost amounts.
func newRefund(id, paymentID string, minor int64, created time.Time) acquirer.Refund {
	return acquirer.Refund{
		ID: id, PaymentID: paymentID, PartnerID: partnerID, NetworkID: networkID,
		RequestID: "req-" + id, RequestHash: "hash-" + id, Status: acquirer.Processing,
		MerchantAmount: money.Amount{Currency: "CNY", Minor: minor},
		WalletAmount:   money.Amount{Currency: "MNT"},
		CostAmount:     money.Amount{Currency: "MNT"},
		CreateTime:     created, UpdateTime: created, NextAttempt: ptr(created.Add(time.Minute)),
	}
}

// insertRefund stores r priced by Proportional, failing the test unless
// it is inserted.
func (x suite) insertRefund(t *testing.T, r acquirer.Refund) acquirer.Refund {
	t.Helper()
	got, inserted, err := x.s.InsertRefund(x.ctx, r, acquirer.Proportional)
	if err != nil || !inserted {
		t.Fatalf("InsertRefund(%s) = inserted %v, %v", r.ID, inserted, err)
	}
	return got
}

// refund reads a refund or fails the test.
func (x suite) refund(t *testing.T, id string) acquirer.Refund {
	t.Helper()
	r, err := x.s.Refund(x.ctx, id)
	if err != nil {
		t.Fatalf("Refund(%s): %v", id, err)
	}
	return r
}

// refundSums are the merchant, wallet and cost amounts of a payment's
// refunds not failed, and the payment's refunded_minor.
func (x suite) refundSums(t *testing.T, paymentID string) (merchant, wallet, cost, reserved int64) {
	t.Helper()
	err := x.db.QueryRowContext(x.ctx, `SELECT
		CAST(COALESCE(SUM(merchant_minor), 0) AS INT8), CAST(COALESCE(SUM(wallet_minor), 0) AS INT8), CAST(COALESCE(SUM(cost_minor), 0) AS INT8),
		(SELECT refunded_minor FROM acq_payments WHERE payment_id = $1)
		FROM acq_refunds WHERE payment_id = $1 AND status <> 'FAILED'`, paymentID).Scan(&merchant, &wallet, &cost, &reserved)
	if err != nil {
		t.Fatal(err)
	}
	return merchant, wallet, cost, reserved
}

func TestInsertRefund(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		p := x.insert(t, paymentIn("pay-1", "succeeded", t0))

		var first acquirer.Refund
		t.Run("reserves its amount and prices it", func(t *testing.T) {
			r := newRefund("ref-1", p.ID, 2500, at(time.Minute))
			got, inserted, err := x.s.InsertRefund(x.ctx, r, acquirer.Proportional)
			if err != nil || !inserted {
				t.Fatalf("InsertRefund = inserted %v, %v", inserted, err)
			}
			want := r
			want.WalletAmount.Minor, want.CostAmount.Minor = 1218750, 1200000 // a quarter of 4875000 and 4800000
			same(t, "returned refund", got, want)
			same(t, "Refund", x.refund(t, r.ID), want)
			byRequest, err := x.s.RefundByRequest(x.ctx, networkID, r.RequestID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "RefundByRequest", byRequest, want)
			wantP := p
			wantP.RefundedMinor, wantP.UpdateTime = 2500, r.UpdateTime
			same(t, "payment", x.payment(t, p.ID), wantP)
			if evs := x.events(t, p.ID); len(evs) != 0 {
				t.Errorf("inserting a refund wrote events %v", evs)
			}
			first = want
		})

		t.Run("idempotent per network and request id", func(t *testing.T) {
			again := newRefund("ref-1-again", p.ID, 100, at(2*time.Minute))
			again.RequestID = first.RequestID
			got, inserted, err := x.s.InsertRefund(x.ctx, again, acquirer.Proportional)
			if err != nil || inserted {
				t.Fatalf("InsertRefund = inserted %v, %v; want the stored one", inserted, err)
			}
			same(t, "returned refund", got, first)
			if _, err := x.s.Refund(x.ctx, again.ID); !is(err, acquirer.ErrRefundNotFound) {
				t.Errorf("Refund(%s) = %v, want ErrRefundNotFound", again.ID, err)
			}
			if _, _, _, reserved := x.refundSums(t, p.ID); reserved != 2500 {
				t.Errorf("refunded_minor = %d, want 2500", reserved)
			}
			// The same request id on another network is another refund.
			elsewhere := newRefund("ref-2", p.ID, 100, at(3*time.Minute))
			elsewhere.NetworkID, elsewhere.RequestID = "other-network", first.RequestID
			x.insertRefund(t, elsewhere)
		})

		t.Run("refuses more than remains", func(t *testing.T) {
			for _, minor := range []int64{7401, 10000, 1 << 40} {
				_, inserted, err := x.s.InsertRefund(x.ctx, newRefund(fmt.Sprintf("ref-too-much-%d", minor), p.ID, minor, at(4*time.Minute)), acquirer.Proportional)
				if !is(err, acquirer.ErrRefundExceeds) || inserted {
					t.Fatalf("refund of %d with 7400 left = inserted %v, %v; want ErrRefundExceeds", minor, inserted, err)
				}
			}
			if _, _, _, reserved := x.refundSums(t, p.ID); reserved != 2600 {
				t.Fatalf("refunded_minor = %d, want 2600", reserved)
			}
			last := x.insertRefund(t, newRefund("ref-rest", p.ID, 7400, at(5*time.Minute)))
			merchant, wallet, cost, reserved := x.refundSums(t, p.ID)
			if merchant != 10000 || reserved != 10000 || wallet != p.WalletAmount.Minor || cost != p.CostAmount.Minor {
				t.Fatalf("a full set of refunds: merchant %d, reserved %d, wallet %d, cost %d; want 10000, 10000, %d, %d (last %+v)",
					merchant, reserved, wallet, cost, p.WalletAmount.Minor, p.CostAmount.Minor, last)
			}
			if _, _, err := x.s.InsertRefund(x.ctx, newRefund("ref-nothing-left", p.ID, 1, at(6*time.Minute)), acquirer.Proportional); !is(err, acquirer.ErrRefundExceeds) {
				t.Fatalf("a refund of a fully refunded payment: %v, want ErrRefundExceeds", err)
			}
		})

		t.Run("refuses a payment that is not refundable", func(t *testing.T) {
			for i, st := range []string{"processing", "processing+cancel", "processing+timed out", "succeeded+cancel", "failed", "cancelled"} {
				t.Run(st, func(t *testing.T) {
					q := x.insert(t, paymentIn(fmt.Sprintf("pay-not-refundable-%d", i), st, t0))
					r := newRefund(fmt.Sprintf("ref-not-refundable-%d", i), q.ID, 100, at(time.Minute))
					if _, inserted, err := x.s.InsertRefund(x.ctx, r, acquirer.Proportional); !is(err, acquirer.ErrNotRefundable) || inserted {
						t.Fatalf("InsertRefund = inserted %v, %v; want ErrNotRefundable", inserted, err)
					}
					same(t, "payment", x.payment(t, q.ID), q)
					if _, err := x.s.Refund(x.ctx, r.ID); !is(err, acquirer.ErrRefundNotFound) {
						t.Fatalf("Refund = %v, want ErrRefundNotFound", err)
					}
				})
			}
		})

		t.Run("an unknown payment", func(t *testing.T) {
			if _, _, err := x.s.InsertRefund(x.ctx, newRefund("ref-orphan", "no-such-payment", 1, t0), acquirer.Proportional); !is(err, acquirer.ErrPaymentNotFound) {
				t.Fatalf("InsertRefund = %v, want ErrPaymentNotFound", err)
			}
		})

		t.Run("refuses a refund worth no wallet unit", func(t *testing.T) {
			q := paymentIn("pay-small", "succeeded", t0)
			q.WalletAmount.Minor, q.CostAmount.Minor = 50, 40 // 1 of 10000 merchant units is 0.005 wallet units
			q = x.insert(t, q)
			for _, minor := range []int64{0, 1, 199} {
				_, inserted, err := x.s.InsertRefund(x.ctx, newRefund(fmt.Sprintf("ref-small-%d", minor), q.ID, minor, at(time.Minute)), acquirer.Proportional)
				if !is(err, acquirer.ErrRefundTooSmall) || inserted {
					t.Fatalf("refund of %d = inserted %v, %v; want ErrRefundTooSmall", minor, inserted, err)
				}
			}
			same(t, "payment", x.payment(t, q.ID), q)
			r := x.insertRefund(t, newRefund("ref-small-200", q.ID, 200, at(time.Minute)))
			if r.WalletAmount.Minor != 1 || r.CostAmount.Minor != 0 {
				t.Fatalf("refund of 200 = wallet %d, cost %d; want 1, 0", r.WalletAmount.Minor, r.CostAmount.Minor)
			}
		})

		t.Run("the pricer sees the refunds not failed", func(t *testing.T) {
			q := x.insert(t, paymentIn("pay-priced", "succeeded", t0))
			a := x.insertRefund(t, newRefund("ref-priced-a", q.ID, 1000, at(time.Minute)))
			b := x.insertRefund(t, newRefund("ref-priced-b", q.ID, 3000, at(2*time.Minute)))
			if _, ok, err := x.s.MarkRefundFailed(x.ctx, a.ID, rpcerr.WalletDeclined, "closed account", at(3*time.Minute), nil); err != nil || !ok {
				t.Fatalf("MarkRefundFailed = %v, %v", ok, err)
			}
			var calls [][3][3]int64
			record := func(paid, refunded [3]int64, m int64) (int64, int64) {
				calls = append(calls, [3][3]int64{paid, refunded, {m}})
				return 7, 5
			}
			r, inserted, err := x.s.InsertRefund(x.ctx, newRefund("ref-priced-c", q.ID, 500, at(4*time.Minute)), record)
			if err != nil || !inserted {
				t.Fatalf("InsertRefund = inserted %v, %v", inserted, err)
			}
			want := [3][3]int64{{10000, 4875000, 4800000}, {3000, b.WalletAmount.Minor, b.CostAmount.Minor}, {500}}
			if len(calls) != 1 || calls[0] != want {
				t.Fatalf("pricer calls %v, want one with %v", calls, want)
			}
			if r.WalletAmount.Minor != 7 || r.CostAmount.Minor != 5 {
				t.Fatalf("refund priced %d/%d, want the pricer's 7/5", r.WalletAmount.Minor, r.CostAmount.Minor)
			}
			stored := x.refund(t, r.ID)
			if stored.WalletAmount.Minor != 7 || stored.CostAmount.Minor != 5 {
				t.Fatalf("stored refund priced %d/%d, want 7/5", stored.WalletAmount.Minor, stored.CostAmount.Minor)
			}
		})

		t.Run("unknown refunds", func(t *testing.T) {
			if _, err := x.s.Refund(x.ctx, "no-such-refund"); !is(err, acquirer.ErrRefundNotFound) {
				t.Errorf("Refund: %v", err)
			}
			if _, err := x.s.RefundByRequest(x.ctx, networkID, "req-no-such-request"); !is(err, acquirer.ErrRefundNotFound) {
				t.Errorf("RefundByRequest on another network: %v", err)
			}
		})
	})
}

func TestRefundTransitions(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		if ok, err := x.s.ClaimFence(x.ctx, acquirer.SingletonName, 3); err != nil || !ok {
			t.Fatalf("ClaimFence = %v, %v", ok, err)
		}
		for _, fence := range []*acquirer.Fence{nil, {Name: acquirer.SingletonName, Revision: 3}} {
			mode := "unfenced"
			if fence != nil {
				mode = "fenced"
			}
			// setup stores a succeeded payment with a processing refund of
			// 3000 of its 10000.
			setup := func(t *testing.T, name string) (acquirer.Payment, acquirer.Refund) {
				p := x.insert(t, paymentIn("pay-"+mode+"-"+name, "succeeded", t0))
				r := newRefund("ref-"+mode+"-"+name, p.ID, 3000, at(time.Minute))
				r.LedgerPosted = true // so that MarkRefundSucceeded's reset shows
				r = x.insertRefund(t, r)
				return x.payment(t, p.ID), r
			}
			t.Run(mode, func(t *testing.T) {
				t.Run("MarkRefundFailed gives the amount back once", func(t *testing.T) {
					p, r := setup(t, "failed")
					got, applied, err := x.s.MarkRefundFailed(x.ctx, r.ID, rpcerr.WalletDeclined, "closed account", when, fence)
					if err != nil || !applied {
						t.Fatalf("MarkRefundFailed = applied %v, %v", applied, err)
					}
					want := r
					want.Status, want.FailureReason, want.FailureMessage = acquirer.Failed, rpcerr.WalletDeclined, "closed account"
					want.NextAttempt, want.UpdateTime = nil, when
					same(t, "returned refund", got, want)
					same(t, "stored refund", x.refund(t, r.ID), want)
					wantP := p
					wantP.RefundedMinor, wantP.UpdateTime = 0, when
					same(t, "payment", x.payment(t, p.ID), wantP)
					x.wantEvents(t, p.ID, r.ID, when, acquirer.EventRefundFailed)

					later := when.Add(time.Minute)
					for name, run := range map[string]func() (acquirer.Refund, bool, error){
						"MarkRefundFailed": func() (acquirer.Refund, bool, error) {
							return x.s.MarkRefundFailed(x.ctx, r.ID, rpcerr.WalletDeclined, "again", later, fence)
						},
						"MarkRefundSucceeded": func() (acquirer.Refund, bool, error) {
							return x.s.MarkRefundSucceeded(x.ctx, r.ID, "wallet-ref", later, fence)
						},
						"RescheduleRefund": func() (acquirer.Refund, bool, error) {
							return x.s.RescheduleRefund(x.ctx, r.ID, next, later, fence)
						},
					} {
						got, applied, err := run()
						if err != nil || applied {
							t.Fatalf("%s of a failed refund = applied %v, %v", name, applied, err)
						}
						same(t, name+" returned refund", got, want)
					}
					same(t, "stored refund", x.refund(t, r.ID), want)
					same(t, "payment", x.payment(t, p.ID), wantP)
					x.wantEvents(t, p.ID, r.ID, when, acquirer.EventRefundFailed)
				})

				t.Run("MarkRefundSucceeded applies once", func(t *testing.T) {
					p, r := setup(t, "succeeded")
					got, applied, err := x.s.MarkRefundSucceeded(x.ctx, r.ID, "wallet-ref", when, fence)
					if err != nil || !applied {
						t.Fatalf("MarkRefundSucceeded = applied %v, %v", applied, err)
					}
					want := r
					want.Status, want.PartnerReference, want.NextAttempt, want.LedgerPosted, want.UpdateTime = acquirer.Succeeded, "wallet-ref", nil, false, when
					same(t, "returned refund", got, want)
					same(t, "stored refund", x.refund(t, r.ID), want)
					same(t, "payment", x.payment(t, p.ID), p)
					x.wantEvents(t, p.ID, r.ID, when, acquirer.EventRefundSucceeded)

					later := when.Add(time.Minute)
					for name, run := range map[string]func() (acquirer.Refund, bool, error){
						"MarkRefundSucceeded": func() (acquirer.Refund, bool, error) {
							return x.s.MarkRefundSucceeded(x.ctx, r.ID, "other-ref", later, fence)
						},
						"MarkRefundFailed": func() (acquirer.Refund, bool, error) {
							return x.s.MarkRefundFailed(x.ctx, r.ID, rpcerr.WalletDeclined, "late", later, fence)
						},
						"RescheduleRefund": func() (acquirer.Refund, bool, error) {
							return x.s.RescheduleRefund(x.ctx, r.ID, next, later, fence)
						},
					} {
						got, applied, err := run()
						if err != nil || applied {
							t.Fatalf("%s of a succeeded refund = applied %v, %v", name, applied, err)
						}
						same(t, name+" returned refund", got, want)
					}
					same(t, "stored refund", x.refund(t, r.ID), want)
					same(t, "payment", x.payment(t, p.ID), p)
					x.wantEvents(t, p.ID, r.ID, when, acquirer.EventRefundSucceeded)
				})

				t.Run("RescheduleRefund counts attempts", func(t *testing.T) {
					p, r := setup(t, "rescheduled")
					want := r
					for i := range 2 {
						next := next.Add(time.Duration(i) * time.Minute)
						got, applied, err := x.s.RescheduleRefund(x.ctx, r.ID, next, when, fence)
						if err != nil || !applied {
							t.Fatalf("RescheduleRefund = applied %v, %v", applied, err)
						}
						want.NextAttempt, want.Attempts, want.UpdateTime = ptr(next), int64(i+1), when
						same(t, "returned refund", got, want)
						same(t, "stored refund", x.refund(t, r.ID), want)
					}
					same(t, "payment", x.payment(t, p.ID), p)
					x.wantEvents(t, p.ID, r.ID, when)
				})

				t.Run("an unknown refund", func(t *testing.T) {
					if _, ok, err := x.s.MarkRefundSucceeded(x.ctx, "no-such-refund", "x", when, fence); !is(err, acquirer.ErrRefundNotFound) || ok {
						t.Errorf("MarkRefundSucceeded = %v, %v", ok, err)
					}
					if _, ok, err := x.s.MarkRefundFailed(x.ctx, "no-such-refund", rpcerr.WalletDeclined, "x", when, fence); !is(err, acquirer.ErrRefundNotFound) || ok {
						t.Errorf("MarkRefundFailed = %v, %v", ok, err)
					}
					if _, ok, err := x.s.RescheduleRefund(x.ctx, "no-such-refund", next, when, fence); !is(err, acquirer.ErrRefundNotFound) || ok {
						t.Errorf("RescheduleRefund = %v, %v", ok, err)
					}
				})
			})
		}
	})
}
