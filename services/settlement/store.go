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

// InsertPosting implements Store: the posting and its entries are one
// transaction, and (payment_id, kind) is unique, so a payment is posted
// exactly once however often it is retried.
func (s *SQLStore) InsertPosting(ctx context.Context, p Posting) (Posting, error) {
	var existing *Posting
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		existing = nil
		res, err := tx.ExecContext(ctx, `INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time)
			VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id, kind) DO NOTHING`,
			p.id, p.paymentID, p.kind, p.createTime)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			ps, err := listPostings(ctx, tx, `p.payment_id = $1 AND p.kind = $2`, p.paymentID, p.kind)
			if err != nil {
				return err
			}
			if len(ps) != 1 {
				return fmt.Errorf("settlement: posting of %s vanished", p.paymentID)
			}
			existing = &ps[0]
			return nil
		}
		var b strings.Builder
		b.WriteString(`INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units) VALUES `)
		args := make([]any, 0, 6*len(p.entries))
		for i, e := range p.entries {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
			args = append(args, p.id, i, e.Account, string(e.Side), e.Amount.Currency, e.Amount.Minor)
		}
		_, err = tx.ExecContext(ctx, b.String(), args...)
		return err
	})
	if err != nil {
		return Posting{}, fmt.Errorf("settlement: insert posting: %w", err)
	}
	if existing != nil {
		if !sameEntries(existing.entries, p.entries) {
			return *existing, ErrConflict
		}
		return *existing, nil
	}
	return p, nil
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
