package fx

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the FX schema.
var Migrations = sqlstore.Migrations{Component: "fx", FS: migrationsFS, Dir: "migrations"}

// SQLStore keeps quotes in SQL.
type SQLStore struct{ db *sqlstore.DB }

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

const quoteColumns = `quote_id, partner_id, state, merchant_currency, merchant_minor, wallet_currency,
	wallet_minor, cost_minor, mid_rate, rate, spread_bps, create_time, expire_time, payment_id`

// InsertQuote implements Store.
func (s *SQLStore) InsertQuote(ctx context.Context, q Quote) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO fx_quotes (`+quoteColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)`,
		q.ID, q.PartnerID, string(q.State), q.MerchantAmount.Currency, q.MerchantAmount.Minor,
		q.WalletAmount.Currency, q.WalletAmount.Minor, q.CostAmount.Minor, q.MidRate.String(), q.Rate.String(),
		q.SpreadBps, q.CreateTime.UTC(), q.ExpireTime.UTC())
	if err != nil {
		return fmt.Errorf("fx: insert quote: %w", err)
	}
	return nil
}

// GetQuote implements Store.
func (s *SQLStore) GetQuote(ctx context.Context, id string) (Quote, error) {
	q, err := scanQuote(s.db.QueryRowContext(ctx, `SELECT `+quoteColumns+` FROM fx_quotes WHERE quote_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Quote{}, ErrQuoteNotFound
	}
	return q, err
}

// LockQuote implements Store in one statement: the conditions and the
// state change are one atomic UPDATE.
func (s *SQLStore) LockQuote(ctx context.Context, id, paymentID, partnerID string, m money.Amount, now time.Time) (Quote, bool, error) {
	q, err := scanQuote(s.db.QueryRowContext(ctx, `UPDATE fx_quotes SET state = 'LOCKED', payment_id = $2, lock_time = $3
		WHERE quote_id = $1 AND state = 'OPEN' AND expire_time > $3 AND partner_id = $4
		AND merchant_currency = $5 AND merchant_minor = $6
		RETURNING `+quoteColumns, id, paymentID, now.UTC(), partnerID, m.Currency, m.Minor))
	if errors.Is(err, sql.ErrNoRows) {
		return Quote{}, false, nil
	}
	if err != nil {
		return Quote{}, false, err
	}
	return q, true, nil
}

func scanQuote(row *sql.Row) (Quote, error) {
	var (
		q                Quote
		state, mid, rate string
		paymentID        sql.NullString
		spread           int64
	)
	err := row.Scan(&q.ID, &q.PartnerID, &state, &q.MerchantAmount.Currency, &q.MerchantAmount.Minor,
		&q.WalletAmount.Currency, &q.WalletAmount.Minor, &q.CostAmount.Minor, &mid, &rate, &spread,
		&q.CreateTime, &q.ExpireTime, &paymentID)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Quote{}, err
		}
		return Quote{}, fmt.Errorf("fx: read quote: %w", err)
	}
	q.State = QuoteState(state)
	q.CostAmount.Currency = q.WalletAmount.Currency
	q.SpreadBps = int(spread)
	q.PaymentID = paymentID.String
	q.CreateTime, q.ExpireTime = q.CreateTime.UTC(), q.ExpireTime.UTC()
	if q.MidRate, err = money.ParseRate(mid); err != nil {
		return Quote{}, fmt.Errorf("fx: stored mid rate: %w", err)
	}
	if q.Rate, err = money.ParseRate(rate); err != nil {
		return Quote{}, fmt.Errorf("fx: stored rate: %w", err)
	}
	return q, nil
}
