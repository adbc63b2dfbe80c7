package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
)

// newRefund returns a valid refund request of minor merchant units,
// PROCESSING and scheduled a minute after its creation; InsertRefund
// prices its wallet and cost amounts.
func newRefund(id, paymentID string, minor int64, created time.Time) acquirer.Refund {
	return acquirer.Refund{
		ID: id, PaymentID: paymentID, PartnerID: partnerID, NetworkID: networkID,
		RequestID: "req-" + id, RequestHash: "hash-" + id, Status: acquirer.Processing,
		MerchantAmount:   money.Amount{Currency: "CNY", Minor: minor},
		WalletAmount:     money.Amount{Currency: "MNT"},
		SettlementAmount: money.Amount{Currency: "MNT"},
		CostAmount:       money.Amount{Currency: "MNT"},
		CreateTime:       created, UpdateTime: created, NextAttempt: ptr(created.Add(time.Minute)),
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
			// A quarter of 4875000, 4875000 and 4800000.
			want.WalletAmount.Minor, want.SettlementAmount.Minor, want.CostAmount.Minor = 1218750, 1218750, 1200000
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
			var calls [][3][4]int64
			record := func(paid, refunded [4]int64, m int64) (int64, int64, int64) {
				calls = append(calls, [3][4]int64{paid, refunded, {m}})
				return 7, 6, 5
			}
			r, inserted, err := x.s.InsertRefund(x.ctx, newRefund("ref-priced-c", q.ID, 500, at(4*time.Minute)), record)
			if err != nil || !inserted {
				t.Fatalf("InsertRefund = inserted %v, %v", inserted, err)
			}
			want := [3][4]int64{{10000, 4875000, 4875000, 4800000},
				{3000, b.WalletAmount.Minor, b.SettlementAmount.Minor, b.CostAmount.Minor}, {500}}
			if len(calls) != 1 || calls[0] != want {
				t.Fatalf("pricer calls %v, want one with %v", calls, want)
			}
			priced := func(r acquirer.Refund) [3]int64 {
				return [3]int64{r.WalletAmount.Minor, r.SettlementAmount.Minor, r.CostAmount.Minor}
			}
			if got := priced(r); got != [3]int64{7, 6, 5} {
				t.Fatalf("refund priced %v, want the pricer's 7/6/5", got)
			}
			if got := priced(x.refund(t, r.ID)); got != [3]int64{7, 6, 5} {
				t.Fatalf("stored refund priced %v, want 7/6/5", got)
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

// TestSettlementCurrency stores a payment of a partner that settles in
// another currency than its wallet's, refunds it at the payment's locked
// amounts in that currency, and reads rows from before settlement
// currencies as settling in their wallet's.
func TestSettlementCurrency(t *testing.T) {
	usd := func(n int64) money.Amount { return money.Amount{Currency: "USD", Minor: n} }
	eachBackend(t, func(t *testing.T, x suite) {
		t.Run("settling in USD", func(t *testing.T) {
			p := paymentIn("pay-usd", "succeeded", t0)
			p.SettlementAmount, p.CostAmount = usd(1410), usd(1390)
			stored := x.insert(t, p)
			same(t, "inserted", stored, p)
			same(t, "read", x.payment(t, p.ID), p)

			// The refund's settlement and cost are in the payment's settlement
			// currency, whatever the request carried.
			r := x.insertRefund(t, newRefund("ref-usd-1", p.ID, 2500, at(time.Minute)))
			want := [3]money.Amount{{Currency: "MNT", Minor: 1218750}, usd(352), usd(347)}
			if got := [3]money.Amount{r.WalletAmount, r.SettlementAmount, r.CostAmount}; got != want {
				t.Fatalf("refund priced %v, want %v", got, want)
			}
			if got := x.refund(t, r.ID); got.SettlementAmount != usd(352) || got.CostAmount != usd(347) {
				t.Fatalf("stored refund settles %v, costs %v; want %v, %v", got.SettlementAmount, got.CostAmount, usd(352), usd(347))
			}
			r2 := x.insertRefund(t, newRefund("ref-usd-2", p.ID, 7500, at(2*time.Minute)))
			if r2.SettlementAmount != usd(1058) || r2.CostAmount != usd(1043) {
				t.Fatalf("the rest settles %v, costs %v; want 10.58 and 10.43 USD", r2.SettlementAmount, r2.CostAmount)
			}
			x.wantRefundInvariants(t)
		})

		t.Run("a payment without a settlement amount settles in its wallet's currency", func(t *testing.T) {
			p := paymentIn("pay-unset", "succeeded", t0)
			p.SettlementAmount = money.Amount{}
			got := x.insert(t, p)
			if got.SettlementAmount != p.WalletAmount || x.payment(t, p.ID).SettlementAmount != p.WalletAmount {
				t.Fatalf("settlement amount %v, read %v; want the wallet amount %v", got.SettlementAmount, x.payment(t, p.ID).SettlementAmount, p.WalletAmount)
			}
		})

		t.Run("rows from before settlement currencies", func(t *testing.T) {
			p := x.insert(t, paymentIn("pay-old", "succeeded", t0))
			old := x.insertRefund(t, newRefund("ref-old-1", p.ID, 1000, at(time.Minute)))
			sqlstoretest.MustExec(t, x.db, `UPDATE acq_payments SET settlement_currency = '', settlement_minor = 0 WHERE payment_id = 'pay-old'`)
			sqlstoretest.MustExec(t, x.db, `UPDATE acq_refunds SET settlement_currency = '', settlement_minor = 0 WHERE refund_id = 'ref-old-1'`)
			read := x.payment(t, p.ID)
			if read.SettlementAmount != p.WalletAmount || read.CostAmount != p.CostAmount {
				t.Fatalf("an old payment settles %v, costs %v; want %v, %v", read.SettlementAmount, read.CostAmount, p.WalletAmount, p.CostAmount)
			}
			if r := x.refund(t, old.ID); r.SettlementAmount != r.WalletAmount || r.CostAmount != old.CostAmount {
				t.Fatalf("an old refund settles %v, costs %v; want its wallet amount %v, %v", r.SettlementAmount, r.CostAmount, r.WalletAmount, old.CostAmount)
			}
			// A new refund of it prices the rest against the wallet amounts and
			// records its settlement currency.
			rest := x.insertRefund(t, newRefund("ref-old-2", p.ID, 9000, at(2*time.Minute)))
			if rest.SettlementAmount != (money.Amount{Currency: "MNT", Minor: 4875000 - old.WalletAmount.Minor}) {
				t.Fatalf("the rest of an old payment settles %v", rest.SettlementAmount)
			}
			var cur string
			if err := x.db.QueryRowContext(x.ctx, `SELECT settlement_currency FROM acq_refunds WHERE refund_id = 'ref-old-2'`).Scan(&cur); err != nil || cur != "MNT" {
				t.Fatalf("the new refund stored settlement currency %q, %v; want MNT", cur, err)
			}
			x.wantRefundInvariants(t)
		})
	})
}

// wantRefundInvariants checks that CheckInvariants finds nothing wrong
// with refunds (these tests insert succeeded payments without events).
func (x suite) wantRefundInvariants(t *testing.T) {
	t.Helper()
	v, err := x.s.CheckInvariants(x.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		if !strings.HasPrefix(line, "a final payment without its event") {
			t.Errorf("CheckInvariants: %s", line)
		}
	}
}
