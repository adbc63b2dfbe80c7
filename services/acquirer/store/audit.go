package store

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/acquirer"
)

// Migrate runs the acquirer's migrations and those of the audit log,
// which the acquirer writes in the transactions of the money-moving
// changes it records.
func Migrate(ctx context.Context, db *sqlstore.DB) error {
	if err := db.Migrate(ctx, Migrations); err != nil {
		return err
	}
	return db.Migrate(ctx, audit.Migrations)
}

// Audit actions of the acquirer's money-moving requests. Each entry is
// written by the statement (or transaction) that makes the change, so a
// change without its entry, or an entry without its change, cannot be.
const (
	AuditPay    = "payment.pay"    // a partner's MPM payment accepted
	AuditSubmit = "payment.submit" // a network's CPM payment accepted
	AuditCancel = "payment.cancel" // a cancel accepted
	AuditRefund = "refund.create"  // a refund accepted
)

// auditColumns are the audit_log columns an unchained entry sets.
const auditColumns = `entry_id, create_time, actor, action, subject, outcome, before_json, after_json, trace_id, seq, prev_hash, hash`

// actor is who made the request in ctx: the identity of its certificate,
// else (plaintext, for local experiments) the payment's owner of kind.
func actor(ctx context.Context, kind authn.Kind, owner string) string {
	if id, ok := authn.FromContext(ctx); ok {
		return id.String()
	}
	return authn.Identity{Kind: kind, ID: owner}.String()
}

func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

type auditAmount struct {
	Currency string `json:"currency"`
	Minor    int64  `json:"minor"`
}

// paymentAudit is what the audit log keeps of a new payment: enough to
// say who moved how much to whom, nothing a one-time code could be read
// from.
type paymentAudit struct {
	Mode             string      `json:"mode"`
	Status           string      `json:"status"`
	PartnerID        string      `json:"partner_id"`
	PartnerPaymentID string      `json:"partner_payment_id"`
	NetworkID        string      `json:"network_id"`
	MerchantID       string      `json:"merchant_id"`
	MerchantOrderID  string      `json:"merchant_order_id,omitempty"`
	MerchantAmount   auditAmount `json:"merchant_amount"`
	WalletAmount     auditAmount `json:"wallet_amount"`
	SettlementAmount auditAmount `json:"settlement_amount"`
	QuoteID          string      `json:"quote_id,omitempty"`
	Rate             string      `json:"rate,omitempty"`
}

// paymentEntry is the audit entry of p's creation.
func paymentEntry(ctx context.Context, p Payment) (audit.Entry, error) {
	after, err := json.Marshal(paymentAudit{Mode: string(p.Mode), Status: string(p.Status), PartnerID: p.PartnerID,
		PartnerPaymentID: p.PartnerPaymentID, NetworkID: p.Merchant.NetworkID, MerchantID: p.Merchant.ID,
		MerchantOrderID:  p.MerchantOrderID,
		MerchantAmount:   auditAmount{p.MerchantAmount.Currency, p.MerchantAmount.Minor},
		WalletAmount:     auditAmount{p.WalletAmount.Currency, p.WalletAmount.Minor},
		SettlementAmount: auditAmount{p.SettlementAmount.Currency, p.SettlementAmount.Minor}, QuoteID: p.QuoteID, Rate: p.Rate})
	if err != nil {
		return audit.Entry{}, err
	}
	e := audit.Entry{ID: uuid.NewString(), Time: p.CreateTime.UTC(), Action: AuditPay, Subject: p.ID, Outcome: "ok",
		After: after, TraceID: traceID(ctx)}
	e.Actor = actor(ctx, authn.Partner, p.PartnerID)
	if p.Mode == acquirer.CPM {
		e.Action, e.Actor = AuditSubmit, actor(ctx, authn.Network, p.Merchant.NetworkID)
	}
	return e, nil
}

// refundEntry is the audit entry of r's creation on a payment of which
// refunded minor units had been refunded before.
func refundEntry(ctx context.Context, r Refund, refunded int64) audit.Entry {
	before, _ := json.Marshal(map[string]any{"payment_id": r.PaymentID, "payment_refunded_minor": refunded})
	after, _ := json.Marshal(map[string]any{"payment_id": r.PaymentID, "payment_refunded_minor": refunded + r.MerchantAmount.Minor,
		"status": string(r.Status), "request_id": r.RequestID,
		"merchant_amount":   auditAmount{r.MerchantAmount.Currency, r.MerchantAmount.Minor},
		"wallet_amount":     auditAmount{r.WalletAmount.Currency, r.WalletAmount.Minor},
		"settlement_amount": auditAmount{r.SettlementAmount.Currency, r.SettlementAmount.Minor}})
	return audit.Entry{ID: uuid.NewString(), Time: r.CreateTime.UTC(), Actor: actor(ctx, authn.Network, r.NetworkID),
		Action: AuditRefund, Subject: r.ID, Outcome: "ok", Before: before, After: after, TraceID: traceID(ctx)}
}
