package risk

import (
	"context"
	"embed"
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
		// One round trip: this payment's earlier decision, if any, and the
		// user's usage today.
		var (
			approved              *bool
			reason, rule, message *string
			used                  int64
		)
		err := tx.QueryRowContext(ctx, `SELECT d.approved, d.reason, d.rule_id, d.message,
			(SELECT CAST(COALESCE(SUM(minor_units), 0) AS INT8) FROM risk_decisions
			 WHERE partner_id = $2 AND user_ref = $3 AND day = $4 AND currency = $5 AND approved AND NOT released)
			FROM (SELECT 1 AS one) x LEFT JOIN risk_decisions d ON d.payment_id = $1`,
			p.PaymentID, p.PartnerID, p.UserRef, day, p.MerchantAmount.Currency).Scan(&approved, &reason, &rule, &message, &used)
		if err != nil {
			return err
		}
		if approved != nil {
			out = Decision{Approve: *approved, Reason: rpcerr.Reason(*reason), RuleID: *rule, Message: *message}
			return nil
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
