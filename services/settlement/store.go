package settlement

import (
	"context"
	"embed"
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
