package settlement

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// invariant is one rule the ledger keeps: query returns the rows that
// break it, and format (applied to the row's columns as strings) describes
// each.
type invariant struct {
	query  string
	format string
}

// receivableNets sums, per cycle, receivable account and currency, the
// entries of the cycle's member postings.
const receivableNets = `SELECT m.cycle_id, e.account, e.currency,
	SUM(CASE WHEN e.side = 'D' THEN e.minor_units ELSE -e.minor_units END) AS net,
	COUNT(DISTINCT m.posting_id) AS postings
	FROM settlement_cycle_postings m JOIN ledger_entries e ON e.posting_id = m.posting_id
	WHERE e.account LIKE 'partner_receivable:%'
	GROUP BY m.cycle_id, e.account, e.currency`

// payableNets sums, per cycle, payable account and currency, the
// credit-positive entries of the cycle's member postings.
const payableNets = `SELECT m.cycle_id, e.account, e.currency,
	SUM(CASE WHEN e.side = 'C' THEN e.minor_units ELSE -e.minor_units END) AS net,
	COUNT(DISTINCT m.posting_id) AS postings
	FROM settlement_cycle_postings m JOIN ledger_entries e ON e.posting_id = m.posting_id
	WHERE e.account LIKE 'merchant_payable:%'
	GROUP BY m.cycle_id, e.account, e.currency`

