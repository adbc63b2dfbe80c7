package risk

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the risk schema.
var Migrations = sqlstore.Migrations{Component: "risk", FS: migrationsFS, Dir: "migrations"}

// SQLStore keeps decisions in SQL.
type SQLStore struct {
	db *sqlstore.DB
	// batch, if set, group-commits decisions (NewBatchingStore).
	batch *sqlstore.Batcher[*decideReq, decideRes]
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

// UserLimits are the exact, stored limits Decide checks: a user's approved
// and unreleased total of the day and of the month, in the payment's
// currency, minor units; 0 is no limit.
type UserLimits struct{ Daily, Monthly int64 }

func (l UserLimits) any() bool { return l.Daily > 0 || l.Monthly > 0 }

// usageUpsert adds $6 to a user's day ($4) and month ($5) in risk_usage
// if neither limit ($7 daily, $8 monthly; 0 none) would be passed, and
// returns a row only if it did. A day or month newer than the row's
// starts it afresh; an older one (a replica whose clock lags at midnight)
// counts in the newer.
const usageUpsert = `INSERT INTO risk_usage AS u (partner_id, user_ref, currency, day, day_used, month, month_used, day_limit, month_limit)
	SELECT $1, $2, $3, $4, CAST($6 AS INT8), $5, CAST($6 AS INT8), CAST($7 AS INT8), CAST($8 AS INT8)
	WHERE (CAST($7 AS INT8) = 0 OR CAST($6 AS INT8) <= CAST($7 AS INT8)) AND (CAST($8 AS INT8) = 0 OR CAST($6 AS INT8) <= CAST($8 AS INT8))
	` + usageOnConflict + `
	RETURNING 1`

// usageOnConflict moves an existing usage row: a newer day or month
// starts afresh; the row moves only if neither limit of the inserted row
// (EXCLUDED.day_limit, month_limit; 0 none) would be passed.
const usageOnConflict = `ON CONFLICT (partner_id, user_ref, currency) DO UPDATE SET
		day_used = CASE WHEN EXCLUDED.day > u.day THEN 0 ELSE u.day_used END + EXCLUDED.day_used,
		day = CASE WHEN EXCLUDED.day > u.day THEN EXCLUDED.day ELSE u.day END,
		month_used = CASE WHEN EXCLUDED.month > u.month THEN 0 ELSE u.month_used END + EXCLUDED.month_used,
		month = CASE WHEN EXCLUDED.month > u.month THEN EXCLUDED.month ELSE u.month END,
		day_limit = EXCLUDED.day_limit, month_limit = EXCLUDED.month_limit
	WHERE (EXCLUDED.day_limit = 0 OR CASE WHEN EXCLUDED.day > u.day THEN 0 ELSE u.day_used END + EXCLUDED.day_used <= EXCLUDED.day_limit)
		AND (EXCLUDED.month_limit = 0 OR CASE WHEN EXCLUDED.month > u.month THEN 0 ELSE u.month_used END + EXCLUDED.month_used <= EXCLUDED.month_limit)`

// usageGiveBack takes a payment's amount ($4, of day $5 and month $6)
// back from its user's usage, where the day and month are still current.
const usageGiveBack = `UPDATE risk_usage SET
		day_used = day_used - CASE WHEN day = $5 THEN CAST($4 AS INT8) ELSE 0 END,
		month_used = month_used - CASE WHEN month = $6 THEN CAST($4 AS INT8) ELSE 0 END
	WHERE partner_id = $1 AND user_ref = $2 AND currency = $3`

// overWhich tells which limit a refused usageUpsert passed: the daily one
// or else the monthly one.
func overWhich(ctx context.Context, q sqlstore.Querier, p Payment, day string, lim UserLimits) (Decision, error) {
	a := p.MerchantAmount
	if lim.Daily > 0 {
		var used int64
		err := q.QueryRowContext(ctx, `SELECT CASE WHEN day = $4 THEN day_used ELSE 0 END FROM risk_usage
			WHERE partner_id = $1 AND user_ref = $2 AND currency = $3`, p.PartnerID, p.UserRef, a.Currency, day).Scan(&used)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Decision{}, err
		}
		if used+a.Minor > lim.Daily {
			return dailyDecline(a.Currency, lim.Daily), nil
		}
	}
	return monthlyDecline(a.Currency, lim.Monthly), nil
}

// withLimit turns pre into the decline d of a limit, keeping its score
// and reasons.
func withLimit(pre, d Decision) Decision {
	out := pre
	out.Outcome, out.Reason, out.RuleID, out.Message = Decline, d.Reason, d.RuleID, d.Message
	out.Reasons = append(append([]Reason(nil), pre.Reasons...), Reason{RuleID: d.RuleID, Action: "decline", Detail: d.Message})
	return out
}

