package store

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/acquirer"
)

// Match is a payment found by one of its ids, and which id it was
// ("payment_id", "partner_payment_id", …: see FindPayments).
type Match struct {
	Payment Payment
	By      string
}

// Sources of timeline entries.
const (
	SourcePayment = "payment" // the payment's row
	SourceRefund  = "refund"  // a refund's row
	SourceEvent   = "event"   // a partner event in the outbox
	SourceAudit   = "audit"   // an audit log entry
)

// TimelineEntry is one thing the acquirer recorded of a payment.
type TimelineEntry struct {
	Time     time.Time
	Source   string // SourcePayment, SourceRefund, SourceEvent or SourceAudit
	Kind     string // "created", "updated", the event type or the audit action
	RefundID string // the refund it concerns, if any
	ID       string // the event's or audit entry's id; "" for a row's entries
	Detail   string
}

// Timeline is a payment, its refunds, and what was recorded of them,
// oldest first.
type Timeline struct {
	Payment Payment
	Refunds []Refund
	Entries []TimelineEntry
}

// maxMatches bounds FindPayments: an id is one payment's, or at most one
// per partner (a partner payment id two partners happen to share).
const maxMatches = 20

// lookups are the ids FindPayments tries, each a condition on
// acq_payments with the id as $1. The columns are indexed (migration
// 0008); the conditions repeat the partial indexes' predicates.
var lookups = []struct{ by, where string }{
	{"payment_id", `payment_id = $1`},
	{"partner_payment_id", `partner_payment_id = $1`},
	{"merchant_order_id", `merchant_order_id = $1 AND merchant_order_id <> ''`},
	{"network_reference", `network_reference = $1 AND network_reference <> ''`},
	{"quote_id", `quote_id = $1 AND quote_id <> ''`},
	{"refund_id", `payment_id IN (SELECT payment_id FROM acq_refunds WHERE refund_id = $1)`},
	{"refund_request_id", `payment_id IN (SELECT payment_id FROM acq_refunds WHERE request_id = $1)`},
	{"refund_partner_reference", `payment_id IN (SELECT payment_id FROM acq_refunds WHERE partner_reference = $1 AND partner_reference <> '')`},
	{"event_id", `payment_id IN (SELECT payment_id FROM acq_events WHERE event_id = $1 AND payment_id <> '')`},
}

