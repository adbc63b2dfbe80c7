package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
)

// TestFindPayments: a payment is found by every id it has, each match
// naming the id; a CPM payment by the network's order id; an id nobody
// has finds nothing.
func TestFindPayments(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		x.insert(t, newPayment("pay-1", at(0)))
		if _, _, err := x.s.MarkSucceeded(x.ctx, "pay-1", "net-ref-1", "", at(time.Second), nil); err != nil {
			t.Fatal(err)
		}
		x.insertRefund(t, newRefund("ref-1", "pay-1", 2500, at(2*time.Second)))
		if _, _, err := x.s.MarkRefundSucceeded(x.ctx, "ref-1", "wallet-ref-1", at(3*time.Second), nil); err != nil {
			t.Fatal(err)
		}
		x.insert(t, newCPMPayment("pay-2", "order-9", at(0)))
		ev := x.events(t, "pay-1")
		if len(ev) != 2 {
			t.Fatalf("events of pay-1: %+v", ev)
		}
		for _, tc := range []struct{ id, by, payment string }{
			{"pay-1", "payment_id", "pay-1"},
			{"key-pay-1", "partner_payment_id", "pay-1"},
			{"net-ref-1", "network_reference", "pay-1"},
			{"quote-pay-1", "quote_id", "pay-1"},
			{"ref-1", "refund_id", "pay-1"},
			{"req-ref-1", "refund_request_id", "pay-1"},
			{"wallet-ref-1", "refund_partner_reference", "pay-1"},
			{ev[1].ID, "event_id", "pay-1"},
			{"order-9", "merchant_order_id", "pay-2"},
		} {
			ms, err := x.s.FindPayments(x.ctx, tc.id)
			if err != nil || len(ms) != 1 || ms[0].By != tc.by || ms[0].Payment.ID != tc.payment {
				t.Errorf("FindPayments(%q) = %+v, %v; want %s by %s", tc.id, ms, err, tc.payment, tc.by)
			}
		}
		if ms, err := x.s.FindPayments(x.ctx, "nobody"); err != nil || len(ms) != 0 {
			t.Errorf("FindPayments(nobody) = %+v, %v", ms, err)
		}
		// The empty ids rows have are never matches.
		if ms, err := x.s.FindPayments(x.ctx, ""); err != nil || len(ms) != 0 {
			t.Errorf("FindPayments(\"\") = %+v, %v", ms, err)
		}

		for _, tc := range []struct{ id, by string }{{"ref-1", "refund_id"}, {"req-ref-1", "request_id"}, {"wallet-ref-1", "partner_reference"}} {
			r, by, err := x.s.FindRefund(x.ctx, tc.id)
			if err != nil || r.ID != "ref-1" || by != tc.by {
				t.Errorf("FindRefund(%q) = %s by %q, %v", tc.id, r.ID, by, err)
			}
		}
		if _, _, err := x.s.FindRefund(x.ctx, "pay-1"); !errors.Is(err, acquirer.ErrRefundNotFound) {
			t.Errorf("FindRefund of a payment id: %v", err)
		}
		if rs, err := x.s.PaymentRefunds(x.ctx, "pay-1"); err != nil || len(rs) != 1 || rs[0].Status != acquirer.Succeeded {
			t.Errorf("PaymentRefunds(pay-1) = %+v, %v", rs, err)
		}
		if rs, err := x.s.PaymentRefunds(x.ctx, "pay-2"); err != nil || len(rs) != 0 {
			t.Errorf("PaymentRefunds(pay-2) = %+v, %v", rs, err)
		}
		if _, err := x.s.PaymentRefunds(x.ctx, "nope"); !errors.Is(err, acquirer.ErrPaymentNotFound) {
			t.Errorf("PaymentRefunds(nope): %v", err)
		}
	})
}

// TestPaymentTimeline: the payment's creation, its audit entry, its
// success and event, the refund's creation, audit entry, success and
// event, in time order.
func TestPaymentTimeline(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		x.insert(t, newPayment("pay-1", at(0)))
		if _, _, err := x.s.MarkSucceeded(x.ctx, "pay-1", "net-ref-1", "", at(time.Second), nil); err != nil {
			t.Fatal(err)
		}
		x.insertRefund(t, newRefund("ref-1", "pay-1", 2500, at(2*time.Second)))
		if _, _, err := x.s.MarkRefundSucceeded(x.ctx, "ref-1", "wallet-ref-1", at(3*time.Second), nil); err != nil {
			t.Fatal(err)
		}
		tl, err := x.s.PaymentTimeline(x.ctx, "pay-1")
		if err != nil {
			t.Fatal(err)
		}
		if tl.Payment.ID != "pay-1" || len(tl.Refunds) != 1 || tl.Refunds[0].ID != "ref-1" {
			t.Fatalf("timeline of %s with refunds %+v", tl.Payment.ID, tl.Refunds)
		}
		want := []struct {
			at             time.Duration
			source, kind   string
			refund, detail string
		}{
			{0, store.SourcePayment, "created", "", "MPM payment of 100.00 CNY"},
			{0, store.SourceAudit, store.AuditPay, "", "by partner:hipay, ok"},
			{time.Second, store.SourceEvent, acquirer.EventPaymentSucceeded, "", "to hipay, not yet numbered"},
			{2 * time.Second, store.SourceRefund, "created", "ref-1", "refund of 25.00 CNY"},
			{2 * time.Second, store.SourceAudit, store.AuditRefund, "ref-1", "by network:unionpay, ok"},
			{3 * time.Second, store.SourceRefund, "updated", "ref-1", "status SUCCEEDED, partner reference wallet-ref-1"},
			{3 * time.Second, store.SourceEvent, acquirer.EventRefundSucceeded, "ref-1", "to hipay"},
			// The refund reserved its amount on the payment's row, a change
			// of the row after its success.
			{2 * time.Second, store.SourcePayment, "updated", "", "status SUCCEEDED, credited, reference net-ref-1, refunded 25.00 CNY"},
		}
		if len(tl.Entries) != len(want) {
			for _, e := range tl.Entries {
				t.Logf("%s %s %s %s %s", e.Time, e.Source, e.Kind, e.RefundID, e.Detail)
			}
			t.Fatalf("%d entries, want %d", len(tl.Entries), len(want))
		}
		found := 0
		for _, w := range want {
			for _, e := range tl.Entries {
				if e.Time.Equal(at(w.at)) && e.Source == w.source && e.Kind == w.kind && e.RefundID == w.refund && strings.HasPrefix(e.Detail, w.detail) {
					found++
					break
				}
			}
		}
		if found != len(want) {
			for _, e := range tl.Entries {
				t.Logf("%s %s %s %s %s", e.Time, e.Source, e.Kind, e.RefundID, e.Detail)
			}
			t.Fatalf("%d of %d entries as expected", found, len(want))
		}
		for i := 1; i < len(tl.Entries); i++ {
			if tl.Entries[i].Time.Before(tl.Entries[i-1].Time) {
				t.Fatalf("entry %d (%s) before entry %d (%s)", i, tl.Entries[i].Time, i-1, tl.Entries[i-1].Time)
			}
		}
		if tl.Entries[0].Kind != "created" || tl.Entries[1].Source != store.SourceAudit {
			t.Errorf("at the same instant the creation comes first, then its request: %+v", tl.Entries[:2])
		}
		if _, err := x.s.PaymentTimeline(x.ctx, "nope"); !errors.Is(err, acquirer.ErrPaymentNotFound) {
			t.Errorf("the timeline of an unknown payment: %v", err)
		}
	})
}