// Decide implements Store. On PostgreSQL and CockroachDB it is one
// statement: the earlier decision, the user's usage row conditionally
// moved and the decision inserted, in one round trip, touching only the
// payment's and its user's rows. SQLite runs the same steps in a
// transaction.
func (s *SQLStore) Decide(ctx context.Context, p Payment, day string, pre Decision, lim UserLimits) (Decision, bool, error) {
	count := pre.Proceeds() && lim.any()
	if s.db.Dialect() == sqlstore.SQLite {
		var (
			out   Decision
			fresh bool
		)
		err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
			prior, err := s.get(ctx, tx, p.PaymentID)
			if err == nil {
				out = prior
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			out, fresh = pre, true
			if count {
				ok, err := upsertUsage(ctx, tx, p, day, lim)
				if err != nil {
					return err
				}
				if !ok {
					d, err := overWhich(ctx, tx, p, day, lim)
					if err != nil {
						return err
					}
					out, count = withLimit(pre, d), false
				}
			}
			return s.insert(ctx, tx, p, day, out, count)
		})
		if err != nil {
			return Decision{}, false, fmt.Errorf("risk: decide: %w", err)
		}
		return out, fresh, nil
	}
	r := &decideReq{p: p, day: day, pre: pre, lim: lim, count: count}
	a := p.MerchantAmount
	for k, d := range []Decision{pre, withLimit(pre, dailyDecline(a.Currency, lim.Daily)), withLimit(pre, monthlyDecline(a.Currency, lim.Monthly))} {
		js, err := marshalReasons(d.Reasons)
		if err != nil {
			return Decision{}, false, err
		}
		r.js[k] = js
	}
	if s.batch != nil {
		res, err := s.batch.Do(ctx, r)
		if err != nil {
			return Decision{}, false, err
		}
		return res.d, res.fresh, res.err
	}
	return s.decideAlone(ctx, r)
}

// decideAlone writes one decision in its own statement (decideOnce).
func (s *SQLStore) decideAlone(ctx context.Context, r *decideReq) (Decision, bool, error) {
	for attempt := 0; ; attempt++ {
		var rows map[string]batchRow
		err := s.db.Retry(ctx, func(ctx context.Context) (err error) {
			rows, err = s.decideMany(ctx, []*decideReq{r})
			return err
		})
		if err != nil {
			return Decision{}, false, fmt.Errorf("risk: decide: %w", err)
		}
		row := rows[r.p.PaymentID]
		if row.found {
			return row.d, row.fresh, nil
		}
		// A concurrent evaluation of the same payment inserted it first:
		// give back what this one counted, and read that decision.
		if err := s.giveBack(ctx, r, row.counted); err != nil {
			return Decision{}, false, err
		}
		if attempt == 3 {
			return Decision{}, false, fmt.Errorf("risk: decide: payment %s raced %d times", r.p.PaymentID, attempt+1)
		}
	}
}

// giveBack takes back from its user's usage what a decision that lost
// the race for its payment counted.
func (s *SQLStore) giveBack(ctx context.Context, r *decideReq, counted bool) error {
	if !counted {
		return nil
	}
	p := r.p
	if _, err := s.db.ExecContext(ctx, usageGiveBack, p.PartnerID, p.UserRef, p.MerchantAmount.Currency,
		p.MerchantAmount.Minor, r.day, r.day[:7]); err != nil {
		return fmt.Errorf("risk: decide: give back a raced count: %w", err)
	}
	return nil
}

// upsertUsage runs usageUpsert for p.
func upsertUsage(ctx context.Context, q sqlstore.Querier, p Payment, day string, lim UserLimits) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, usageUpsert, p.PartnerID, p.UserRef, p.MerchantAmount.Currency, day, day[:7],
		p.MerchantAmount.Minor, lim.Daily, lim.Monthly).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// insert writes a new decision row.
func (s *SQLStore) insert(ctx context.Context, q sqlstore.Querier, p Payment, day string, d Decision, counted bool) error {
	reasons, err := marshalReasons(d.Reasons)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency,
		minor_units, approved, reason, rule_id, message, released, create_time,
		outcome, score_bp, reasons, device_ref, merchant, mode, rules_version, model_version, counted, city, features)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		p.PaymentID, p.PartnerID, p.UserRef, day, p.MerchantAmount.Currency, p.MerchantAmount.Minor,
		d.Proceeds(), string(d.Reason), d.RuleID, d.Message, p.at(),
		d.Outcome, d.ScoreBP, reasons, p.DeviceRef, p.merchant(), p.Mode, d.RulesVersion, d.ModelVersion, counted, p.City, joinFeatures(d.Features))
	return err
}

func marshalReasons(rs []Reason) (string, error) {
	if len(rs) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(rs)
	return string(b), err
}

const decisionColumns = `outcome, reason, rule_id, message, score_bp, reasons, rules_version, model_version`

// scanDecision reads decisionColumns, then extra.
func scanDecision(row interface{ Scan(...any) error }, extra ...any) (Decision, error) {
	var (
		d            Decision
		why, reasons string
	)
	dest := append([]any{&d.Outcome, &why, &d.RuleID, &d.Message, &d.ScoreBP, &reasons, &d.RulesVersion, &d.ModelVersion}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Decision{}, err
	}
	d.Reason = rpcerr.Reason(why)
	if err := json.Unmarshal([]byte(reasons), &d.Reasons); err != nil {
		return Decision{}, fmt.Errorf("risk: decision reasons: %w", err)
	}
	return d, nil
}

