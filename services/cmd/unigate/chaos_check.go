package main

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"time"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
)

// This file is the checking side of `unigate chaos`: waiting for the
// switch to finish what the run left in flight, then every invariant,
// each violation counted under its name.

// The invariants, in the order the final line gives them.
const (
	invUnfinished   = "unfinished"           // a request the switch accepted did not end S or F
	invDuplicate    = "duplicate-keys"       // one key, several payments (or refunds, or quote uses)
	invInconsistent = "inconsistent-retries" // one key, different final answers
	invLedger       = "ledger"               // the ledger's and the acquirer's invariants, totals, wallet balances
	invPosting      = "posting"              // each movement posted exactly once, with its amounts
	invStaleTerm    = "stale-term"           // sequences and the audit chain that only one leader at a time may write
)

var invariantNames = []string{invUnfinished, invDuplicate, invInconsistent, invLedger, invPosting, invStaleTerm}

// violations are the run's violations by invariant.
type violations map[string][]string

func (v violations) add(inv, format string, args ...any) {
	v[inv] = append(v[inv], fmt.Sprintf(format, args...))
}

func (v violations) total() int {
	n := 0
	for _, vs := range v {
		n += len(vs)
	}
	return n
}

// quiet is what the switch still has to do.
type quiet struct {
	inFlight, refunds, unposted, unsequenced, statementsBehind, unlinked int64
}

func (q quiet) done() bool { return q == quiet{} }

func (q quiet) String() string {
	return fmt.Sprintf("payments in flight %d, refunds in flight %d, unposted %d, events unnumbered %d, statements not relayed %d, audit entries unlinked %d",
		q.inFlight, q.refunds, q.unposted, q.unsequenced, q.statementsBehind, q.unlinked)
}

const quietQuery = `SELECT
	(SELECT count(*) FROM acq_payments WHERE status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested)),
	(SELECT count(*) FROM acq_refunds WHERE status = 'PROCESSING'),
	(SELECT count(*) FROM acq_payments WHERE status IN ('SUCCEEDED', 'CANCELLED') AND NOT ledger_posted AND posting_error = '')
		+ (SELECT count(*) FROM acq_refunds WHERE status = 'SUCCEEDED' AND NOT ledger_posted AND posting_error = ''),
	(SELECT count(*) FROM acq_events WHERE sequence IS NULL),
	(SELECT COALESCE(max(sequence), 0) FROM settlement_statements)
		- COALESCE((SELECT value FROM acq_cursors WHERE name = 'settlement-statements'), 0),
	(SELECT count(*) FROM audit_log WHERE seq IS NULL)`

