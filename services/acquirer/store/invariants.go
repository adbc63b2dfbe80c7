package store

import (
	"context"
	"fmt"
)

// invariants are queries that return one row per violation, described by
// the first column.
var invariants = []struct{ name, query string }{
	{"refunded amount equals the refunds not failed", `
		SELECT p.payment_id FROM acq_payments p
		WHERE p.refunded_minor <> (SELECT CAST(COALESCE(SUM(r.merchant_minor), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status <> 'FAILED')`},
	{"refunds exceed the wallet, settlement or cost amount", `
		SELECT p.payment_id FROM acq_payments p
		WHERE p.wallet_minor < (SELECT CAST(COALESCE(SUM(r.wallet_minor), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status <> 'FAILED')
		OR ` + settled("p") + ` < (SELECT CAST(COALESCE(SUM(` + settled("r") + `), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status <> 'FAILED')
		OR p.cost_minor < (SELECT CAST(COALESCE(SUM(r.cost_minor), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status <> 'FAILED')`},
	{"a fully refunded payment's refunds do not return exactly its wallet, settlement and cost amounts", `
		SELECT p.payment_id FROM acq_payments p
		WHERE p.refunded_minor = p.merchant_minor
		AND NOT EXISTS (SELECT 1 FROM acq_refunds r WHERE r.payment_id = p.payment_id AND r.status = 'PROCESSING')
		AND (p.wallet_minor <> (SELECT CAST(COALESCE(SUM(r.wallet_minor), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status = 'SUCCEEDED')
		OR ` + settled("p") + ` <> (SELECT CAST(COALESCE(SUM(` + settled("r") + `), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status = 'SUCCEEDED')
		OR p.cost_minor <> (SELECT CAST(COALESCE(SUM(r.cost_minor), 0) AS INT8) FROM acq_refunds r
			WHERE r.payment_id = p.payment_id AND r.status = 'SUCCEEDED'))`},
	{"a refund in another settlement currency than its payment", `
		SELECT r.refund_id FROM acq_refunds r JOIN acq_payments p ON p.payment_id = r.payment_id
		WHERE CASE WHEN r.settlement_currency = '' THEN r.wallet_currency ELSE r.settlement_currency END
			<> CASE WHEN p.settlement_currency = '' THEN p.wallet_currency ELSE p.settlement_currency END`},
	{"a refund of a payment that is not succeeded", `
		SELECT r.refund_id FROM acq_refunds r JOIN acq_payments p ON p.payment_id = r.payment_id
		WHERE r.status <> 'FAILED' AND p.status <> 'SUCCEEDED'`},
	{"an unfinished row the resolver does not own", `
		SELECT payment_id FROM acq_payments
		WHERE (status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested)) <> (next_attempt_time IS NOT NULL)
		UNION ALL SELECT refund_id FROM acq_refunds WHERE (status = 'PROCESSING') <> (next_attempt_time IS NOT NULL)`},
	{"a payment marked posted in a state that posts nothing", `
		SELECT payment_id FROM acq_payments WHERE ledger_posted AND status NOT IN ('SUCCEEDED', 'CANCELLED')`},
	{"a payment or refund with more than one event of a type", `
		SELECT payment_id || '/' || refund_id || '/' || event_type FROM acq_events
		WHERE payment_id <> '' GROUP BY payment_id, refund_id, event_type HAVING count(*) > 1`},
	{"a final payment without its event", `
		SELECT p.payment_id FROM acq_payments p WHERE p.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
		AND NOT EXISTS (SELECT 1 FROM acq_events e WHERE e.payment_id = p.payment_id AND e.refund_id = ''
			AND e.event_type = CASE p.status WHEN 'SUCCEEDED' THEN 'EVENT_TYPE_PAYMENT_SUCCEEDED'
				WHEN 'FAILED' THEN 'EVENT_TYPE_PAYMENT_FAILED' ELSE 'EVENT_TYPE_PAYMENT_CANCELLED' END)`},
}

// CheckInvariants runs the acquirer's invariant queries and returns one
// line per violation (none when the books hold). The tests run it after
// every end-to-end scenario; an operator can run it any time.
func (s *SQLStore) CheckInvariants(ctx context.Context) ([]string, error) {
	var out []string
	for _, inv := range invariants {
		ids, err := queryAll(ctx, s.db, func(row scanner) (string, error) {
			var id string
			return id, row.Scan(&id)
		}, inv.query)
		if err != nil {
			return nil, fmt.Errorf("acquirer: invariant %q: %w", inv.name, err)
		}
		for _, id := range ids {
			out = append(out, inv.name+": "+id)
		}
	}
	return out, nil
}
