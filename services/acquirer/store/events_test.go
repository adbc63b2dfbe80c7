package store_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
)

func TestEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		if ok, err := x.s.ClaimFence(x.ctx, acquirer.SingletonName, 2); err != nil || !ok {
			t.Fatalf("ClaimFence = %v, %v", ok, err)
		}
		f := acquirer.Fence{Name: acquirer.SingletonName, Revision: 2}
		const other = "khanbank"
		a := x.insert(t, paymentIn("pay-a", "processing", t0))
		bp := paymentIn("pay-b", "processing", t0)
		bp.PartnerID = other
		b := x.insert(t, bp)
		c := x.insert(t, paymentIn("pay-c", "processing", t0))
		dp := paymentIn("pay-d", "processing", t0)
		dp.PartnerID = other
		d := x.insert(t, dp)

		// Events are made in this order, one second apart.
		if _, ok, err := x.s.MarkSucceeded(x.ctx, a.ID, "ref-a", "", at(time.Second), nil); err != nil || !ok {
			t.Fatalf("MarkSucceeded = %v, %v", ok, err)
		}
		if _, ok, err := x.s.MarkFailed(x.ctx, b.ID, rpcerr.RiskDeclined, "no", at(2*time.Second), nil); err != nil || !ok {
			t.Fatalf("MarkFailed = %v, %v", ok, err)
		}
		if _, ok, err := x.s.MarkSucceeded(x.ctx, c.ID, "ref-c", "", at(3*time.Second), &f); err != nil || !ok {
			t.Fatalf("MarkSucceeded = %v, %v", ok, err)
		}
		statement := acquirer.Event{ID: "statement-st-1", PartnerID: partnerID, Type: acquirer.EventStatementReady,
			Body: []byte(`{"statement_id":"st-1"}`), Time: at(4 * time.Second)}
		if err := x.s.AddStatementEvents(x.ctx, f, []acquirer.Event{statement}, 11); err != nil {
			t.Fatal(err)
		}

		list := func(t *testing.T, partner string, after int64, limit int) []acquirer.Event {
			t.Helper()
			evs, err := x.s.ListEvents(x.ctx, partner, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}
		// want describes an event as "sequence:type:payment".
		describe := func(evs []acquirer.Event) []string {
			var out []string
			for _, e := range evs {
				out = append(out, fmt.Sprintf("%d:%s:%s", e.Sequence, e.Type, e.PaymentID))
			}
			return out
		}
		sequence := func(t *testing.T, limit, want int) {
			t.Helper()
			if tps, err := x.s.SequenceEvents(x.ctx, f, limit); err != nil || len(tps) != want {
				n := len(tps)
				t.Fatalf("SequenceEvents(%d) = %d, %v; want %d", limit, n, err, want)
			}
		}

		t.Run("unsequenced events are not listed", func(t *testing.T) {
			if evs := list(t, partnerID, 0, 100); len(evs) != 0 {
				t.Fatalf("ListEvents = %v, want none before sequencing", describe(evs))
			}
		})

		t.Run("numbered per partner in the order made", func(t *testing.T) {
			sequence(t, 2, 2) // pay-a's and pay-b's
			if got, want := describe(list(t, partnerID, 0, 100)), []string{"1:" + acquirer.EventPaymentSucceeded + ":pay-a"}; !slices.Equal(got, want) {
				t.Fatalf("after the first batch: %v, want %v", got, want)
			}
			sequence(t, 100, 2)
			sequence(t, 100, 0)
			want := []string{
				"1:" + acquirer.EventPaymentSucceeded + ":pay-a",
				"2:" + acquirer.EventPaymentSucceeded + ":pay-c",
				"3:" + acquirer.EventStatementReady + ":",
			}
			evs := list(t, partnerID, 0, 100)
			if got := describe(evs); !slices.Equal(got, want) {
				t.Fatalf("ListEvents(%s) = %v, want %v", partnerID, got, want)
			}
			for i, made := range []time.Time{at(time.Second), at(3 * time.Second), statement.Time} {
				if e := evs[i]; e.PartnerID != partnerID || e.RefundID != "" || !e.Time.Equal(made) || e.Time.Location() != time.UTC {
					t.Errorf("event %d = %+v; want partner %s, no refund, made at %s in UTC", i, e, partnerID, made)
				}
			}
			if e := evs[0]; e.Body != nil {
				t.Errorf("payment event has a body %q", e.Body)
			}
			if e := evs[2]; e.ID != statement.ID || !bytes.Equal(e.Body, statement.Body) {
				t.Errorf("statement event = %+v, want %+v", e, statement)
			}
			if got, want := describe(list(t, other, 0, 100)), []string{"1:" + acquirer.EventPaymentFailed + ":pay-b"}; !slices.Equal(got, want) {
				t.Fatalf("ListEvents(%s) = %v, want %v", other, got, want)
			}
		})

		t.Run("listed after a cursor", func(t *testing.T) {
			if got, want := describe(list(t, partnerID, 1, 100)), []string{
				"2:" + acquirer.EventPaymentSucceeded + ":pay-c", "3:" + acquirer.EventStatementReady + ":"}; !slices.Equal(got, want) {
				t.Fatalf("after 1: %v, want %v", got, want)
			}
			if got, want := describe(list(t, partnerID, 1, 1)), []string{"2:" + acquirer.EventPaymentSucceeded + ":pay-c"}; !slices.Equal(got, want) {
				t.Fatalf("after 1, limit 1: %v, want %v", got, want)
			}
			if evs := list(t, partnerID, 3, 100); len(evs) != 0 {
				t.Fatalf("after the last: %v", describe(evs))
			}
			if evs := list(t, "nobody", 0, 100); len(evs) != 0 {
				t.Fatalf("an unknown partner's events: %v", describe(evs))
			}
		})

		t.Run("later events continue each partner's numbers", func(t *testing.T) {
			if _, ok, err := x.s.RequestCancel(x.ctx, c.ID, t0, next, at(5*time.Second)); err != nil || !ok {
				t.Fatalf("RequestCancel = %v, %v", ok, err)
			}
			if _, ok, err := x.s.MarkReversed(x.ctx, c.ID, at(6*time.Second), &f); err != nil || !ok {
				t.Fatalf("MarkReversed = %v, %v", ok, err)
			}
			if _, ok, err := x.s.MarkSucceeded(x.ctx, d.ID, "ref-d", "", at(7*time.Second), nil); err != nil || !ok {
				t.Fatalf("MarkSucceeded = %v, %v", ok, err)
			}
			sequence(t, 100, 2)
			if got, want := describe(list(t, partnerID, 3, 100)), []string{"4:" + acquirer.EventPaymentCancelled + ":pay-c"}; !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", partnerID, got, want)
			}
			if got, want := describe(list(t, other, 0, 100)), []string{
				"1:" + acquirer.EventPaymentFailed + ":pay-b", "2:" + acquirer.EventPaymentSucceeded + ":pay-d"}; !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", other, got, want)
			}
		})

		t.Run("statement events are added once and move the cursor", func(t *testing.T) {
			if c, err := x.s.StatementCursor(x.ctx); err != nil || c != 11 {
				t.Fatalf("StatementCursor = %d, %v; want 11", c, err)
			}
			again := statement
			again.Body = []byte(`{"changed":true}`)
			st2 := acquirer.Event{ID: "statement-st-2", PartnerID: other, Type: acquirer.EventStatementReady, Body: []byte(`{}`), Time: at(8 * time.Second)}
			if err := x.s.AddStatementEvents(x.ctx, f, []acquirer.Event{again, st2}, 12); err != nil {
				t.Fatal(err)
			}
			if c, err := x.s.StatementCursor(x.ctx); err != nil || c != 12 {
				t.Fatalf("StatementCursor = %d, %v; want 12", c, err)
			}
			sequence(t, 100, 1)
			evs := list(t, partnerID, 0, 100)
			if len(evs) != 4 || evs[2].ID != statement.ID || !bytes.Equal(evs[2].Body, statement.Body) {
				t.Fatalf("a statement event added twice: %v, want it once with its first body", describe(evs))
			}
			if got, want := describe(list(t, other, 2, 100)), []string{"3:" + acquirer.EventStatementReady + ":"}; !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", other, got, want)
			}
		})
	})
}

