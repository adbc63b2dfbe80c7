package settlement

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the ledger schema.
var Migrations = sqlstore.Migrations{Component: "settlement", FS: migrationsFS, Dir: "migrations"}

// SQLStore keeps the ledger in SQL.
type SQLStore struct{ db *sqlstore.DB }

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

// InsertPostings implements Store in one transaction: a multi-row insert
// of the postings that skips those already posted, one multi-row insert of
// the new postings' entries, and a read of the ones that existed, which
// rolls everything back if one of them has other entries.
func (s *SQLStore) InsertPostings(ctx context.Context, ps []Posting) ([]Posting, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	var existing map[string]Posting
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		existing = nil
		var b strings.Builder
		b.WriteString(`INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time, partner_id, network_id) VALUES `)
		args := make([]any, 0, 6*len(ps))
		for i, p := range ps {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
			args = append(args, p.id, p.paymentID, p.kind, p.createTime, p.partnerID, p.networkID)
		}
		b.WriteString(` ON CONFLICT (payment_id, kind) DO NOTHING RETURNING posting_id`)
		rows, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return err
		}
		inserted := make(map[string]bool, len(ps))
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			inserted[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		b.Reset()
		b.WriteString(`INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units) VALUES `)
		args = args[:0]
		var missing []any
		for _, p := range ps {
			if !inserted[p.id] {
				missing = append(missing, p.paymentID)
				continue
			}
			for i, e := range p.entries {
				if len(args) > 0 {
					b.WriteString(", ")
				}
				n := len(args)
				fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
				args = append(args, p.id, i, e.Account, string(e.Side), e.Amount.Currency, e.Amount.Minor)
			}
		}
		if len(args) > 0 {
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		if len(missing) == 0 {
			return nil
		}
		found, err := listPostings(ctx, tx, `p.payment_id IN (`+placeholders(1, len(missing))+`)`, missing...)
		if err != nil {
			return err
		}
		existing = make(map[string]Posting, len(found))
		for _, f := range found {
			existing[f.paymentID+"/"+f.kind] = f
		}
		var conflicts []string
		for _, p := range ps {
			if e, ok := existing[p.paymentID+"/"+p.kind]; ok && !sameEntries(e.entries, p.entries) {
				conflicts = append(conflicts, fmt.Sprintf("payment %s kind %s", p.paymentID, p.kind))
			}
		}
		if len(conflicts) > 0 {
			// Rolls the whole batch back.
			return conflicting(conflicts)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("settlement: insert postings: %w", err)
	}
	out := make([]Posting, len(ps))
	for i, p := range ps {
		if e, ok := existing[p.paymentID+"/"+p.kind]; ok {
			out[i] = e
		} else {
			out[i] = p
		}
	}
	return out, nil
}

// placeholders returns "$from, $from+1, …" for n parameters.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// ListPostings implements Store.
func (s *SQLStore) ListPostings(ctx context.Context, paymentID string) ([]Posting, error) {
	return listPostings(ctx, s.db, `p.payment_id = $1`, paymentID)
}

func listPostings(ctx context.Context, q sqlstore.Querier, where string, args ...any) ([]Posting, error) {
	rows, err := q.QueryContext(ctx, `SELECT p.posting_id, p.payment_id, p.kind, p.create_time,
		e.account, e.side, e.currency, e.minor_units
		FROM ledger_postings p JOIN ledger_entries e ON e.posting_id = p.posting_id
		WHERE `+where+` ORDER BY p.create_time, p.posting_id, e.seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Posting
	for rows.Next() {
		var (
			p    Posting
			e    Entry
			side string
			at   time.Time
		)
		if err := rows.Scan(&p.id, &p.paymentID, &p.kind, &at, &e.Account, &side, &e.Amount.Currency, &e.Amount.Minor); err != nil {
			return nil, err
		}
		e.Side = Side(side)
		if n := len(out); n == 0 || out[n-1].id != p.id {
			p.createTime = at.UTC()
			out = append(out, p)
		}
		last := &out[len(out)-1]
		last.entries = append(last.entries, e)
	}
	return out, rows.Err()
}

// TrialBalance implements Store.
func (s *SQLStore) TrialBalance(ctx context.Context) ([]AccountBalance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account, currency,
		CAST(COALESCE(SUM(CASE WHEN side = 'D' THEN minor_units ELSE 0 END), 0) AS INT8),
		CAST(COALESCE(SUM(CASE WHEN side = 'C' THEN minor_units ELSE 0 END), 0) AS INT8)
		FROM ledger_entries GROUP BY account, currency ORDER BY currency, account`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountBalance
	for rows.Next() {
		var b AccountBalance
		if err := rows.Scan(&b.Account, &b.Currency, &b.Debit, &b.Credit); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// CloseCycle implements CycleStore. One transaction checks the fence,
// (for a new close, with the close's audit entry)
// inserts the cycle's memberships with one INSERT … SELECT of the open
// postings made before the cutoff (leaving out those of held payments whose
// cancel reversal is not posted before the cutoff), records the cycle and
// writes its statements.
func (s *SQLStore) CloseCycle(ctx context.Context, partner string, cutoff, now time.Time, fence *Fence, fees Fees) (Cycle, []Statement, error) {
	id := CycleID(cutoff, partner)
	var (
		c   Cycle
		sts []Statement
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		sts = nil
		if fence != nil {
			if err := checkFence(ctx, tx, *fence); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, `SELECT cycle_id, partner_id, cutoff, close_time, postings FROM settlement_cycles WHERE cycle_id = $1`, id).
			Scan(&c.ID, &c.PartnerID, &c.Cutoff, &c.CloseTime, &c.Postings)
		if err == nil {
			sts, err = statements(ctx, tx, `cycle_id = $1 ORDER BY sequence`, id)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Cycles close in order: a cutoff before the newest that could take
		// the same postings (the partner's own, or one of every partner;
		// for every partner, any) would make a cycle of nothing, listed
		// after the one that took its postings.
		var later sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT MAX(cycle_id) FROM settlement_cycles WHERE cutoff > $1
			AND ($2 = '' OR partner_id = '' OR partner_id = $2)`, cutoff.UTC(), partner).Scan(&later); err != nil {
			return err
		}
		if later.Valid {
			return rpcerr.New(rpcerr.CutoffOutOfOrder, "cycle %s with a later cutoff is closed already", later.String)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO settlement_cycle_postings (posting_id, cycle_id)
			SELECT p.posting_id, $1 FROM ledger_postings p
			WHERE p.create_time < $2 AND ($4 = '' OR p.partner_id = $4)
			AND NOT EXISTS (SELECT 1 FROM settlement_cycle_postings m WHERE m.posting_id = p.posting_id)
			AND NOT EXISTS (SELECT 1 FROM settlement_cancel_holds h WHERE h.payment_id = p.payment_id
				AND NOT EXISTS (SELECT 1 FROM ledger_postings r WHERE r.payment_id = h.payment_id
					AND r.kind = CAST($3 AS TEXT) || h.payment_id AND r.create_time < $2))`,
			id, cutoff.UTC(), cancelReversalKindPrefix, partner)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		c = Cycle{ID: id, PartnerID: partner, Cutoff: cutoff.UTC(), CloseTime: now.UTC().Truncate(time.Microsecond), Postings: n}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT CAST(COALESCE(MAX(sequence), 0) AS INT8) FROM settlement_statements`).Scan(&last); err != nil {
			return err
		}
		sides, err := cycleSides(ctx, tx, id)
		if err != nil {
			return err
		}
		var nets []NetworkStatement
		for _, sd := range sides {
			var tiers []FeeTier
			if fees != nil {
				if sd.partner {
					tiers = fees.PartnerFees(sd.party)
				} else {
					tiers = fees.NetworkFees(sd.party)
				}
			}
			fee, err := Fee(tiers, sd.gross, sd.payments)
			if err != nil {
				return err
			}
			if sd.partner {
				last++
				st := Statement{ID: id + "/" + sd.party + "/" + sd.currency, Sequence: last, CycleID: id, PartnerID: sd.party,
					NetReceivable: money.Amount{Currency: sd.currency, Minor: sd.net + fee}, Postings: sd.postings, Cutoff: c.Cutoff,
					Gross: sd.gross, Fee: fee}
				if fee > 0 {
					st.Postings++
					if err := postFee(ctx, tx, id, st.ID, partnerReceivable(sd.party), Debit, money.Amount{Currency: sd.currency, Minor: fee}, c.Cutoff); err != nil {
						return err
					}
				}
				sts = append(sts, st)
				continue
			}
			ns := NetworkStatement{ID: id + "/network:" + sd.party + "/" + sd.currency, CycleID: id, NetworkID: sd.party,
				NetPayable: money.Amount{Currency: sd.currency, Minor: sd.net - fee}, Postings: sd.postings, Cutoff: c.Cutoff,
				Gross: sd.gross, Fee: fee}
			if fee > 0 {
				ns.Postings++
				if err := postFee(ctx, tx, id, ns.ID, merchantPayable(sd.party), Debit, money.Amount{Currency: sd.currency, Minor: fee}, c.Cutoff); err != nil {
					return err
				}
			}
			nets = append(nets, ns)
		}
		// The fee postings joined the cycle too.
		for _, st := range sts {
			if st.Fee > 0 {
				c.Postings++
			}
		}
		for _, ns := range nets {
			if ns.Fee > 0 {
				c.Postings++
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_cycles (cycle_id, partner_id, cutoff, close_time, postings) VALUES ($1, $2, $3, $4, $5)`,
			c.ID, c.PartnerID, c.Cutoff, c.CloseTime, c.Postings); err != nil {
			return err
		}
		for _, st := range sts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_statements (statement_id, sequence, cycle_id, partner_id,
				currency, net_minor, postings, cutoff, gross_minor, fee_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				st.ID, st.Sequence, st.CycleID, st.PartnerID, st.NetReceivable.Currency, st.NetReceivable.Minor, st.Postings, st.Cutoff,
				st.Gross, st.Fee); err != nil {
				return err
			}
		}
		// The networks' mirror: each payable's credit net over the cycle,
		// less the network's fee.
		for _, ns := range nets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_network_statements (statement_id, cycle_id, network_id, currency,
				net_minor, postings, cutoff, gross_minor, fee_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				ns.ID, ns.CycleID, ns.NetworkID, ns.NetPayable.Currency, ns.NetPayable.Minor, ns.Postings, ns.Cutoff, ns.Gross, ns.Fee); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, closeEntry(ctx, c, sts, fence))
	})
	if err != nil {
		return Cycle{}, nil, fmt.Errorf("settlement: close cycle: %w", err)
	}
	c.Cutoff, c.CloseTime = c.Cutoff.UTC(), c.CloseTime.UTC()
	return c, sts, nil
}

