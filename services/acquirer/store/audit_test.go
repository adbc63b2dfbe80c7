package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
)

// auditRows are the audit entries about subject, linked or not.
func (x suite) auditRows(t *testing.T, subject string) []audit.Entry {
	t.Helper()
	rows, err := x.db.QueryContext(x.ctx, `SELECT actor, action, outcome, COALESCE(before_json, ''), COALESCE(after_json, ''), trace_id
		FROM audit_log WHERE subject = $1 ORDER BY create_time, action`, subject)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var before, after string
		if err := rows.Scan(&e.Actor, &e.Action, &e.Outcome, &before, &after, &e.TraceID); err != nil {
			t.Fatal(err)
		}
		e.Before, e.After = json.RawMessage(before), json.RawMessage(after)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuditWithChange checks that each money-moving request's change
// writes exactly one audit entry with it, and a change that does not
// apply writes none.
func TestAuditWithChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
		sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
		traced := trace.ContextWithSpanContext(x.ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
		asPartner := authn.WithIdentity(traced, authn.Identity{Kind: authn.Partner, ID: partnerID})

		p := newPayment("pay-audit", t0)
		if _, inserted, err := x.s.InsertPayment(asPartner, p); err != nil || !inserted {
			t.Fatalf("InsertPayment = %v, %v", inserted, err)
		}
		// A repeat is not a new payment: no second entry.
		if _, inserted, err := x.s.InsertPayment(asPartner, p); err != nil || inserted {
			t.Fatalf("InsertPayment again = %v, %v", inserted, err)
		}
		got := x.auditRows(t, p.ID)
		if len(got) != 1 {
			t.Fatalf("audit entries after a payment and its repeat: %d, want 1", len(got))
		}
		e := got[0]
		var after map[string]any
		if err := json.Unmarshal(e.After, &after); err != nil {
			t.Fatal(err)
		}
		if e.Actor != "partner:"+partnerID || e.Action != store.AuditPay || e.Outcome != "ok" || e.TraceID != tid.String() ||
			after["partner_payment_id"] != p.PartnerPaymentID || after["merchant_amount"].(map[string]any)["minor"] != float64(10000) {
			t.Errorf("payment entry: %+v (after %s)", e, e.After)
		}

		// A CPM payment without a certificate in the context: the network
		// that owns it stands in.
		c := newCPMPayment("pay-audit-cpm", "order-audit", t0)
		if _, inserted, err := x.s.InsertPayment(x.ctx, c); err != nil || !inserted {
			t.Fatalf("InsertPayment CPM = %v, %v", inserted, err)
		}
		if got := x.auditRows(t, c.ID); len(got) != 1 || got[0].Actor != "network:"+networkID || got[0].Action != store.AuditSubmit {
			t.Errorf("CPM entry: %+v", got)
		}

		// A cancel: one entry when accepted, none when it does not apply.
		when := t0.Add(time.Second)
		if _, applied, err := x.s.RequestCancel(asPartner, p.ID, t0, when.Add(time.Minute), when); err != nil || !applied {
			t.Fatalf("RequestCancel = %v, %v", applied, err)
		}
		if _, applied, err := x.s.RequestCancel(asPartner, p.ID, t0, when.Add(time.Minute), when); err != nil || applied {
			t.Fatalf("RequestCancel again = %v, %v", applied, err)
		}
		got = x.auditRows(t, p.ID)
		if len(got) != 2 {
			t.Fatalf("audit entries after a payment and a cancel: %+v", got)
		}
		e = got[1]
		if e.Action != store.AuditCancel || e.Actor != "partner:"+partnerID ||
			string(e.Before) != `{"status":"PROCESSING","cancel_requested":false}` ||
			string(e.After) != `{"status":"PROCESSING","cancel_requested":true}` || e.TraceID != tid.String() {
			t.Errorf("cancel entry: %+v before %s after %s", e, e.Before, e.After)
		}

		// A refund, by its network.
		s := x.insert(t, paymentIn("pay-audit-refund", "succeeded", t0))
		asNetwork := authn.WithIdentity(x.ctx, authn.Identity{Kind: authn.Network, ID: networkID})
		r, inserted, err := x.s.InsertRefund(asNetwork, newRefund("ref-audit", s.ID, 2500, t0.Add(time.Minute)), acquirer.Proportional)
		if err != nil || !inserted {
			t.Fatalf("InsertRefund = %v, %v", inserted, err)
		}
		if _, inserted, err := x.s.InsertRefund(asNetwork, newRefund("ref-audit", s.ID, 2500, t0.Add(time.Minute)), acquirer.Proportional); err != nil || inserted {
			t.Fatalf("InsertRefund again = %v, %v", inserted, err)
		}
		got = x.auditRows(t, r.ID)
		if len(got) != 1 || got[0].Action != store.AuditRefund || got[0].Actor != "network:"+networkID ||
			string(got[0].Before) != `{"payment_id":"pay-audit-refund","payment_refunded_minor":0}` {
			t.Errorf("refund entry: %+v", got)
		}

		// The entries chain and verify like any other.
		if _, err := audit.Chain(x.ctx, x.db, 100); err != nil {
			t.Fatal(err)
		}
		if rep, err := audit.Verify(x.ctx, x.db); err != nil || rep.FirstBroken != 0 || rep.Entries != 5 {
			t.Errorf("Verify = %+v, %v", rep, err)
		}
	})
}
