package settlement

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

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
// the new postings' entries, and a read of the ones that existed.
func (s *SQLStore) InsertPostings(ctx context.Context, ps []Posting) ([]Posting, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	var existing map[string]Posting
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		existing = nil
		var b strings.Builder
		b.WriteString(`INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time) VALUES `)
		args := make([]any, 0, 4*len(ps))
		for i, p := range ps {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
			args = append(args, p.id, p.paymentID, p.kind, p.createTime)
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

// CloseCycle implements CycleStore.
func (s *SQLStore) CloseCycle(ctx context.Context, cutoff, now time.Time) (Cycle, []Statement, error) {
	id := CycleID(cutoff)
	var (
		c   Cycle
		sts []Statement
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		sts = nil
		err := tx.QueryRowContext(ctx, `SELECT cycle_id, cutoff, close_time, postings FROM settlement_cycles WHERE cycle_id = $1`, id).
			Scan(&c.ID, &c.Cutoff, &c.CloseTime, &c.Postings)
		if err == nil {
			sts, err = statements(ctx, tx, `cycle_id = $1 ORDER BY sequence`, id)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE ledger_postings SET cycle_id = $1 WHERE cycle_id IS NULL AND create_time < $2`, id, cutoff.UTC())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		c = Cycle{ID: id, Cutoff: cutoff.UTC(), CloseTime: now.UTC().Truncate(time.Microsecond), Postings: n}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_cycles (cycle_id, cutoff, close_time, postings) VALUES ($1, $2, $3, $4)`,
			c.ID, c.Cutoff, c.CloseTime, c.Postings); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT CAST(COALESCE(MAX(sequence), 0) AS INT8) FROM settlement_statements`).Scan(&last); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT e.account, e.currency,
			CAST(COALESCE(SUM(CASE WHEN e.side = 'D' THEN e.minor_units ELSE -e.minor_units END), 0) AS INT8),
			CAST(COUNT(DISTINCT p.posting_id) AS INT8)
			FROM ledger_postings p JOIN ledger_entries e ON e.posting_id = p.posting_id
			WHERE p.cycle_id = $1 AND e.account LIKE 'partner_receivable:%'
			GROUP BY e.account, e.currency ORDER BY e.account, e.currency`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				account string
				st      Statement
			)
			if err := rows.Scan(&account, &st.NetReceivable.Currency, &st.NetReceivable.Minor, &st.Postings); err != nil {
				rows.Close()
				return err
			}
			last++
			st.PartnerID = strings.TrimPrefix(account, "partner_receivable:")
			st.ID, st.Sequence, st.CycleID, st.Cutoff = id+"/"+st.PartnerID+"/"+st.NetReceivable.Currency, last, id, c.Cutoff
			sts = append(sts, st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, st := range sts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_statements (statement_id, sequence, cycle_id, partner_id,
				currency, net_minor, postings, cutoff) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				st.ID, st.Sequence, st.CycleID, st.PartnerID, st.NetReceivable.Currency, st.NetReceivable.Minor, st.Postings, st.Cutoff); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Cycle{}, nil, fmt.Errorf("settlement: close cycle: %w", err)
	}
	c.Cutoff, c.CloseTime = c.Cutoff.UTC(), c.CloseTime.UTC()
	return c, sts, nil
}

func statements(ctx context.Context, q sqlstore.Querier, where string, args ...any) ([]Statement, error) {
	rows, err := q.QueryContext(ctx, `SELECT statement_id, sequence, cycle_id, partner_id, currency, net_minor, postings, cutoff
		FROM settlement_statements WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		var st Statement
		if err := rows.Scan(&st.ID, &st.Sequence, &st.CycleID, &st.PartnerID, &st.NetReceivable.Currency,
			&st.NetReceivable.Minor, &st.Postings, &st.Cutoff); err != nil {
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
	var cycle sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT MIN(cycle_id) FROM ledger_postings WHERE payment_id = $1 AND kind = 'payment'`, paymentID).Scan(&cycle)
	if err != nil {
		return "", err
	}
	return cycle.String, nil
}
