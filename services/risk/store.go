package risk

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the risk schema.
var Migrations = sqlstore.Migrations{Component: "risk", FS: migrationsFS, Dir: "migrations"}

// SQLStore keeps decisions in SQL.
type SQLStore struct{ db *sqlstore.DB }

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

// Decide implements Store. The usage read and the decision's insert are
// one SERIALIZABLE transaction, so two payments of one user cannot both
// pass a daily limit that only one fits under.
func (s *SQLStore) Decide(ctx context.Context, p Payment, day string, decide func(int64) Decision) (Decision, error) {
	var out Decision
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		var reason string
		err := tx.QueryRowContext(ctx, `SELECT approved, reason, rule_id, message FROM risk_decisions WHERE payment_id = $1`,
			p.PaymentID).Scan(&out.Approve, &reason, &out.RuleID, &out.Message)
		if err == nil {
			out.Reason = rpcerr.Reason(reason)
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var used int64
		if err := tx.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(minor_units), 0) AS INT8) FROM risk_decisions
			WHERE partner_id = $1 AND user_ref = $2 AND day = $3 AND currency = $4 AND approved AND NOT released`,
			p.PartnerID, p.UserRef, day, p.MerchantAmount.Currency).Scan(&used); err != nil {
			return err
		}
		out = decide(used)
		_, err = tx.ExecContext(ctx, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency,
			minor_units, approved, reason, rule_id, message, released, create_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11)`,
			p.PaymentID, p.PartnerID, p.UserRef, day, p.MerchantAmount.Currency, p.MerchantAmount.Minor,
			out.Approve, string(out.Reason), out.RuleID, out.Message, time.Now().UTC())
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("risk: decide: %w", err)
	}
	return out, nil
}

// Release implements Store.
func (s *SQLStore) Release(ctx context.Context, paymentID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE risk_decisions SET released = TRUE WHERE payment_id = $1`, paymentID); err != nil {
		return fmt.Errorf("risk: release: %w", err)
	}
	return nil
}
