package app

import (
	"context"
	"fmt"

	"github.com/unigate/unigate/pkg/sqlstore"
	acqstore "github.com/unigate/unigate/services/acquirer/store"
	"github.com/unigate/unigate/services/settlement"
)

// What VerifyLedger checks, the names its violations carry.
const (
	// InvLedger: the ledger's own rules (settlement.CheckInvariants):
	// every posting balances per currency, a payment has one posting of
	// each kind, a statement is the sum of its cycle's postings, a
	// cycle's count is its membership.
	InvLedger = "ledger"
	// InvAcquirer: the acquirer's rules (refunds within the payment, …).
	InvAcquirer = "acquirer"
	// InvMoney: no money created or destroyed: every account nets what
	// the acquirer's records say moved.
	InvMoney = "money"
	// InvPosting: every succeeded payment, refund and cancel is posted
	// exactly once, with its amounts, and nothing else is.
	InvPosting = "posting"
	// InvCycle: a posting older than a closed cycle's successor's cutoff
	// belongs to a cycle.
	InvCycle = "cycle"
)

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// VerifyLedger proves the books over a database that holds the acquirer's
// and the settlement service's tables (one database, as in production and
// in `unigate cluster`): it returns every violation, none when the books
// are sound. Run it on a quiet switch (`unigate chaos` waits for one): a
// payment between its S and its posting is reported as unposted.
func VerifyLedger(ctx context.Context, db *sqlstore.DB) ([]Violation, error) {
	return verify(ctx, db, "")
}