// cycleSide is one partner's receivable, or one network's payable, in one
// currency over a cycle's postings: its net (debit-positive for a
// receivable, credit-positive for a payable), how many postings touch it,
// and the gross and count of the payments less the cancels among them.
type cycleSide struct {
	partner                        bool
	party, currency                string
	net, postings, gross, payments int64
}

// cycleSides sums a cycle's receivables and payables, receivables first.
func cycleSides(ctx context.Context, tx *sqlstore.Tx, cycleID string) ([]cycleSide, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.account, e.currency,
		CAST(SUM(CASE WHEN e.side = 'D' THEN e.minor_units ELSE -e.minor_units END) AS INT8),
		CAST(COUNT(DISTINCT m.posting_id) AS INT8),
		CAST(SUM(CASE WHEN p.kind = 'payment' THEN e.minor_units
			WHEN p.kind LIKE 'reversal:cancel-%' THEN -e.minor_units ELSE 0 END) AS INT8),
		CAST(COUNT(DISTINCT CASE WHEN p.kind = 'payment' THEN p.posting_id END) AS INT8)
			- CAST(COUNT(DISTINCT CASE WHEN p.kind LIKE 'reversal:cancel-%' THEN p.posting_id END) AS INT8)
		FROM settlement_cycle_postings m JOIN ledger_postings p ON p.posting_id = m.posting_id
		JOIN ledger_entries e ON e.posting_id = m.posting_id
		WHERE m.cycle_id = $1 AND (e.account LIKE 'partner_receivable:%' OR e.account LIKE 'merchant_payable:%')
		GROUP BY e.account, e.currency
		ORDER BY CASE WHEN e.account LIKE 'partner_receivable:%' THEN 0 ELSE 1 END, e.account, e.currency`, cycleID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cycleSide
	for rows.Next() {
		var (
			sd      cycleSide
			account string
		)
		if err := rows.Scan(&account, &sd.currency, &sd.net, &sd.postings, &sd.gross, &sd.payments); err != nil {
			return nil, err
		}
		if id, ok := strings.CutPrefix(account, PartnerReceivablePrefix); ok {
			sd.partner, sd.party = true, id
		} else {
			// A payable's net is credit-positive.
			sd.party, sd.net = strings.TrimPrefix(account, MerchantPayablePrefix), -sd.net
		}
		out = append(out, sd)
	}
	return out, rows.Err()
}

// postFee posts a statement's fee in the close's transaction: account
// (the partner's receivable, or the network's payable) debited,
// fee_revenue credited, the posting "fee:<statement id>" of the cycle's
// payment id, made at the cutoff, and a member of the cycle.
func postFee(ctx context.Context, tx *sqlstore.Tx, cycleID, statementID, account string, side Side, fee money.Amount, at time.Time) error {
	p, err := NewPosting(cycleID, feeKindPrefix+statementID, []Entry{
		{Account: account, Side: side, Amount: fee},
		{Account: FeeRevenueAccount, Side: Credit, Amount: fee},
	}, at)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time, partner_id, network_id)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.id, p.paymentID, p.kind, p.createTime, p.partnerID, p.networkID); err != nil {
		return err
	}
	for i, e := range p.entries {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units)
			VALUES ($1, $2, $3, $4, $5, $6)`, p.id, i, e.Account, string(e.Side), e.Amount.Currency, e.Amount.Minor); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO settlement_cycle_postings (posting_id, cycle_id) VALUES ($1, $2)`, p.id, cycleID)
	return err
}

// NetworkStatements implements CycleStore.
func (s *SQLStore) NetworkStatements(ctx context.Context, cycleID string) ([]NetworkStatement, error) {
	return networkStatements(ctx, s.db, `cycle_id = $1 ORDER BY network_id, currency`, cycleID)
}

// ListNetworkStatements implements CycleStore.
func (s *SQLStore) ListNetworkStatements(ctx context.Context, networkID string, before time.Time, limit int) ([]NetworkStatement, error) {
	if before.IsZero() {
		before = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return networkStatements(ctx, s.db, `($1 = '' OR network_id = $1) AND cutoff < $2
		ORDER BY cutoff DESC, statement_id LIMIT $3`, networkID, before.UTC(), limit)
}

func networkStatements(ctx context.Context, q sqlstore.Querier, where string, args ...any) ([]NetworkStatement, error) {
	rows, err := q.QueryContext(ctx, `SELECT statement_id, cycle_id, network_id, currency, net_minor, postings, cutoff,
		gross_minor, fee_minor FROM settlement_network_statements WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("settlement: network statements: %w", err)
	}
	defer rows.Close()
	var out []NetworkStatement
	for rows.Next() {
		var n NetworkStatement
		if err := rows.Scan(&n.ID, &n.CycleID, &n.NetworkID, &n.NetPayable.Currency, &n.NetPayable.Minor, &n.Postings, &n.Cutoff,
			&n.Gross, &n.Fee); err != nil {
			return nil, err
		}
		n.Cutoff = n.Cutoff.UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

// LatestCutoff implements CycleStore.
func (s *SQLStore) LatestCutoff(ctx context.Context, partner string) (time.Time, error) {
	var c Cycle
	err := s.db.QueryRowContext(ctx, `SELECT cutoff FROM settlement_cycles WHERE partner_id = '' OR partner_id = $1
		ORDER BY cutoff DESC LIMIT 1`, partner).Scan(&c.Cutoff)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("settlement: latest cutoff of %s: %w", partner, err)
	}
	return c.Cutoff.UTC(), nil
}