// invariants are the ledger's rules, each checked by one query.
var invariants = []invariant{
	// Every posting balances per currency.
	{`SELECT posting_id, currency,
		CAST(SUM(CASE WHEN side = 'D' THEN minor_units ELSE 0 END) AS INT8),
		CAST(SUM(CASE WHEN side = 'C' THEN minor_units ELSE 0 END) AS INT8)
		FROM ledger_entries GROUP BY posting_id, currency
		HAVING SUM(CASE WHEN side = 'D' THEN minor_units ELSE -minor_units END) <> 0
		ORDER BY posting_id, currency`,
		"posting %s does not balance in %s: debits %s, credits %s"},
	// A payment has at most one posting of each kind.
	{`SELECT payment_id, kind, CAST(COUNT(*) AS INT8) FROM ledger_postings
		GROUP BY payment_id, kind HAVING COUNT(*) > 1 ORDER BY payment_id, kind`,
		"payment %s has more than one posting of kind %s: %s"},
	// A posting has at least two entries, each of a positive amount.
	{`SELECT p.posting_id, CAST(COUNT(e.posting_id) AS INT8)
		FROM ledger_postings p LEFT JOIN ledger_entries e ON e.posting_id = p.posting_id
		GROUP BY p.posting_id HAVING COUNT(e.posting_id) < 2 ORDER BY p.posting_id`,
		"posting %s has %s entries, fewer than two"},
	{`SELECT posting_id, CAST(seq AS INT8), CAST(minor_units AS INT8) FROM ledger_entries
		WHERE minor_units <= 0 ORDER BY posting_id, seq`,
		"entry %s/%s has %s minor units, not a positive amount"},
	// A statement is the sum of its cycle's member postings' entries on the
	// partner's receivable account in its currency, and every such sum has
	// its statement.
	{`SELECT s.statement_id, CAST(s.net_minor AS INT8), CAST(s.postings AS INT8),
		CAST(COALESCE(x.net, 0) AS INT8), CAST(COALESCE(x.postings, 0) AS INT8)
		FROM settlement_statements s LEFT JOIN (` + receivableNets + `) x
		ON x.cycle_id = s.cycle_id AND x.account = 'partner_receivable:' || s.partner_id AND x.currency = s.currency
		WHERE COALESCE(x.net, 0) <> s.net_minor OR COALESCE(x.postings, 0) <> s.postings
		ORDER BY s.statement_id`,
		"statement %s nets %s over %s postings, but its cycle's receivable entries net %s over %s postings"},
	{`SELECT x.cycle_id, x.account, x.currency FROM (` + receivableNets + `) x
		WHERE NOT EXISTS (SELECT 1 FROM settlement_statements s WHERE s.cycle_id = x.cycle_id
			AND 'partner_receivable:' || s.partner_id = x.account AND s.currency = x.currency)
		ORDER BY x.cycle_id, x.account, x.currency`,
		"cycle %s has entries on %s in %s but no statement"},
	// A network statement is the sum of its cycle's member postings'
	// entries on the network's payable in its currency, and every such sum
	// has its network statement.
	{`SELECT s.statement_id, CAST(s.net_minor AS INT8), CAST(s.postings AS INT8),
		CAST(COALESCE(x.net, 0) AS INT8), CAST(COALESCE(x.postings, 0) AS INT8)
		FROM settlement_network_statements s LEFT JOIN (` + payableNets + `) x
		ON x.cycle_id = s.cycle_id AND x.account = 'merchant_payable:' || s.network_id AND x.currency = s.currency
		WHERE COALESCE(x.net, 0) <> s.net_minor OR COALESCE(x.postings, 0) <> s.postings
		ORDER BY s.statement_id`,
		"network statement %s nets %s over %s postings, but its cycle's payable entries net %s over %s postings"},
	{`SELECT x.cycle_id, x.account, x.currency FROM (` + payableNets + `) x
		WHERE NOT EXISTS (SELECT 1 FROM settlement_network_statements s WHERE s.cycle_id = x.cycle_id
			AND 'merchant_payable:' || s.network_id = x.account AND s.currency = x.currency)
		ORDER BY x.cycle_id, x.account, x.currency`,
		"cycle %s has entries on %s in %s but no network statement"},
	// A posting names the partner and network its entries move, and a
	// partner's cycle holds only that partner's postings.
	{`SELECT p.posting_id, p.partner_id, p.network_id FROM ledger_postings p
		WHERE p.partner_id <> COALESCE((SELECT MIN(substr(e.account, 20)) FROM ledger_entries e
				WHERE e.posting_id = p.posting_id AND e.account LIKE 'partner_receivable:%'), '')
			OR p.network_id <> COALESCE((SELECT MIN(substr(e.account, 18)) FROM ledger_entries e
				WHERE e.posting_id = p.posting_id AND e.account LIKE 'merchant_payable:%'), '')
		ORDER BY p.posting_id`,
		"posting %s names partner %q and network %q, not those its entries move"},
	{`SELECT m.posting_id, p.partner_id, c.cycle_id FROM settlement_cycle_postings m
		JOIN settlement_cycles c ON c.cycle_id = m.cycle_id JOIN ledger_postings p ON p.posting_id = m.posting_id
		WHERE c.partner_id <> '' AND c.partner_id <> p.partner_id AND p.kind NOT LIKE 'fee:%' ORDER BY m.posting_id`,
		"posting %s of partner %s is in cycle %s of another partner"},
	// A fee posting charges what its statement says, in the cycle it names
	// (its payment id), and every charged fee has its posting.
	{`SELECT s.statement_id, CAST(s.fee_minor AS INT8), CAST(COALESCE(f.fee, 0) AS INT8) FROM (
			SELECT statement_id, fee_minor FROM settlement_statements
			UNION ALL SELECT statement_id, fee_minor FROM settlement_network_statements) s
		LEFT JOIN (SELECT p.kind, SUM(e.minor_units) AS fee FROM ledger_postings p
			JOIN ledger_entries e ON e.posting_id = p.posting_id AND e.account = 'fee_revenue' AND e.side = 'C'
			WHERE p.kind LIKE 'fee:%' GROUP BY p.kind) f ON f.kind = 'fee:' || s.statement_id
		WHERE s.fee_minor <> COALESCE(f.fee, 0) ORDER BY s.statement_id`,
		"statement %s charged a fee of %s but its fee posting credits %s"},
	{`SELECT p.posting_id, p.kind, p.payment_id FROM ledger_postings p
		WHERE p.kind LIKE 'fee:%' AND (NOT EXISTS (SELECT 1 FROM settlement_cycle_postings m
				WHERE m.posting_id = p.posting_id AND m.cycle_id = p.payment_id)
			OR NOT EXISTS (SELECT 1 FROM settlement_statements s WHERE 'fee:' || s.statement_id = p.kind)
				AND NOT EXISTS (SELECT 1 FROM settlement_network_statements s WHERE 'fee:' || s.statement_id = p.kind))
		ORDER BY p.posting_id`,
		"fee posting %s (%s) is not in cycle %s or has no statement"},
	// A cycle's recorded posting count is its membership count.
	{`SELECT c.cycle_id, CAST(c.postings AS INT8), CAST(COALESCE(n.members, 0) AS INT8)
		FROM settlement_cycles c LEFT JOIN (SELECT cycle_id, COUNT(*) AS members
			FROM settlement_cycle_postings GROUP BY cycle_id) n ON n.cycle_id = c.cycle_id
		WHERE COALESCE(n.members, 0) <> c.postings ORDER BY c.cycle_id`,
		"cycle %s records %s postings but has %s members"},
	// A membership names an existing posting and an existing cycle.
	{`SELECT m.posting_id, m.cycle_id FROM settlement_cycle_postings m
		WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.posting_id = m.posting_id)
		ORDER BY m.posting_id`,
		"membership of posting %s in cycle %s names no posting"},
	{`SELECT m.posting_id, m.cycle_id FROM settlement_cycle_postings m
		WHERE NOT EXISTS (SELECT 1 FROM settlement_cycles c WHERE c.cycle_id = m.cycle_id)
		ORDER BY m.posting_id`,
		"membership of posting %s in cycle %s names no cycle"},
}

// CheckInvariants implements Store: every invariant's query, in one
// transaction so that they see one state of the ledger.
func (s *SQLStore) CheckInvariants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		out = nil
		for _, inv := range invariants {
			found, err := violations(ctx, tx, inv)
			if err != nil {
				return err
			}
			out = append(out, found...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("settlement: check invariants: %w", err)
	}
	return out, nil
}

// violations runs one invariant's query and describes each row.
func violations(ctx context.Context, q sqlstore.Querier, inv invariant) ([]string, error) {
	rows, err := q.QueryContext(ctx, inv.query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		args := make([]any, len(vals))
		for i, v := range vals {
			args[i] = v.String
		}
		out = append(out, fmt.Sprintf(inv.format, args...))
	}
	return out, rows.Err()
}