// VerifyCycle proves one closed cycle: its postings balance, its
// statements are its postings' sums, each of its postings is a movement
// the acquirer recorded with that movement's amounts, and every account
// nets over the cycle what those movements moved. It fails if there is no
// such cycle.
func VerifyCycle(ctx context.Context, db *sqlstore.DB, cycleID string) ([]Violation, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM settlement_cycles WHERE cycle_id = $1`, cycleID).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("no closed cycle %q", cycleID)
	}
	return verify(ctx, db, cycleID)
}

func verify(ctx context.Context, db *sqlstore.DB, cycleID string) ([]Violation, error) {
	if cycleID != "" {
		return runChecks(ctx, db, cycleChecks, cycleID)
	}
	var out []Violation
	led, err := settlement.NewSQLStore(db).CheckInvariants(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range led {
		out = append(out, Violation{InvLedger, s})
	}
	acq, err := acqstore.New(db).CheckInvariants(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range acq {
		out = append(out, Violation{InvAcquirer, s})
	}
	more, err := runChecks(ctx, db, ledgerChecks)
	return append(out, more...), err
}

// runChecks runs queries that return one row, a description, per
// violation.
func runChecks(ctx context.Context, db *sqlstore.DB, checks []check, args ...any) ([]Violation, error) {
	var out []Violation
	for _, c := range checks {
		rows, err := db.QueryContext(ctx, c.query, args...)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", c.inv, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, Violation{c.inv, s})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("verify %s: %w", c.inv, err)
		}
	}
	return out, nil
}

type check struct{ inv, query string }

// cycleChecks prove one cycle ($1).
var cycleChecks = []check{
	{InvLedger, `SELECT 'posting ' || e.posting_id || ' does not balance in ' || e.currency FROM ledger_entries e
		JOIN settlement_cycle_postings m ON m.posting_id = e.posting_id AND m.cycle_id = $1
		GROUP BY e.posting_id, e.currency HAVING SUM(CASE WHEN e.side = 'D' THEN e.minor_units ELSE -e.minor_units END) <> 0`},
	{InvLedger, `SELECT 'statement ' || s.statement_id || ' nets ' || s.net_minor || ' over ' || s.postings || ' postings, its cycle''s entries '
			|| COALESCE(x.net, 0) || ' over ' || COALESCE(x.n, 0)
		FROM settlement_statements s LEFT JOIN (
			SELECT e.account, e.currency, SUM(CASE WHEN e.side = 'D' THEN e.minor_units ELSE -e.minor_units END) AS net,
				COUNT(DISTINCT e.posting_id) AS n
			FROM settlement_cycle_postings m JOIN ledger_entries e ON e.posting_id = m.posting_id
			WHERE m.cycle_id = $1 AND e.account LIKE 'partner_receivable:%' GROUP BY e.account, e.currency) x
		ON x.account = 'partner_receivable:' || s.partner_id AND x.currency = s.currency
		WHERE s.cycle_id = $1 AND (COALESCE(x.net, 0) <> s.net_minor OR COALESCE(x.n, 0) <> s.postings)`},
	{InvLedger, `SELECT 'network statement ' || s.statement_id || ' nets ' || s.net_minor || ' over ' || s.postings
			|| ' postings, its cycle''s entries ' || COALESCE(x.net, 0) || ' over ' || COALESCE(x.n, 0)
		FROM settlement_network_statements s LEFT JOIN (
			SELECT e.account, e.currency, SUM(CASE WHEN e.side = 'C' THEN e.minor_units ELSE -e.minor_units END) AS net,
				COUNT(DISTINCT e.posting_id) AS n
			FROM settlement_cycle_postings m JOIN ledger_entries e ON e.posting_id = m.posting_id
			WHERE m.cycle_id = $1 AND e.account LIKE 'merchant_payable:%' GROUP BY e.account, e.currency) x
		ON x.account = 'merchant_payable:' || s.network_id AND x.currency = s.currency
		WHERE s.cycle_id = $1 AND (COALESCE(x.net, 0) <> s.net_minor OR COALESCE(x.n, 0) <> s.postings)`},
	{InvLedger, `SELECT 'posting ' || m.posting_id || ' of partner ' || p.partner_id || ' is in the cycle of ' || c.partner_id
		FROM settlement_cycle_postings m JOIN settlement_cycles c ON c.cycle_id = m.cycle_id
		JOIN ledger_postings p ON p.posting_id = m.posting_id
		WHERE m.cycle_id = $1 AND c.partner_id <> '' AND c.partner_id <> p.partner_id AND p.kind NOT LIKE 'fee:%'`},
	{InvLedger, `SELECT 'cycle ' || c.cycle_id || ' records ' || c.postings || ' postings but has ' || COUNT(m.posting_id) || ' members'
		FROM settlement_cycles c LEFT JOIN settlement_cycle_postings m ON m.cycle_id = c.cycle_id
		WHERE c.cycle_id = $1 GROUP BY c.cycle_id, c.postings HAVING COUNT(m.posting_id) <> c.postings`},
	// Each member posting is a movement the acquirer recorded, or the fee
	// of one of the cycle's statements.
	{InvPosting, `SELECT 'unexpected posting ' || lp.kind || ' of payment ' || lp.payment_id FROM settlement_cycle_postings m
		JOIN ledger_postings lp ON lp.posting_id = m.posting_id WHERE m.cycle_id = $1 AND NOT (
			(lp.kind LIKE 'fee:%' AND lp.payment_id = $1 AND (
				EXISTS (SELECT 1 FROM settlement_statements s WHERE s.cycle_id = $1 AND 'fee:' || s.statement_id = lp.kind)
				OR EXISTS (SELECT 1 FROM settlement_network_statements s WHERE s.cycle_id = $1 AND 'fee:' || s.statement_id = lp.kind)))
			OR
			(lp.kind = 'payment' AND EXISTS (SELECT 1 FROM acq_payments p WHERE p.payment_id = lp.payment_id
				AND (p.status = 'SUCCEEDED' OR (p.status = 'CANCELLED' AND p.credited))))
			OR EXISTS (SELECT 1 FROM acq_payments p WHERE p.payment_id = lp.payment_id AND p.status = 'CANCELLED' AND p.credited
				AND lp.kind = 'reversal:cancel-' || p.payment_id)
			OR EXISTS (SELECT 1 FROM acq_refunds r WHERE r.payment_id = lp.payment_id AND r.status = 'SUCCEEDED'
				AND lp.kind = 'reversal:' || r.refund_id))`},
	// Over the cycle, every account nets what its member movements moved
	// (its fees are proved against its statements by the ledger's rules).
	{InvMoney, `WITH members AS (
			SELECT lp.payment_id, lp.kind, lp.posting_id FROM settlement_cycle_postings m
			JOIN ledger_postings lp ON lp.posting_id = m.posting_id WHERE m.cycle_id = $1 AND lp.kind NOT LIKE 'fee:%'
		), moves AS (
			SELECT p.partner_id, p.network_id,
				CASE WHEN p.settlement_currency = '' THEN p.wallet_currency ELSE p.settlement_currency END AS sc, p.merchant_currency AS mc,
				CASE WHEN mb.kind = 'payment' THEN 1 ELSE -1 END
					* CASE WHEN p.settlement_currency = '' THEN p.wallet_minor ELSE p.settlement_minor END AS s,
				CASE WHEN mb.kind = 'payment' THEN 1 ELSE -1 END * p.cost_minor AS c,
				CASE WHEN mb.kind = 'payment' THEN 1 ELSE -1 END * p.merchant_minor AS m
			FROM members mb JOIN acq_payments p ON p.payment_id = mb.payment_id
			WHERE mb.kind = 'payment' OR mb.kind = 'reversal:cancel-' || p.payment_id
			UNION ALL SELECT p.partner_id, p.network_id,
				CASE WHEN r.settlement_currency = '' THEN r.wallet_currency ELSE r.settlement_currency END, r.merchant_currency,
				-(CASE WHEN r.settlement_currency = '' THEN r.wallet_minor ELSE r.settlement_minor END), -r.cost_minor, -r.merchant_minor
			FROM members mb JOIN acq_refunds r ON r.payment_id = mb.payment_id AND mb.kind = 'reversal:' || r.refund_id
			JOIN acq_payments p ON p.payment_id = r.payment_id
		), expected AS (
			SELECT account, currency, SUM(net) AS net FROM (
				SELECT 'partner_receivable:' || partner_id AS account, sc AS currency, s AS net FROM moves
				UNION ALL SELECT 'merchant_payable:' || network_id, mc, -m FROM moves
				UNION ALL SELECT 'fx_revenue', sc, c - s FROM moves
				UNION ALL SELECT 'fx_position:' || sc, sc, -c FROM moves WHERE sc <> mc
				UNION ALL SELECT 'fx_position:' || mc, mc, m FROM moves WHERE sc <> mc) x
			GROUP BY account, currency
		), actual AS (
			SELECT e.account, e.currency, SUM(CASE WHEN e.side = 'D' THEN e.minor_units ELSE -e.minor_units END) AS net
			FROM members mb JOIN ledger_entries e ON e.posting_id = mb.posting_id GROUP BY e.account, e.currency
		)
		SELECT 'account ' || COALESCE(e.account, a.account) || ' in ' || COALESCE(e.currency, a.currency) || ' nets '
			|| COALESCE(a.net, 0) || ' over the cycle, ' || COALESCE(e.net, 0) || ' by the acquirer''s records of its movements'
		FROM expected e FULL JOIN actual a ON a.account = e.account AND a.currency = e.currency
		WHERE COALESCE(e.net, 0) <> COALESCE(a.net, 0)`},
}

// ledgerChecks are queries that return one row, a description, per
// violation.
var ledgerChecks = []check{
	// Partner receivables, merchant payables, FX revenue and FX positions,
	// per account and currency, equal what the acquirer's rows say moved:
	// succeeded payments less succeeded refunds (a cancelled payment's
	// posting and its full reversal net to nothing). A partner's debt, the
	// FX revenue and the cost are in its settlement currency (the wallet's
	// for a row from before settlement currencies); nothing is converted
	// when that is the merchant's. Debit-positive.
	{InvMoney, `WITH moves AS (
			SELECT partner_id, network_id,
				CASE WHEN settlement_currency = '' THEN wallet_currency ELSE settlement_currency END AS sc, merchant_currency AS mc,
				CASE WHEN settlement_currency = '' THEN wallet_minor ELSE settlement_minor END AS s, cost_minor AS c, merchant_minor AS m
			FROM acq_payments WHERE status = 'SUCCEEDED'
			UNION ALL SELECT p.partner_id, p.network_id,
				CASE WHEN r.settlement_currency = '' THEN r.wallet_currency ELSE r.settlement_currency END, r.merchant_currency,
				-(CASE WHEN r.settlement_currency = '' THEN r.wallet_minor ELSE r.settlement_minor END), -r.cost_minor, -r.merchant_minor
			FROM acq_refunds r JOIN acq_payments p ON p.payment_id = r.payment_id WHERE r.status = 'SUCCEEDED'
		), expected AS (
			SELECT account, currency, SUM(net) AS net FROM (
				SELECT 'partner_receivable:' || partner_id AS account, sc AS currency, s AS net FROM moves
				UNION ALL SELECT 'merchant_payable:' || network_id, mc, -m FROM moves
				UNION ALL SELECT 'fx_revenue', sc, c - s FROM moves
				UNION ALL SELECT 'fx_position:' || sc, sc, -c FROM moves WHERE sc <> mc
				UNION ALL SELECT 'fx_position:' || mc, mc, m FROM moves WHERE sc <> mc) x
			GROUP BY account, currency
		), actual AS (
			SELECT account, currency, SUM(CASE WHEN side = 'D' THEN minor_units ELSE -minor_units END) AS net
			FROM ledger_entries WHERE (account LIKE 'partner_receivable:%' OR account LIKE 'merchant_payable:%' OR account = 'fx_revenue'
				OR account LIKE 'fx_position:%')
				AND posting_id NOT IN (SELECT posting_id FROM ledger_postings WHERE kind LIKE 'fee:%')
			GROUP BY account, currency
		)
		SELECT 'account ' || COALESCE(e.account, a.account) || ' in ' || COALESCE(e.currency, a.currency) || ' nets '
			|| COALESCE(a.net, 0) || ' in the ledger, ' || COALESCE(e.net, 0) || ' by the acquirer''s records'
		FROM expected e FULL JOIN actual a ON a.account = e.account AND a.currency = e.currency
		WHERE COALESCE(e.net, 0) <> COALESCE(a.net, 0)`},

	// Every movement the acquirer recorded is posted once, and nothing else.
	{InvPosting, `WITH expected AS (
			SELECT payment_id, 'payment' AS kind FROM acq_payments WHERE status = 'SUCCEEDED' OR (status = 'CANCELLED' AND credited)
			UNION ALL SELECT payment_id, 'reversal:cancel-' || payment_id FROM acq_payments WHERE status = 'CANCELLED' AND credited
			UNION ALL SELECT payment_id, 'reversal:' || refund_id FROM acq_refunds WHERE status = 'SUCCEEDED'
		), actual AS (
			SELECT payment_id, kind, count(*) AS n FROM ledger_postings WHERE kind NOT LIKE 'fee:%' GROUP BY payment_id, kind
		)
		SELECT 'missing posting ' || e.kind || ' of payment ' || e.payment_id FROM expected e
			LEFT JOIN actual a ON a.payment_id = e.payment_id AND a.kind = e.kind WHERE a.n IS NULL
		UNION ALL SELECT 'unexpected posting ' || a.kind || ' of payment ' || a.payment_id FROM actual a
			LEFT JOIN expected e ON e.payment_id = a.payment_id AND e.kind = a.kind WHERE e.payment_id IS NULL
		UNION ALL SELECT 'posting ' || kind || ' of payment ' || payment_id || ' made ' || n || ' times' FROM actual WHERE n > 1
		UNION ALL SELECT 'payment ' || payment_id || ' (' || status || ') not marked posted' FROM acq_payments
			WHERE status IN ('SUCCEEDED', 'CANCELLED') AND NOT ledger_posted
		UNION ALL SELECT 'refund ' || refund_id || ' not marked posted' FROM acq_refunds WHERE status = 'SUCCEEDED' AND NOT ledger_posted
		UNION ALL SELECT 'payment ' || payment_id || ' set aside by the poster: ' || posting_error FROM acq_payments WHERE posting_error <> ''
		UNION ALL SELECT 'refund ' || refund_id || ' set aside by the poster: ' || posting_error FROM acq_refunds WHERE posting_error <> ''`},
	{InvPosting, `SELECT 'posting payment of ' || p.payment_id || ' does not carry its amounts'
		FROM acq_payments p JOIN ledger_postings lp ON lp.payment_id = p.payment_id AND lp.kind = 'payment'
		WHERE (SELECT COALESCE(SUM(e.minor_units), 0) FROM ledger_entries e WHERE e.posting_id = lp.posting_id
				AND e.account = 'merchant_payable:' || p.network_id AND e.side = 'C' AND e.currency = p.merchant_currency) <> p.merchant_minor
			OR (SELECT COALESCE(SUM(e.minor_units), 0) FROM ledger_entries e WHERE e.posting_id = lp.posting_id
				AND e.account = 'partner_receivable:' || p.partner_id AND e.side = 'D'
				AND e.currency = CASE WHEN p.settlement_currency = '' THEN p.wallet_currency ELSE p.settlement_currency END)
				<> CASE WHEN p.settlement_currency = '' THEN p.wallet_minor ELSE p.settlement_minor END
		UNION ALL SELECT 'posting reversal:' || r.refund_id || ' does not carry the refund''s amounts'
		FROM acq_refunds r JOIN acq_payments p ON p.payment_id = r.payment_id
			JOIN ledger_postings lp ON lp.payment_id = r.payment_id AND lp.kind = 'reversal:' || r.refund_id
		WHERE (SELECT COALESCE(SUM(e.minor_units), 0) FROM ledger_entries e WHERE e.posting_id = lp.posting_id
				AND e.account = 'merchant_payable:' || p.network_id AND e.side = 'D' AND e.currency = r.merchant_currency) <> r.merchant_minor
			OR (SELECT COALESCE(SUM(e.minor_units), 0) FROM ledger_entries e WHERE e.posting_id = lp.posting_id
				AND e.account = 'partner_receivable:' || p.partner_id AND e.side = 'C'
				AND e.currency = CASE WHEN r.settlement_currency = '' THEN r.wallet_currency ELSE r.settlement_currency END)
				<> CASE WHEN r.settlement_currency = '' THEN r.wallet_minor ELSE r.settlement_minor END`},

	// Closing a cycle takes every posting of its partner (of every
	// partner, for a close of all) made before its cutoff that no cycle
	// holds (but those of a payment held for a cancel). A posting made just
	// before a cutoff may be written just after the close, and lands in the
	// next cycle; one older than the cutoff of the cycle before the newest
	// of those that could take it must be in a cycle.
	{InvCycle, `SELECT 'posting ' || p.kind || ' of payment ' || p.payment_id || ' was made before the cutoff of cycle '
			|| c.cycle_id || ' and of a later one, but belongs to no cycle'
		FROM ledger_postings p JOIN settlement_cycles c ON p.create_time < c.cutoff AND c.partner_id IN ('', p.partner_id)
		WHERE EXISTS (SELECT 1 FROM settlement_cycles later WHERE later.cutoff > c.cutoff AND later.partner_id IN ('', p.partner_id))
			AND NOT EXISTS (SELECT 1 FROM settlement_cycles earlier WHERE earlier.cutoff < c.cutoff AND p.create_time < earlier.cutoff
				AND earlier.partner_id IN ('', p.partner_id))
			AND NOT EXISTS (SELECT 1 FROM settlement_cycle_postings m WHERE m.posting_id = p.posting_id)
			AND NOT EXISTS (SELECT 1 FROM settlement_cancel_holds h WHERE h.payment_id = p.payment_id)`},
}