// checkFence returns ErrFenced unless fence is the newest claim of its name.
func checkFence(ctx context.Context, tx *sqlstore.Tx, fence Fence) error {
	if err := sqlstore.CheckFence(ctx, tx, "settlement_fences", fence.Name, fence.Revision); errors.Is(err, sqlstore.ErrFenced) {
		return fmt.Errorf("%w: %s at revision %d", ErrFenced, fence.Name, fence.Revision)
	} else if err != nil {
		return err
	}
	return nil
}

// ClaimFence implements CycleStore.
func (s *SQLStore) ClaimFence(ctx context.Context, name string, rev int64) (bool, error) {
	ok, err := s.db.ClaimFence(ctx, "settlement_fences", name, rev)
	if err != nil {
		return false, fmt.Errorf("settlement: %w", err)
	}
	return ok, nil
}

// HoldForCancel implements CycleStore: in one transaction, an existing hold
// answers held; a payment posting in a cycle answers settled; otherwise
// the hold is inserted.
func (s *SQLStore) HoldForCancel(ctx context.Context, paymentID string, now time.Time) (bool, string, error) {
	var (
		held  bool
		cycle string
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		held, cycle = false, ""
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM settlement_cancel_holds WHERE payment_id = $1`, paymentID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			held = true
			return nil
		}
		c, err := paymentCycle(ctx, tx, paymentID)
		if err != nil || c != "" {
			cycle = c
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_cancel_holds (payment_id, create_time) VALUES ($1, $2)
			ON CONFLICT (payment_id) DO NOTHING`, paymentID, now.UTC().Truncate(time.Microsecond)); err != nil {
			return err
		}
		held = true
		return nil
	})
	if err != nil {
		return false, "", fmt.Errorf("settlement: hold %s for cancel: %w", paymentID, err)
	}
	return held, cycle, nil
}

