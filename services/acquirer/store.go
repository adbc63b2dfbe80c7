package acquirer

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the acquirer schema.
var Migrations = sqlstore.Migrations{Component: "acquirer", FS: migrationsFS, Dir: "migrations"}

// SQLStore keeps payments in SQL.
type SQLStore struct{ db *sqlstore.DB }

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

const paymentColumns = `payment_id, partner_id, partner_payment_id, request_hash, mode, status, user_ref,
	network_id, merchant_id, merchant_name, merchant_city, mcc, merchant_country,
	merchant_currency, merchant_minor, wallet_currency, wallet_minor, cost_minor, quote_id, rate,
	network_reference, failure_reason, failure_message, ledger_posted, create_time, update_time`

// Insert implements Store with one statement: ON CONFLICT DO NOTHING on
// the payment id, then a read of the winner if this insert lost.
func (s *SQLStore) Insert(ctx context.Context, p Payment) (Payment, bool, error) {
	m := p.Merchant
	res, err := s.db.ExecContext(ctx, `INSERT INTO acq_payments (`+paymentColumns+`) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
		ON CONFLICT DO NOTHING`,
		p.ID, p.PartnerID, p.PartnerPaymentID, p.RequestHash, string(p.Mode), string(p.Status), p.UserRef,
		m.GetNetworkId(), m.GetMerchantId(), m.GetName(), m.GetCity(), m.GetMcc(), m.GetCountry(),
		p.MerchantAmount.Currency, p.MerchantAmount.Minor, p.WalletAmount.Currency, p.WalletAmount.Minor, p.CostAmount.Minor,
		p.QuoteID, p.Rate, p.NetworkReference, string(p.FailureReason), p.FailureMessage, p.LedgerPosted,
		p.CreateTime.UTC(), p.UpdateTime.UTC())
	if err != nil {
		return Payment{}, false, fmt.Errorf("acquirer: insert payment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Payment{}, false, err
	} else if n == 1 {
		return p, true, nil
	}
	existing, err := s.GetByKey(ctx, p.PartnerID, p.PartnerPaymentID)
	if err != nil {
		return Payment{}, false, err
	}
	return existing, false, nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (Payment, error) {
	return scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments WHERE payment_id = $1`, id))
}

// GetByKey implements Store.
func (s *SQLStore) GetByKey(ctx context.Context, partnerID, key string) (Payment, error) {
	return scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE partner_id = $1 AND partner_payment_id = $2`, partnerID, key))
}

// Finish implements Store: a conditional UPDATE … RETURNING, so only the
// first outcome of a payment is ever recorded.
func (s *SQLStore) Finish(ctx context.Context, id string, o Outcome, at time.Time) (Payment, error) {
	p, err := scanPayment(s.db.QueryRowContext(ctx, `UPDATE acq_payments SET status = $2, network_reference = $3,
		failure_reason = $4, failure_message = $5, ledger_posted = $6, update_time = $7
		WHERE payment_id = $1 AND status = 'PROCESSING' RETURNING `+paymentColumns,
		id, string(o.Status), o.NetworkReference, string(o.FailureReason), o.FailureMessage, o.LedgerPosted, at.UTC()))
	if errors.Is(err, ErrPaymentNotFound) {
		// Already final (or unknown): return what is recorded.
		return s.Get(ctx, id)
	}
	return p, err
}

// MarkPosted implements Store with one UPDATE for the whole batch.
func (s *SQLStore) MarkPosted(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i+1)
		args[i] = id
	}
	_, err := s.db.ExecContext(ctx, `UPDATE acq_payments SET ledger_posted = TRUE WHERE payment_id IN (`+b.String()+`)`, args...)
	return err
}

// Unposted implements Store.
func (s *SQLStore) Unposted(ctx context.Context, limit int) ([]Payment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanPayment(row scanner) (Payment, error) {
	var (
		p                    Payment
		m                    commonv1.Merchant
		mode, status, reason string
	)
	err := row.Scan(&p.ID, &p.PartnerID, &p.PartnerPaymentID, &p.RequestHash, &mode, &status, &p.UserRef,
		&m.NetworkId, &m.MerchantId, &m.Name, &m.City, &m.Mcc, &m.Country,
		&p.MerchantAmount.Currency, &p.MerchantAmount.Minor, &p.WalletAmount.Currency, &p.WalletAmount.Minor, &p.CostAmount.Minor,
		&p.QuoteID, &p.Rate, &p.NetworkReference, &reason, &p.FailureMessage, &p.LedgerPosted, &p.CreateTime, &p.UpdateTime)
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrPaymentNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("acquirer: read payment: %w", err)
	}
	m.Currency = p.MerchantAmount.Currency
	p.Merchant = &m
	p.Mode, p.Status, p.FailureReason = Mode(mode), Status(status), rpcerr.Reason(reason)
	p.CostAmount.Currency = p.WalletAmount.Currency
	p.CreateTime, p.UpdateTime = p.CreateTime.UTC(), p.UpdateTime.UTC()
	return p, nil
}