// waitQuiet waits up to timeout for the switch to finish everything in
// flight, printing what is left every 10 s. It returns what is left.
func waitQuiet(ctx context.Context, db *sqlstore.DB, timeout time.Duration, logf func(string, ...any)) (quiet, time.Duration, error) {
	began := time.Now()
	lastLog := began
	var quietSince time.Time
	for {
		var q quiet
		err := db.QueryRowContext(ctx, quietQuery).Scan(&q.inFlight, &q.refunds, &q.unposted, &q.unsequenced, &q.statementsBehind, &q.unlinked)
		// Quiet twice, a moment apart: a last transition's side effects
		// (an audit entry, an event) may land just after a quiet look,
		// and the linker and the relay need a moment to take them.
		switch {
		case err != nil || !q.done():
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= 1500*time.Millisecond:
			return q, time.Since(began), nil
		}
		if time.Since(began) > timeout {
			return q, time.Since(began), err
		}
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			if err != nil {
				logf("settling %3.0fs: %v", time.Since(began).Seconds(), err)
			} else {
				logf("settling %3.0fs: %s", time.Since(began).Seconds(), q)
			}
		}
		select {
		case <-ctx.Done():
			return q, time.Since(began), ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sqlChecks are queries that return one row, a description, per
// violation of an invariant.
var sqlChecks = []struct{ inv, query string }{
	{invUnfinished, `SELECT 'payment ' || payment_id || ' is ' || status || CASE WHEN cancel_requested THEN ' with a cancel in flight' ELSE '' END
		FROM acq_payments WHERE status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested)
		UNION ALL SELECT 'refund ' || refund_id || ' is PROCESSING' FROM acq_refunds WHERE status = 'PROCESSING'`},

	{invDuplicate, `SELECT 'partner key ' || partner_id || '/' || partner_payment_id || ' has ' || count(*) || ' payments'
		FROM acq_payments GROUP BY partner_id, partner_payment_id HAVING count(*) > 1
		UNION ALL SELECT 'order ' || network_id || '/' || merchant_order_id || ' has ' || count(*) || ' payments'
		FROM acq_payments WHERE mode = 'CPM' GROUP BY network_id, merchant_order_id HAVING count(*) > 1
		UNION ALL SELECT 'refund request ' || network_id || '/' || request_id || ' has ' || count(*) || ' refunds'
		FROM acq_refunds GROUP BY network_id, request_id HAVING count(*) > 1
		UNION ALL SELECT 'quote ' || quote_id || ' pays ' || count(*) || ' payments' FROM acq_payments GROUP BY quote_id HAVING count(*) > 1
		UNION ALL SELECT 'payment ' || p.payment_id || ' uses quote ' || p.quote_id || ', locked to ' || COALESCE(q.payment_id, 'nothing')
		FROM acq_payments p JOIN fx_quotes q ON q.quote_id = p.quote_id WHERE q.payment_id IS DISTINCT FROM p.payment_id`},

	// What only the leader of the moment writes: partner event sequences
	// (1, 2, 3… per partner, none twice, the cursor at the last),
	// statement sequences (likewise, each statement relayed once).
	{invStaleTerm, `SELECT 'partner ' || partner_id || ': ' || count(*) || ' events numbered ' || min(sequence) || '..' || max(sequence)
			|| ' (' || count(DISTINCT sequence) || ' distinct)'
		FROM acq_events WHERE sequence IS NOT NULL GROUP BY partner_id
		HAVING min(sequence) <> 1 OR max(sequence) <> count(*) OR count(DISTINCT sequence) <> count(*)
		UNION ALL SELECT 'partner ' || c.partner_id || ': event cursor at ' || c.last_sequence || ', last event ' || COALESCE(max(e.sequence), 0)
		FROM acq_event_cursors c LEFT JOIN acq_events e ON e.partner_id = c.partner_id
		GROUP BY c.partner_id, c.last_sequence HAVING c.last_sequence <> COALESCE(max(e.sequence), 0)
		UNION ALL SELECT count(*) || ' events never numbered' FROM acq_events WHERE sequence IS NULL HAVING count(*) > 0
		UNION ALL SELECT count(*) || ' statements numbered ' || min(sequence) || '..' || max(sequence) || ' (' || count(DISTINCT sequence) || ' distinct)'
		FROM settlement_statements HAVING count(*) > 0 AND (min(sequence) <> 1 OR max(sequence) <> count(*) OR count(DISTINCT sequence) <> count(*))
		UNION ALL SELECT 'statement ' || s.statement_id || ' was never relayed to its partner' FROM settlement_statements s
		WHERE NOT EXISTS (SELECT 1 FROM acq_events e WHERE e.event_id = 'statement-' || s.statement_id)
		UNION ALL SELECT count(*) || ' audit entries never linked into the chain' FROM audit_log WHERE seq IS NULL HAVING count(*) > 0`},
}

// check runs every invariant after the run.
func (l *load) check(ctx context.Context, db *sqlstore.DB, seed int64) (violations, error) {
	v := violations{}
	for _, c := range sqlChecks {
		rows, err := db.QueryContext(ctx, c.query)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", c.inv, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			v.add(c.inv, "%s", s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("check %s: %w", c.inv, err)
		}
	}

	books, err := app.VerifyLedger(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, b := range books {
		inv := invLedger
		if b.Invariant == app.InvPosting {
			inv = invPosting
		}
		v.add(inv, "%s", b)
	}
	rep, err := audit.Verify(ctx, db)
	if err != nil {
		return nil, err
	}
	if rep.FirstBroken != 0 {
		v.add(invStaleTerm, "audit chain broken at entry %d of %d intact: %s", rep.FirstBroken, rep.Entries, rep.Reason)
	}

	if err := l.checkWallets(ctx, db, v); err != nil {
		return nil, err
	}
	if err := l.checkMerchants(ctx, db, v); err != nil {
		return nil, err
	}
	l.checkAnswers(ctx, rand.New(rand.NewSource(seed)), v)
	return v, nil
}

// checkWallets compares each consumer-presented payment's user's balance
// in the wallet with what the switch says happened: debited the wallet
// amount of a succeeded payment, credited its succeeded refunds, and
// nothing for a payment that failed or was cancelled.
func (l *load) checkWallets(ctx context.Context, db *sqlstore.DB, v violations) error {
	l.mu.Lock()
	stories := append([]cpmStory(nil), l.cpm...)
	l.mu.Unlock()
	for _, s := range stories {
		var (
			id, st string
			paid   int64
		)
		err := db.QueryRowContext(ctx, `SELECT payment_id, status, wallet_minor FROM acq_payments
			WHERE mode = 'CPM' AND network_id = $1 AND merchant_order_id = $2`, l.networkID, s.order).Scan(&id, &st, &paid)
		want := chaosBalance
		switch {
		case err == nil:
			var refunded int64
			if err := db.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(wallet_minor), 0) AS INT8) FROM acq_refunds
				WHERE payment_id = $1 AND status = 'SUCCEEDED'`, id).Scan(&refunded); err != nil {
				return err
			}
			if st == "SUCCEEDED" {
				want -= paid
			}
			want += refunded
		case strings.Contains(err.Error(), "no rows"):
			st = "never recorded"
		default:
			return err
		}
		if got := l.wallets.Wallet(s.partner).Balance(s.user); got != want {
			v.add(invLedger, "wallet: %s's user %s (order %s, payment %s %s) has %d, the switch's records say %d",
				s.partner, s.user, s.order, id, st, got, want)
		}
	}
	return nil
}

// checkMerchants compares what each simulated merchant was credited (and
// not reversed) with the merchant-presented payments the switch says
// succeeded: credited once each, and nothing for one that failed or was
// cancelled. (The simulator keeps its credits in memory: this holds for a
// simulator that has run as long as the database, as in make chaos.)
func (l *load) checkMerchants(ctx context.Context, db *sqlstore.DB, v violations) error {
	conn, err := l.h.dial("merchantsim", authn.Operator, "admin", chaosCallTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	sim := simulatorv1.NewMerchantSimulatorServiceClient(conn)
	for _, m := range l.merchants {
		id := m.GetMerchant().GetMerchantId()
		var count, total int64
		if err := db.QueryRowContext(ctx, `SELECT count(*), CAST(COALESCE(SUM(merchant_minor), 0) AS INT8) FROM acq_payments
			WHERE mode = 'MPM' AND status = 'SUCCEEDED' AND network_id = $1 AND merchant_id = $2`, l.networkID, id).Scan(&count, &total); err != nil {
			return err
		}
		got, err := sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: id})
		if err != nil {
			return fmt.Errorf("merchant %s's credits: %w", id, err)
		}
		if got.GetCount() != count || got.GetTotal().GetMinorUnits() != total {
			v.add(invLedger, "merchant: %s was credited %d times, %d in all; the switch's records say %d times, %d",
				id, got.GetCount(), got.GetTotal().GetMinorUnits(), count, total)
		}
	}
	return nil
}

// lookup asks the switch for a key's payment or refund, as the party
// that sent it, retrying what is not an answer. found=false when the
// switch has none.
func (l *load) lookup(ctx context.Context, rng *rand.Rand, rec *keyRecord) (p *partnerv1.Payment, r *partnerv1.Refund, found bool, err error) {
	for attempt := 0; attempt < 20; attempt++ {
		switch rec.kind {
		case kindPay:
			var resp *partnerv1.GetPaymentResponse
			key := strings.TrimPrefix(rec.key, rec.partner+"/")
			resp, err = l.partners[rec.partner].GetPayment(ctx, &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: key}})
			p = resp.GetPayment()
		case kindSubmit:
			var resp *acquiringv1.GetPaymentResponse
			resp, err = l.network.GetPayment(ctx, &acquiringv1.GetPaymentRequest{Id: &acquiringv1.GetPaymentRequest_OrderId{OrderId: rec.key}})
			p = resp.GetPayment()
		case kindRefund:
			var resp *acquiringv1.GetRefundResponse
			resp, err = l.network.GetRefund(ctx, &acquiringv1.GetRefundRequest{Id: &acquiringv1.GetRefundRequest_RefundRequestId{RefundRequestId: rec.key}})
			r = resp.GetRefund()
		default:
			return nil, nil, false, nil
		}
		switch {
		case err == nil:
			return p, r, true, nil
		case unigate.ReasonOf(err) == "PAYMENT_NOT_FOUND" || unigate.ReasonOf(err) == "REFUND_NOT_FOUND":
			return nil, nil, false, nil
		case !retryable(err):
			return nil, nil, false, err
		}
		if !pause(ctx, rng, attempt) {
			break
		}
	}
	return nil, nil, false, err
}

// checkAnswers checks every key the workers used against the switch, as
// its sender sees it: each ended S or F, names the payment (or refund)
// the answers named, in the status of its final answer (or of the
// cancel's, if it was cancelled); one key never shares a payment with
// another; and no key had differing final answers.
func (l *load) checkAnswers(ctx context.Context, rng *rand.Rand, v violations) {
	owner := map[string]string{} // payment or refund id → key
	for _, rec := range l.rec.all() {
		if s := rec.inconsistent(); s != "" {
			v.add(invInconsistent, "%s", s)
		}
		if rec.kind == kindCancel || rec.kind == kindClose || rec.sent == 0 {
			continue
		}
		p, r, found, err := l.lookup(ctx, rng, rec)
		if err != nil {
			v.add(invUnfinished, "%s %s: the switch does not answer an inquiry: %v", rec.kind, rec.key, err)
			continue
		}
		named := rec.paymentID
		if rec.kind == kindRefund {
			named = rec.refundID
		}
		if !found {
			if named != "" {
				v.add(invUnfinished, "%s %s: answered with %s, which the switch no longer knows", rec.kind, rec.key, named)
			}
			continue
		}
		id, result, st := p.GetPaymentId(), p.GetResult(), p.GetStatus().String()
		if r != nil {
			id, result, st = r.GetRefundId(), r.GetResult(), r.GetStatus().String()
		}
		if other, ok := owner[id]; ok {
			v.add(invDuplicate, "%s %s and %s share %s", rec.kind, rec.key, other, id)
		}
		owner[id] = rec.key
		if result != commonv1.Result_RESULT_SUCCESS && result != commonv1.Result_RESULT_FAILURE {
			v.add(invUnfinished, "%s %s: %s is %s (%s) after the switch settled", rec.kind, rec.key, id, result, st)
			continue
		}
		switch {
		case rec.refused != "":
			v.add(invInconsistent, "%s %s: refused %s, yet the switch has %s (%s)", rec.kind, rec.key, rec.refused, id, st)
		case named != "" && named != id:
			v.add(invInconsistent, "%s %s: answered with %s, the switch now says %s", rec.kind, rec.key, named, id)
		}
		// What the switch says now must be the final answer, unless a
		// cancel changed the payment since: then its status is the
		// cancel's final answer's, and its id and amounts are the same.
		var now, want string
		switch {
		case rec.refused != "" || rec.firstFinal == "":
		case r != nil:
			now, want = refundSummary(r), rec.firstFinal
		case rec.cancel == nil && !rec.loose:
			now, want = paymentSummary(p, false), rec.firstFinal
		default:
			now = paymentSummary(p, true)
			for s := range rec.looseFinals {
				want = s
			}
			if c := rec.cancel; c != nil && c.firstFinal != "" && c.refused == "" && c.status != st {
				v.add(invInconsistent, "%s %s: the cancel of %s answered %s, the switch now says %s", rec.kind, rec.key, id, c.status, st)
			}
		}
		if want != "" && now != want {
			v.add(invInconsistent, "%s %s: answered {%s}, the switch now says {%s}", rec.kind, rec.key, want, now)
		}
	}
}