func statements(ctx context.Context, q sqlstore.Querier, where string, args ...any) ([]Statement, error) {
	rows, err := q.QueryContext(ctx, `SELECT statement_id, sequence, cycle_id, partner_id, currency, net_minor, postings, cutoff,
		gross_minor, fee_minor FROM settlement_statements WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		var st Statement
		if err := rows.Scan(&st.ID, &st.Sequence, &st.CycleID, &st.PartnerID, &st.NetReceivable.Currency,
			&st.NetReceivable.Minor, &st.Postings, &st.Cutoff, &st.Gross, &st.Fee); err != nil {
			return nil, err
		}
		st.Cutoff = st.Cutoff.UTC()
		out = append(out, st)
	}
	return out, rows.Err()
}

// ListStatements implements CycleStore.
func (s *SQLStore) ListStatements(ctx context.Context, after int64, limit int) ([]Statement, error) {
	return statements(ctx, s.db, `sequence > $1 ORDER BY sequence LIMIT $2`, after, limit)
}

// PaymentCycle implements CycleStore.
func (s *SQLStore) PaymentCycle(ctx context.Context, paymentID string) (string, error) {
	return paymentCycle(ctx, s.db, paymentID)
}

// paymentCycle returns the cycle holding the payment's posting of kind
// "payment", or "".
func paymentCycle(ctx context.Context, q sqlstore.Querier, paymentID string) (string, error) {
	var cycle sql.NullString
	err := q.QueryRowContext(ctx, `SELECT MIN(m.cycle_id) FROM ledger_postings p
		JOIN settlement_cycle_postings m ON m.posting_id = p.posting_id
		WHERE p.payment_id = $1 AND p.kind = 'payment'`, paymentID).Scan(&cycle)
	if err != nil {
		return "", err
	}
	return cycle.String, nil
}

// Migrate runs the settlement migrations and those of the audit log,
// which cycle closes are recorded in.
func Migrate(ctx context.Context, db *sqlstore.DB) error {
	if err := db.Migrate(ctx, Migrations); err != nil {
		return err
	}
	return db.Migrate(ctx, audit.Migrations)
}

// closeEntry is the audit entry of a cycle's close: by the operator of
// ctx, or by the elected cutoff (fence set).
func closeEntry(ctx context.Context, c Cycle, sts []Statement, fence *Fence) audit.Entry {
	actor := "service:settlement"
	if id, ok := authn.FromContext(ctx); ok {
		actor = id.String()
	}
	type statement struct {
		PartnerID string `json:"partner_id"`
		Currency  string `json:"currency"`
		NetMinor  int64  `json:"net_minor"`
		Postings  int64  `json:"postings"`
	}
	after := struct {
		Cutoff     time.Time   `json:"cutoff"`
		Postings   int64       `json:"postings"`
		Fence      int64       `json:"fence,omitempty"`
		Statements []statement `json:"statements"`
	}{Cutoff: c.Cutoff, Postings: c.Postings, Statements: []statement{}}
	if fence != nil {
		after.Fence = fence.Revision
	}
	for _, st := range sts {
		after.Statements = append(after.Statements, statement{st.PartnerID, st.NetReceivable.Currency, st.NetReceivable.Minor, st.Postings})
	}
	b, _ := json.Marshal(after)
	var traceID string
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	return audit.Entry{Time: c.CloseTime, Actor: actor, Action: "cycle.close", Subject: c.ID, Outcome: "ok", After: b, TraceID: traceID}
}

// Statement implements CycleStore.
func (s *SQLStore) Statement(ctx context.Context, id string) (Statement, error) {
	sts, err := statements(ctx, s.db, `statement_id = $1`, id)
	if err != nil {
		return Statement{}, err
	}
	if len(sts) > 0 {
		return sts[0], nil
	}
	nets, err := networkStatements(ctx, s.db, `statement_id = $1`, id)
	if err != nil {
		return Statement{}, err
	}
	if len(nets) == 0 {
		return Statement{}, ErrStatementNotFound
	}
	return nets[0].AsStatement(), nil
}

// StatementRows implements CycleStore: one query over the cycle's member
// postings of the statement's partner (or network) that touch its
// receivable (payable) in the statement's currency, read row by row.
func (s *SQLStore) StatementRows(ctx context.Context, st Statement, fn func(StatementRow) error) error {
	account, side, party, by := partnerReceivable(st.PartnerID), "D", st.PartnerID, "p.partner_id"
	if st.NetworkID != "" {
		account, side, party, by = merchantPayable(st.NetworkID), "C", st.NetworkID, "p.network_id"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT p.posting_id, p.payment_id, p.kind, p.create_time, p.partner_id,
		CAST(SUM(CASE WHEN e.account = $2 AND e.currency = $3 THEN (CASE WHEN e.side = $4 THEN e.minor_units ELSE -e.minor_units END) ELSE 0 END) AS INT8),
		COALESCE(MAX(CASE WHEN e.account LIKE 'merchant_payable:%' THEN e.currency END), ''),
		CAST(SUM(CASE WHEN e.account LIKE 'merchant_payable:%' THEN (CASE WHEN e.side = 'C' THEN e.minor_units ELSE -e.minor_units END) ELSE 0 END) AS INT8),
		CAST(SUM(CASE WHEN e.account = 'fx_revenue' AND e.currency = $3 THEN (CASE WHEN e.side = 'C' THEN e.minor_units ELSE -e.minor_units END) ELSE 0 END) AS INT8)
		FROM settlement_cycle_postings m JOIN ledger_postings p ON p.posting_id = m.posting_id
		JOIN ledger_entries e ON e.posting_id = p.posting_id
		WHERE m.cycle_id = $1 AND `+by+` = $5
		GROUP BY p.posting_id, p.payment_id, p.kind, p.create_time, p.partner_id
		HAVING SUM(CASE WHEN e.account = $2 AND e.currency = $3 THEN 1 ELSE 0 END) > 0
		ORDER BY p.create_time, p.posting_id`, st.CycleID, account, st.NetReceivable.Currency, side, party)
	if err != nil {
		return fmt.Errorf("settlement: statement rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := StatementRow{Settlement: money.Amount{Currency: st.NetReceivable.Currency}, FXRevenue: money.Amount{Currency: st.NetReceivable.Currency}}
		if err := rows.Scan(&r.PostingID, &r.PaymentID, &r.Kind, &r.PostTime, &r.PartnerID, &r.Settlement.Minor, &r.Merchant.Currency,
			&r.Merchant.Minor, &r.FXRevenue.Minor); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ListCycles implements CycleStore.
func (s *SQLStore) ListCycles(ctx context.Context, before time.Time, limit int) ([]Cycle, error) {
	if before.IsZero() {
		before = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT cycle_id, partner_id, cutoff, close_time, postings FROM settlement_cycles
		WHERE cutoff < $1 ORDER BY cutoff DESC, cycle_id DESC LIMIT $2`, before.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("settlement: list cycles: %w", err)
	}
	defer rows.Close()
	var out []Cycle
	for rows.Next() {
		var c Cycle
		if err := rows.Scan(&c.ID, &c.PartnerID, &c.Cutoff, &c.CloseTime, &c.Postings); err != nil {
			return nil, err
		}
		c.Cutoff, c.CloseTime = c.Cutoff.UTC(), c.CloseTime.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