// traceLookup finds payments by the trace id of an audited request (the
// payment's, or one of its refunds'). The audit log is not indexed by
// trace, so it is tried only for an id shaped like one.
var (
	traceLookup = `payment_id IN (SELECT subject FROM audit_log WHERE trace_id = $1)
		OR payment_id IN (SELECT r.payment_id FROM acq_refunds r JOIN audit_log a ON a.subject = r.refund_id WHERE a.trace_id = $1)`
	traceID32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// FindPayments returns the payments that have id as one of their ids, at
// most one match per payment (the first id that matched, in the order of
// lookups), in that order. No match is no error.
func (s *SQLStore) FindPayments(ctx context.Context, id string) ([]Match, error) {
	var out []Match
	seen := map[string]bool{}
	try := func(by, where string) error {
		ps, err := queryAll(ctx, s.db, scanPayment, `SELECT `+paymentColumns+` FROM acq_payments WHERE `+where+
			` ORDER BY create_time, payment_id LIMIT `+fmt.Sprint(maxMatches), id)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if !seen[p.ID] && len(out) < maxMatches {
				seen[p.ID] = true
				out = append(out, Match{Payment: p, By: by})
			}
		}
		return nil
	}
	for _, l := range lookups {
		if err := try(l.by, l.where); err != nil {
			return nil, err
		}
	}
	if traceID32.MatchString(id) {
		if err := try("trace_id", traceLookup); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PaymentRefunds returns a payment's refunds, oldest first;
// acquirer.ErrPaymentNotFound if there is no such payment.
func (s *SQLStore) PaymentRefunds(ctx context.Context, paymentID string) ([]Refund, error) {
	if _, err := s.Payment(ctx, paymentID); err != nil {
		return nil, err
	}
	return s.refundsOf(ctx, paymentID)
}

func (s *SQLStore) refundsOf(ctx context.Context, paymentID string) ([]Refund, error) {
	return queryAll(ctx, s.db, scanRefund, `SELECT `+refundColumns+` FROM acq_refunds WHERE payment_id = $1
		ORDER BY create_time, refund_id`, paymentID)
}

// FindRefund returns the refund whose id, request id (of any network) or
// partner reference is id, and which it was; acquirer.ErrRefundNotFound
// if none. An id that is one refund's id wins over another's request id.
func (s *SQLStore) FindRefund(ctx context.Context, id string) (Refund, string, error) {
	for _, l := range []struct{ by, where string }{
		{"refund_id", `refund_id = $1`},
		{"request_id", `request_id = $1`},
		{"partner_reference", `partner_reference = $1 AND partner_reference <> ''`},
	} {
		rs, err := queryAll(ctx, s.db, scanRefund, `SELECT `+refundColumns+` FROM acq_refunds WHERE `+l.where+
			` ORDER BY create_time, refund_id LIMIT 1`, id)
		if err != nil {
			return Refund{}, "", err
		}
		if len(rs) == 1 {
			return rs[0], l.by, nil
		}
	}
	return Refund{}, "", acquirer.ErrRefundNotFound
}

// PaymentTimeline returns the payment, its refunds and, oldest first:
// the payment's creation and last change (the row keeps no history of
// its own), each refund's, the partner events of the payment and its
// refunds, and the audit entries of the requests that created, cancelled
// or refunded it. acquirer.ErrPaymentNotFound if there is no such payment.
func (s *SQLStore) PaymentTimeline(ctx context.Context, paymentID string) (Timeline, error) {
	p, err := s.Payment(ctx, paymentID)
	if err != nil {
		return Timeline{}, err
	}
	refunds, err := s.refundsOf(ctx, paymentID)
	if err != nil {
		return Timeline{}, err
	}
	t := Timeline{Payment: p, Refunds: refunds}
	t.Entries = append(t.Entries, TimelineEntry{Time: p.CreateTime, Source: SourcePayment, Kind: "created",
		Detail: fmt.Sprintf("%s payment of %s (the user pays %s, the partner owes %s) at %s/%s for %s, key %s",
			p.Mode, p.MerchantAmount, p.WalletAmount, p.SettlementAmount, p.Merchant.NetworkID, p.Merchant.ID, p.PartnerID, p.PartnerPaymentID)})
	if p.UpdateTime.After(p.CreateTime) {
		t.Entries = append(t.Entries, TimelineEntry{Time: p.UpdateTime, Source: SourcePayment, Kind: "updated", Detail: paymentState(p)})
	}
	refundOf := map[string]bool{}
	for _, r := range refunds {
		refundOf[r.ID] = true
		t.Entries = append(t.Entries, TimelineEntry{Time: r.CreateTime, Source: SourceRefund, Kind: "created", RefundID: r.ID,
			Detail: fmt.Sprintf("refund of %s (to the user %s), request %s of %s", r.MerchantAmount, r.WalletAmount, r.RequestID, r.NetworkID)})
		if r.UpdateTime.After(r.CreateTime) {
			t.Entries = append(t.Entries, TimelineEntry{Time: r.UpdateTime, Source: SourceRefund, Kind: "updated", RefundID: r.ID,
				Detail: refundState(r)})
		}
	}
	events, err := queryAll(ctx, s.db, func(row scanner) (TimelineEntry, error) {
		var (
			e       TimelineEntry
			partner string
			seq     *int64
		)
		err := row.Scan(&e.ID, &partner, &e.Kind, &e.RefundID, &e.Time, &seq)
		e.Source, e.Time = SourceEvent, e.Time.UTC()
		e.Detail = "to " + partner + ", not yet numbered for delivery"
		if seq != nil {
			e.Detail = fmt.Sprintf("to %s, sequence %d", partner, *seq)
		}
		return e, err
	}, `SELECT event_id, partner_id, event_type, refund_id, create_time, sequence FROM acq_events
		WHERE payment_id = $1 AND payment_id <> '' ORDER BY create_time, event_id`, paymentID)
	if err != nil {
		return Timeline{}, err
	}
	t.Entries = append(t.Entries, events...)
	audits, err := queryAll(ctx, s.db, func(row scanner) (TimelineEntry, error) {
		var (
			e                       TimelineEntry
			subject, actor, outcome string
			trace                   string
			after                   *string
		)
		err := row.Scan(&e.ID, &e.Time, &actor, &e.Kind, &subject, &outcome, &after, &trace)
		e.Source, e.Time = SourceAudit, e.Time.UTC()
		if subject != paymentID {
			e.RefundID = subject
		}
		d := []string{"by " + actor, outcome}
		if after != nil && *after != "" {
			d = append(d, *after)
		}
		if trace != "" {
			d = append(d, "trace "+trace)
		}
		e.Detail = strings.Join(d, ", ")
		return e, err
	}, `SELECT entry_id, create_time, actor, action, subject, outcome, after_json, trace_id FROM audit_log
		WHERE subject = $1 OR subject IN (SELECT refund_id FROM acq_refunds WHERE payment_id = $1)
		ORDER BY create_time, entry_id`, paymentID)
	if err != nil {
		return Timeline{}, err
	}
	t.Entries = append(t.Entries, audits...)
	sort.SliceStable(t.Entries, func(i, j int) bool {
		a, b := t.Entries[i], t.Entries[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return rank(a) < rank(b)
	})
	return t, nil
}

// rank orders entries of the same instant: a row's creation, the request
// that made it, a row's change, the event the change caused.
func rank(e TimelineEntry) int {
	switch {
	case e.Kind == "created":
		return 0
	case e.Source == SourceAudit:
		return 1
	case e.Source == SourceEvent:
		return 3
	}
	return 2
}

// paymentState describes a payment's row as it stands.
func paymentState(p Payment) string {
	d := []string{"status " + string(p.Status)}
	if p.Credited {
		d = append(d, "credited")
	}
	if p.NetworkReference != "" {
		d = append(d, "reference "+p.NetworkReference)
	}
	if p.CancelRequested {
		d = append(d, "cancel requested")
	}
	if p.RefundedMinor > 0 {
		d = append(d, "refunded "+money.Amount{Currency: p.MerchantAmount.Currency, Minor: p.RefundedMinor}.String())
	}
	if p.FailureReason != "" {
		d = append(d, fmt.Sprintf("failure %s: %s", p.FailureReason, p.FailureMessage))
	}
	if p.LedgerPosted {
		d = append(d, "posted to the ledger")
	}
	if p.PostingError != "" {
		d = append(d, "set aside by the poster: "+p.PostingError)
	}
	if p.NextAttempt != nil {
		d = append(d, fmt.Sprintf("attempt %d, next at %s", p.Attempts, p.NextAttempt.Format(time.RFC3339)))
	}
	return strings.Join(d, ", ")
}

// refundState describes a refund's row as it stands.
func refundState(r Refund) string {
	d := []string{"status " + string(r.Status)}
	if r.PartnerReference != "" {
		d = append(d, "partner reference "+r.PartnerReference)
	}
	if r.FailureReason != "" {
		d = append(d, fmt.Sprintf("failure %s: %s", r.FailureReason, r.FailureMessage))
	}
	if r.LedgerPosted {
		d = append(d, "posted to the ledger")
	}
	if r.NextAttempt != nil {
		d = append(d, fmt.Sprintf("attempt %d, next at %s", r.Attempts, r.NextAttempt.Format(time.RFC3339)))
	}
	return strings.Join(d, ", ")
}