// TestCheckInvariants builds books that hold through the transitions, then
// breaks them one way at a time by hand.
func TestCheckInvariants(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		if ok, err := x.s.ClaimFence(x.ctx, acquirer.SingletonName, 1); err != nil || !ok {
			t.Fatalf("ClaimFence = %v, %v", ok, err)
		}
		f := &acquirer.Fence{Name: acquirer.SingletonName, Revision: 1}
		must := func(_ acquirer.Payment, ok bool, err error) {
			t.Helper()
			if err != nil || !ok {
				t.Fatalf("transition = %v, %v", ok, err)
			}
		}
		mustRefund := func(_ acquirer.Refund, ok bool, err error) {
			t.Helper()
			if err != nil || !ok {
				t.Fatalf("refund transition = %v, %v", ok, err)
			}
		}
		tick := 0
		now := func() time.Time { tick++; return at(time.Duration(tick) * time.Second) }
		paid := func(id string) acquirer.Payment {
			p := x.insert(t, newPayment(id, t0))
			must(x.s.MarkSucceeded(x.ctx, id, "ref-"+id, "", now(), nil))
			return p
		}

		// pay-paid: a partial refund succeeded, another failed.
		paid("pay-paid")
		refundOK := x.insertRefund(t, newRefund("ref-ok", "pay-paid", 2500, now()))
		mustRefund(x.s.MarkRefundSucceeded(x.ctx, refundOK.ID, "wallet-1", now(), f))
		refundFailed := x.insertRefund(t, newRefund("ref-failed", "pay-paid", 1000, now()))
		mustRefund(x.s.MarkRefundFailed(x.ctx, refundFailed.ID, rpcerr.WalletDeclined, "no", now(), nil))
		// pay-full: refunded in full, in three parts.
		paid("pay-full")
		for i, minor := range []int64{3333, 3333, 3334} {
			r := x.insertRefund(t, newRefund(fmt.Sprintf("ref-full-%d", i), "pay-full", minor, now()))
			mustRefund(x.s.MarkRefundSucceeded(x.ctx, r.ID, "wallet", now(), nil))
		}
		// pay-pending: a refund still in flight.
		paid("pay-pending")
		pending := x.insertRefund(t, newRefund("ref-pending", "pay-pending", 10000, now()))
		mustRefund(x.s.RescheduleRefund(x.ctx, pending.ID, next, now(), f))
		paid("pay-plain")
		// pay-refused: the cancel came after settlement.
		paid("pay-refused")
		must(x.s.RequestCancel(x.ctx, "pay-refused", t0, next, now()))
		must(x.s.RefuseCancel(x.ctx, "pay-refused", now(), f))
		// pay-undone: cancelled after it succeeded.
		paid("pay-undone")
		must(x.s.RequestCancel(x.ctx, "pay-undone", t0, next, now()))
		must(x.s.Reschedule(x.ctx, "pay-undone", next, now(), nil))
		must(x.s.MarkReversed(x.ctx, "pay-undone", now(), f))
		// pay-cancelled: cancelled in flight.
		x.insert(t, newPayment("pay-cancelled", t0))
		must(x.s.RequestCancel(x.ctx, "pay-cancelled", t0, next, now()))
		must(x.s.MarkReversed(x.ctx, "pay-cancelled", now(), nil))
		// pay-timeout: given up on, credited after all, reversed.
		x.insert(t, newPayment("pay-timeout", t0))
		must(x.s.Reschedule(x.ctx, "pay-timeout", next, now(), f))
		must(x.s.TimeOut(x.ctx, "pay-timeout", "gave up", next, now(), f))
		must(x.s.MarkCredited(x.ctx, "pay-timeout", "ref-late", now(), f))
		must(x.s.MarkReversed(x.ctx, "pay-timeout", now(), f))
		// pay-failed, and pay-open still in flight.
		x.insert(t, newPayment("pay-failed", t0))
		must(x.s.MarkFailed(x.ctx, "pay-failed", rpcerr.MerchantCreditFailed, "declined", now(), nil))
		x.insert(t, newPayment("pay-open", t0))
		must(x.s.Reschedule(x.ctx, "pay-open", next, now(), nil))
		must(x.s.Unschedule(x.ctx, "pay-plain", now(), f))
		// The poster and the relay catch up.
		ps, err := x.s.Unposted(x.ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.s.MarkPosted(x.ctx, ps); err != nil {
			t.Fatal(err)
		}
		rs, err := x.s.UnpostedRefunds(x.ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rp := range rs {
			ids = append(ids, rp.Refund.ID)
		}
		if err := x.s.MarkRefundsPosted(x.ctx, ids); err != nil {
			t.Fatal(err)
		}
		if _, err := x.s.SequenceEvents(x.ctx, *f, 100); err != nil {
			t.Fatal(err)
		}

		check := func(t *testing.T) []string {
			t.Helper()
			v, err := x.s.CheckInvariants(x.ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(v)
			return v
		}
		if v := check(t); len(v) != 0 {
			t.Fatalf("CheckInvariants on consistent books:\n\t%s", strings.Join(v, "\n\t"))
		}

		for _, tc := range []struct {
			name, corrupt, restore string
			want                   []string
		}{
			{
				name:    "refunded_minor without a refund",
				corrupt: `UPDATE acq_payments SET refunded_minor = 1 WHERE payment_id = 'pay-plain'`,
				restore: `UPDATE acq_payments SET refunded_minor = 0 WHERE payment_id = 'pay-plain'`,
				want:    []string{"refunded amount equals the refunds not failed: pay-plain"},
			},
			{
				name:    "a failed refund counted as reserved",
				corrupt: `UPDATE acq_payments SET refunded_minor = 3500 WHERE payment_id = 'pay-paid'`,
				restore: `UPDATE acq_payments SET refunded_minor = 2500 WHERE payment_id = 'pay-paid'`,
				want:    []string{"refunded amount equals the refunds not failed: pay-paid"},
			},
			{
				name:    "wallet refunds above the wallet amount",
				corrupt: `UPDATE acq_refunds SET wallet_minor = 4875001 WHERE refund_id = 'ref-ok'`,
				restore: `UPDATE acq_refunds SET wallet_minor = 1218750 WHERE refund_id = 'ref-ok'`,
				want:    []string{"refunds exceed the wallet, settlement or cost amount: pay-paid"},
			},
			{
				name:    "cost refunds above the cost amount",
				corrupt: `UPDATE acq_refunds SET cost_minor = 4800001 WHERE refund_id = 'ref-ok'`,
				restore: `UPDATE acq_refunds SET cost_minor = 1200000 WHERE refund_id = 'ref-ok'`,
				want:    []string{"refunds exceed the wallet, settlement or cost amount: pay-paid"},
			},
			{
				name:    "settlement refunds above the settlement amount",
				corrupt: `UPDATE acq_refunds SET settlement_minor = 4875001 WHERE refund_id = 'ref-ok'`,
				restore: `UPDATE acq_refunds SET settlement_minor = 1218750 WHERE refund_id = 'ref-ok'`,
				want:    []string{"refunds exceed the wallet, settlement or cost amount: pay-paid"},
			},
			{
				name:    "a full set of refunds a settlement unit short",
				corrupt: `UPDATE acq_refunds SET settlement_minor = settlement_minor - 1 WHERE refund_id = 'ref-full-2'`,
				restore: `UPDATE acq_refunds SET settlement_minor = settlement_minor + 1 WHERE refund_id = 'ref-full-2'`,
				want:    []string{"a fully refunded payment's refunds do not return exactly its wallet, settlement and cost amounts: pay-full"},
			},
			{
				name:    "a refund in another settlement currency than its payment",
				corrupt: `UPDATE acq_refunds SET settlement_currency = 'USD' WHERE refund_id = 'ref-ok'`,
				restore: `UPDATE acq_refunds SET settlement_currency = 'MNT' WHERE refund_id = 'ref-ok'`,
				want:    []string{"a refund in another settlement currency than its payment: ref-ok"},
			},
			{
				// Rows from before settlement currencies read as settling in
				// their wallet's currency, which these do: nothing breaks.
				name:    "refunds from before settlement currencies",
				corrupt: `UPDATE acq_refunds SET settlement_currency = '', settlement_minor = 0 WHERE payment_id = 'pay-full'`,
				restore: `UPDATE acq_refunds SET settlement_currency = 'MNT', settlement_minor = wallet_minor WHERE payment_id = 'pay-full'`,
			},
			{
				name:    "a payment from before settlement currencies",
				corrupt: `UPDATE acq_payments SET settlement_currency = '', settlement_minor = 0 WHERE payment_id = 'pay-full'`,
				restore: `UPDATE acq_payments SET settlement_currency = 'MNT', settlement_minor = wallet_minor WHERE payment_id = 'pay-full'`,
			},
			{
				name:    "a full set of refunds a unit short",
				corrupt: `UPDATE acq_refunds SET wallet_minor = wallet_minor - 1 WHERE refund_id = 'ref-full-2'`,
				restore: `UPDATE acq_refunds SET wallet_minor = wallet_minor + 1 WHERE refund_id = 'ref-full-2'`,
				want:    []string{"a fully refunded payment's refunds do not return exactly its wallet, settlement and cost amounts: pay-full"},
			},
			{
				name:    "a refund of a payment that failed",
				corrupt: `UPDATE acq_refunds SET payment_id = 'pay-failed' WHERE refund_id = 'ref-ok'`,
				restore: `UPDATE acq_refunds SET payment_id = 'pay-paid' WHERE refund_id = 'ref-ok'`,
				want: []string{
					"a refund of a payment that is not succeeded: ref-ok",
					"refunded amount equals the refunds not failed: pay-failed",
					"refunded amount equals the refunds not failed: pay-paid",
				},
			},
			{
				name:    "a failed payment marked posted",
				corrupt: `UPDATE acq_payments SET ledger_posted = TRUE WHERE payment_id = 'pay-failed'`,
				restore: `UPDATE acq_payments SET ledger_posted = FALSE WHERE payment_id = 'pay-failed'`,
				want:    []string{"a payment marked posted in a state that posts nothing: pay-failed"},
			},
			{
				name:    "a processing payment marked posted",
				corrupt: `UPDATE acq_payments SET ledger_posted = TRUE WHERE payment_id = 'pay-open'`,
				restore: `UPDATE acq_payments SET ledger_posted = FALSE WHERE payment_id = 'pay-open'`,
				want:    []string{"a payment marked posted in a state that posts nothing: pay-open"},
			},
			{
				name: "a payment event twice",
				corrupt: `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence)
					SELECT 'event-copy', partner_id, event_type, payment_id, refund_id, NULL, create_time, NULL FROM acq_events WHERE payment_id = 'pay-failed'`,
				restore: `DELETE FROM acq_events WHERE event_id = 'event-copy'`,
				want:    []string{"a payment or refund with more than one event of a type: pay-failed//" + acquirer.EventPaymentFailed},
			},
			{
				name: "a refund event twice",
				corrupt: `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence)
					SELECT 'event-copy', partner_id, event_type, payment_id, refund_id, NULL, create_time, NULL FROM acq_events WHERE refund_id = 'ref-ok'`,
				restore: `DELETE FROM acq_events WHERE event_id = 'event-copy'`,
				want:    []string{"a payment or refund with more than one event of a type: pay-paid/ref-ok/" + acquirer.EventRefundSucceeded},
			},
			{
				name:    "a failed payment without its event",
				corrupt: `UPDATE acq_events SET event_type = 'EVENT_TYPE_PAYMENT_CANCELLED' WHERE payment_id = 'pay-failed'`,
				restore: `UPDATE acq_events SET event_type = 'EVENT_TYPE_PAYMENT_FAILED' WHERE payment_id = 'pay-failed'`,
				want:    []string{"a final payment without its event: pay-failed"},
			},
			{
				name:    "a cancelled payment without its event",
				corrupt: `UPDATE acq_events SET payment_id = 'elsewhere' WHERE payment_id = 'pay-undone' AND event_type = 'EVENT_TYPE_PAYMENT_CANCELLED'`,
				restore: `UPDATE acq_events SET payment_id = 'pay-undone' WHERE payment_id = 'elsewhere'`,
				want:    []string{"a final payment without its event: pay-undone"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sqlstoretest.MustExec(t, x.db, tc.corrupt)
				got := check(t)
				sqlstoretest.MustExec(t, x.db, tc.restore)
				want := slices.Sorted(slices.Values(tc.want))
				if !slices.Equal(got, want) {
					t.Errorf("CheckInvariants =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
				}
				if v := check(t); len(v) != 0 {
					t.Fatalf("after restoring: %v", v)
				}
			})
		}

		// What the schema refuses outright never reaches the invariants.
		t.Run("refused by the schema", func(t *testing.T) {
			for _, q := range []string{
				`UPDATE acq_payments SET next_attempt_time = NULL WHERE payment_id = 'pay-open'`,
				`UPDATE acq_payments SET next_attempt_time = update_time WHERE payment_id = 'pay-plain'`,
				`UPDATE acq_payments SET status = 'CANCELLED' WHERE payment_id = 'pay-paid'`,
				`UPDATE acq_payments SET cancel_requested = TRUE, next_attempt_time = update_time WHERE payment_id = 'pay-paid'`,
				`UPDATE acq_payments SET refunded_minor = merchant_minor + 1 WHERE payment_id = 'pay-plain'`,
				`UPDATE acq_payments SET status = 'SETTLED' WHERE payment_id = 'pay-plain'`,
				`UPDATE acq_refunds SET next_attempt_time = NULL WHERE refund_id = 'ref-pending'`,
				`UPDATE acq_refunds SET next_attempt_time = update_time WHERE refund_id = 'ref-ok'`,
				`UPDATE acq_refunds SET wallet_minor = 0 WHERE refund_id = 'ref-ok'`,
				`UPDATE acq_refunds SET status = 'CANCELLED' WHERE refund_id = 'ref-failed'`,
				`UPDATE acq_payments SET settlement_minor = -1 WHERE payment_id = 'pay-plain'`,
				`UPDATE acq_payments SET settlement_currency = '' WHERE payment_id = 'pay-plain'`,
				`UPDATE acq_refunds SET settlement_minor = -1 WHERE refund_id = 'ref-ok'`,
				`UPDATE acq_refunds SET settlement_currency = '' WHERE refund_id = 'ref-ok'`,
			} {
				if _, err := x.db.ExecContext(x.ctx, q); err == nil {
					t.Errorf("the schema allowed %s", q)
				}
			}
			if v := check(t); len(v) != 0 {
				t.Fatalf("after refused statements: %v", v)
			}
		})
	})
}