// scanDecisionAfter reads first, then decisionColumns, then extra.
func scanDecisionAfter(row interface{ Scan(...any) error }, first any, extra ...any) (Decision, error) {
	var (
		d            Decision
		why, reasons string
	)
	dest := append([]any{first, &d.Outcome, &why, &d.RuleID, &d.Message, &d.ScoreBP, &reasons, &d.RulesVersion, &d.ModelVersion}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Decision{}, err
	}
	d.Reason = rpcerr.Reason(why)
	if err := json.Unmarshal([]byte(reasons), &d.Reasons); err != nil {
		return Decision{}, fmt.Errorf("risk: decision reasons: %w", err)
	}
	return d, nil
}

// prefixed qualifies a column list with a table alias.
func prefixed(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// get reads a stored decision.
func (s *SQLStore) get(ctx context.Context, q sqlstore.Querier, paymentID string) (Decision, error) {
	return scanDecision(q.QueryRowContext(ctx, `SELECT `+decisionColumns+` FROM risk_decisions WHERE payment_id = $1`, paymentID))
}

// Release implements Store: the decision is marked released and, if it
// counted, its amount given back to the user's day and month — once.
func (s *SQLStore) Release(ctx context.Context, paymentID string) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		var (
			p       Payment
			day     string
			counted bool
		)
		err := tx.QueryRowContext(ctx, `UPDATE risk_decisions SET released = TRUE WHERE payment_id = $1 AND NOT released
			RETURNING partner_id, user_ref, currency, minor_units, day, counted`, paymentID).
			Scan(&p.PartnerID, &p.UserRef, &p.MerchantAmount.Currency, &p.MerchantAmount.Minor, &day, &counted)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // unknown or released already
		}
		if err != nil || !counted {
			return err
		}
		_, err = tx.ExecContext(ctx, usageGiveBack, p.PartnerID, p.UserRef, p.MerchantAmount.Currency, p.MerchantAmount.Minor, day, day[:7])
		return err
	})
	if err != nil {
		return fmt.Errorf("risk: release: %w", err)
	}
	return nil
}

// NameUser implements Store: in one serializable transaction, the
// payment's row moves to user, counted in the user's usage if within
// their limits, or else declined (released, so it counts for nobody).
// Naming the same user again returns the decision as it is.
func (s *SQLStore) NameUser(ctx context.Context, paymentID, user string, lim func(partner, user string) (UserLimits, int64, bool)) (Decision, Payment, bool, error) {
	var (
		out   Decision
		p     Payment
		moved bool
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		var (
			day, prevUser, merchant string
			released, counted       bool
		)
		d, err := scanDecision(tx.QueryRowContext(ctx, `SELECT `+decisionColumns+`, partner_id, user_ref, day, currency, minor_units, released,
			device_ref, merchant, mode, counted FROM risk_decisions WHERE payment_id = $1`, paymentID),
			&p.PartnerID, &prevUser, &day, &p.MerchantAmount.Currency, &p.MerchantAmount.Minor, &released, &p.DeviceRef, &merchant, &p.Mode, &counted)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrDecisionNotFound
		}
		if err != nil {
			return err
		}
		p.PaymentID, p.UserRef, moved = paymentID, user, false
		p.NetworkID, p.MerchantID, _ = strings.Cut(merchant, "/")
		if prevUser == user || !d.Proceeds() || released {
			out = d
			return nil
		}
		lims, perPayment, blocked := lim(p.PartnerID, user)
		out, counted = d, false
		switch {
		case blocked:
			out = withLimit(d, decline(rpcerr.RiskBlocked, "block.user", "user is blocked"))
		case perPayment > 0 && p.MerchantAmount.Minor > perPayment:
			out = withLimit(d, decline(rpcerr.RiskLimitExceeded, "limit.user.per_payment", "%s exceeds the limit of %s",
				p.MerchantAmount, money.Amount{Currency: p.MerchantAmount.Currency, Minor: perPayment}))
		case lims.any():
			ok, err := upsertUsage(ctx, tx, p, day, lims)
			if err != nil {
				return err
			}
			if counted = ok; !ok {
				over, err := overWhich(ctx, tx, p, day, lims)
				if err != nil {
					return err
				}
				out = withLimit(d, over)
			}
		}
		reasons, err := marshalReasons(out.Reasons)
		if err != nil {
			return err
		}
		moved = out.Proceeds()
		_, err = tx.ExecContext(ctx, `UPDATE risk_decisions SET user_ref = $2, outcome = $3, approved = $4, reason = $5,
			rule_id = $6, message = $7, reasons = $8, counted = $9 WHERE payment_id = $1`,
			paymentID, user, out.Outcome, out.Proceeds(), string(out.Reason), out.RuleID, out.Message, reasons, counted)
		return err
	})
	if err != nil {
		return Decision{}, Payment{}, false, fmt.Errorf("risk: name user: %w", err)
	}
	return out, p, moved, nil
}

// joinFeatures renders a feature vector for the features column.
func joinFeatures(f []float64) string {
	parts := make([]string, len(f))
	for i, v := range f {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}
