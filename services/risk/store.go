package risk

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
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

// Decide implements Store. Where single statements are serializable
// (PostgreSQL opened with sqlstore.SerializableStatements, CockroachDB) it
// is one statement — the earlier decision, today's usage and the insert in
// one round trip — retried on serialization failures; elsewhere (SQLite) a
// transaction of two statements.
func (s *SQLStore) Decide(ctx context.Context, p Payment, day string, pre Decision, dailyLimit int64) (Decision, error) {
	limit := money.Amount{Currency: p.MerchantAmount.Currency, Minor: dailyLimit}
	daily := dailyDecline(limit)
	var (
		out Decision
		err error
	)
	if s.db.Dialect() != sqlstore.SQLite && s.db.SerializableStatements() {
		err = s.db.Retry(ctx, func(ctx context.Context) error {
			var found bool
			out, found, err = s.decideOnce(ctx, p, day, pre, daily, dailyLimit)
			if err == nil && !found {
				// A concurrent evaluation of the same payment won the insert
				// after our snapshot: read it on the next attempt.
				return retryable{}
			}
			return err
		})
	} else {
		err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
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
			out = pre
			if pre.Approve && dailyLimit > 0 && used+p.MerchantAmount.Minor > dailyLimit {
				out = daily
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency,
				minor_units, approved, reason, rule_id, message, released, create_time)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11)`,
				p.PaymentID, p.PartnerID, p.UserRef, day, p.MerchantAmount.Currency, p.MerchantAmount.Minor,
				out.Approve, string(out.Reason), out.RuleID, out.Message, time.Now().UTC())
			return err
		})
	}
	if err != nil {
		return Decision{}, fmt.Errorf("risk: decide: %w", err)
	}
	return out, nil
}

// retryable asks sqlstore.Retry for another attempt.
type retryable struct{}

func (retryable) Error() string    { return "risk: decision raced; retrying" }
func (retryable) SQLState() string { return "40001" }

// decideOnce is Decide's single statement. found=false when neither an
// earlier decision nor our insert came back (a concurrent insert of the
// same payment).
func (s *SQLStore) decideOnce(ctx context.Context, p Payment, day string, pre, daily Decision, dailyLimit int64) (Decision, bool, error) {
	var (
		d      Decision
		reason string
	)
	err := s.db.QueryRowContext(ctx, `WITH prior AS (
			SELECT approved, reason, rule_id, message FROM risk_decisions WHERE payment_id = $1
		), used AS (
			SELECT CAST(COALESCE(SUM(minor_units), 0) AS INT8) AS u FROM risk_decisions
			WHERE partner_id = $2 AND user_ref = $3 AND day = $4 AND currency = $5 AND approved AND NOT released
		), verdict AS (
			SELECT ($7 AND ($8 = 0 OR u + $6 <= $8)) AS ok FROM used
		), ins AS (
			INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency, minor_units,
				approved, reason, rule_id, message, released, create_time)
			SELECT $1, $2, $3, $4, $5, $6, v.ok,
				CASE WHEN v.ok THEN '' WHEN NOT $7 THEN $9 ELSE $12 END,
				CASE WHEN v.ok THEN '' WHEN NOT $7 THEN $10 ELSE $13 END,
				CASE WHEN v.ok THEN '' WHEN NOT $7 THEN $11 ELSE $14 END,
				FALSE, $15
			FROM verdict v WHERE NOT EXISTS (SELECT 1 FROM prior)
			ON CONFLICT (payment_id) DO NOTHING
			RETURNING approved, reason, rule_id, message
		)
		SELECT approved, reason, rule_id, message FROM ins
		UNION ALL SELECT approved, reason, rule_id, message FROM prior`,
		p.PaymentID, p.PartnerID, p.UserRef, day, p.MerchantAmount.Currency, p.MerchantAmount.Minor,
		pre.Approve, dailyLimit, string(pre.Reason), pre.RuleID, pre.Message,
		string(daily.Reason), daily.RuleID, daily.Message, time.Now().UTC()).
		Scan(&d.Approve, &reason, &d.RuleID, &d.Message)
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{}, false, nil
	}
	if err != nil {
		return Decision{}, false, err
	}
	d.Reason = rpcerr.Reason(reason)
	return d, true, nil
}

// Release implements Store.
func (s *SQLStore) Release(ctx context.Context, paymentID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE risk_decisions SET released = TRUE WHERE payment_id = $1`, paymentID); err != nil {
		return fmt.Errorf("risk: release: %w", err)
	}
	return nil
}
