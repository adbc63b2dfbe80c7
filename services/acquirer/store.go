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

// SQLStore keeps payments, refunds and events in SQL.
type SQLStore struct{ db *sqlstore.DB }

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

const paymentColumns = `payment_id, partner_id, partner_payment_id, request_hash, mode, status, user_ref,
	network_id, merchant_id, merchant_name, merchant_city, mcc, merchant_country,
	merchant_currency, merchant_minor, wallet_currency, wallet_minor, cost_minor, quote_id, rate,
	network_reference, failure_reason, failure_message, ledger_posted, create_time, update_time,
	merchant_order_id, network_endpoint, partner_endpoint, credited, refunded_minor, cancel_requested,
	attempts, next_attempt_time`

// Insert implements Store with one statement: ON CONFLICT DO NOTHING on
// the payment id (and, for CPM, the network's order id), then a read of
// the winner if this insert lost.
func (s *SQLStore) Insert(ctx context.Context, p Payment) (Payment, bool, error) {
	m := p.Merchant
	res, err := s.db.ExecContext(ctx, `INSERT INTO acq_payments (`+paymentColumns+`) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
		 $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34)
		ON CONFLICT DO NOTHING`,
		p.ID, p.PartnerID, p.PartnerPaymentID, p.RequestHash, string(p.Mode), string(p.Status), p.UserRef,
		m.GetNetworkId(), m.GetMerchantId(), m.GetName(), m.GetCity(), m.GetMcc(), m.GetCountry(),
		p.MerchantAmount.Currency, p.MerchantAmount.Minor, p.WalletAmount.Currency, p.WalletAmount.Minor, p.CostAmount.Minor,
		p.QuoteID, p.Rate, p.NetworkReference, string(p.FailureReason), p.FailureMessage, p.LedgerPosted,
		p.CreateTime.UTC(), p.UpdateTime.UTC(), p.MerchantOrderID, p.NetworkEndpoint, p.PartnerEndpoint,
		p.Credited, p.RefundedMinor, p.CancelRequested, p.Attempts, utcPtr(p.NextAttempt))
	if err != nil {
		return Payment{}, false, fmt.Errorf("acquirer: insert payment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Payment{}, false, err
	} else if n == 1 {
		return p, true, nil
	}
	existing, err := s.Get(ctx, p.ID)
	if errors.Is(err, ErrPaymentNotFound) && p.Mode == CPM {
		existing, err = s.GetByOrder(ctx, p.Merchant.GetNetworkId(), p.MerchantOrderID)
	}
	if err != nil {
		return Payment{}, false, err
	}
	return existing, false, nil
}

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
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

// GetByOrder implements Store.
func (s *SQLStore) GetByOrder(ctx context.Context, networkID, orderID string) (Payment, error) {
	return scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE network_id = $1 AND merchant_order_id = $2 AND mode = 'CPM'`, networkID, orderID))
}

// sqlArgs builds a statement's argument list and placeholders.
type sqlArgs struct{ args []any }

func (a *sqlArgs) add(v any) string {
	a.args = append(a.args, v)
	return fmt.Sprintf("$%d", len(a.args))
}

func (a *sqlArgs) in(vs ...string) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = a.add(v)
	}
	return strings.Join(ps, ", ")
}

func fenceClause(a *sqlArgs, f *Fence) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf(" AND EXISTS (SELECT 1 FROM acq_fences WHERE name = %s AND revision = %s)", a.add(f.Name), a.add(f.Revision))
}

// Update implements Store. On PostgreSQL and CockroachDB it is one
// statement — the conditional UPDATE … RETURNING and the event's INSERT as
// data-modifying CTEs, so the event is written exactly when the update
// applies; on SQLite, a transaction of the two.
func (s *SQLStore) Update(ctx context.Context, id string, cond Cond, ch Change, at time.Time, event *PaymentEvent) (Payment, bool, error) {
	a := &sqlArgs{}
	sets := []string{"update_time = " + a.add(at.UTC())}
	if ch.Status != "" {
		sets = append(sets, "status = "+a.add(string(ch.Status)))
	}
	if ch.NetworkReference != "" {
		sets = append(sets, "network_reference = "+a.add(ch.NetworkReference))
	}
	if ch.FailureReason != "" {
		sets = append(sets, "failure_reason = "+a.add(string(ch.FailureReason)), "failure_message = "+a.add(ch.FailureMessage))
	}
	if ch.UserRef != "" {
		sets = append(sets, "user_ref = "+a.add(ch.UserRef))
	}
	if ch.Credited {
		sets = append(sets, "credited = TRUE")
	}
	if ch.CancelRequested {
		sets = append(sets, "cancel_requested = TRUE")
	}
	if ch.Schedule != nil {
		sets = append(sets, "next_attempt_time = "+a.add(ch.Schedule.UTC()), "attempts = attempts + 1")
	}
	if ch.Unschedule {
		sets = append(sets, "next_attempt_time = NULL")
	}
	if ch.Unposted {
		sets = append(sets, "ledger_posted = FALSE")
	}
	where := "payment_id = " + a.add(id)
	if len(cond.Statuses) > 0 {
		ss := make([]string, len(cond.Statuses))
		for i, st := range cond.Statuses {
			ss[i] = string(st)
		}
		where += " AND status IN (" + a.in(ss...) + ")"
	}
	if cond.NotCancelRequested {
		where += " AND cancel_requested = FALSE"
	}
	if cond.NoRefunds {
		where += " AND refunded_minor = 0"
	}
	where += fenceClause(a, cond.Fence)
	update := `UPDATE acq_payments SET ` + strings.Join(sets, ", ") + ` WHERE ` + where + ` RETURNING ` + paymentColumns

	var (
		out     Payment
		applied bool
		err     error
	)
	if s.db.Dialect() != sqlstore.SQLite {
		q := update
		if event != nil {
			q = `WITH u AS (` + update + `), e AS (INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, body, create_time, sequence)
				SELECT ` + a.add(event.ID) + `, partner_id, ` + a.add(event.Type) + `, payment_id, NULL, ` + a.add(at.UTC()) + `, NULL FROM u)
				SELECT ` + paymentColumns + ` FROM u`
		}
		out, err = scanPayment(s.db.QueryRowContext(ctx, q, a.args...))
		applied = err == nil
	} else {
		err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
			p, err := scanPayment(tx.QueryRowContext(ctx, update, a.args...))
			if err != nil {
				return err
			}
			out, applied = p, true
			if event == nil {
				return nil
			}
			return insertEvent(ctx, tx, Event{ID: event.ID, PartnerID: p.PartnerID, Type: event.Type, PaymentID: p.ID, Time: at})
		})
	}
	if errors.Is(err, ErrPaymentNotFound) {
		// The condition did not hold: return the payment as it is.
		out, err = s.Get(ctx, id)
		applied = false
	}
	if err != nil {
		return Payment{}, false, err
	}
	return out, applied, nil
}

func insertEvent(ctx context.Context, tx *sqlstore.Tx, e Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, body, create_time, sequence)
		VALUES ($1, $2, $3, $4, $5, $6, NULL)`, e.ID, e.PartnerID, e.Type, e.PaymentID, e.Body, e.Time.UTC())
	return err
}

// MarkPosted implements Store with one UPDATE per status. Each row is
// marked only if it is still in the status whose postings were delivered:
// a payment cancelled meanwhile stays owed its reversal.
func (s *SQLStore) MarkPosted(ctx context.Context, posted []Payment) error {
	byStatus := map[Status][]string{}
	for _, p := range posted {
		byStatus[p.Status] = append(byStatus[p.Status], p.ID)
	}
	for st, ids := range byStatus {
		a := &sqlArgs{}
		q := `UPDATE acq_payments SET ledger_posted = TRUE WHERE status = ` + a.add(string(st)) + ` AND payment_id IN (` + a.in(ids...) + `)`
		if _, err := s.db.ExecContext(ctx, q, a.args...); err != nil {
			return err
		}
	}
	return nil
}

// Unposted implements Store.
func (s *SQLStore) Unposted(ctx context.Context, limit int) ([]Payment, error) {
	return s.payments(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE LIMIT $1`, limit)
}

// Due implements Store.
func (s *SQLStore) Due(ctx context.Context, now time.Time, limit int) ([]Payment, error) {
	return s.payments(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE next_attempt_time IS NOT NULL AND next_attempt_time <= $1 ORDER BY next_attempt_time LIMIT $2`, now.UTC(), limit)
}

func (s *SQLStore) payments(ctx context.Context, query string, args ...any) ([]Payment, error) {
	return queryAll(ctx, s.db, scanPayment, query, args...)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sqlstore.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanPayment(row scanner) (Payment, error) {
	var (
		p                    Payment
		m                    commonv1.Merchant
		mode, status, reason string
		next                 sql.NullTime
	)
	err := row.Scan(&p.ID, &p.PartnerID, &p.PartnerPaymentID, &p.RequestHash, &mode, &status, &p.UserRef,
		&m.NetworkId, &m.MerchantId, &m.Name, &m.City, &m.Mcc, &m.Country,
		&p.MerchantAmount.Currency, &p.MerchantAmount.Minor, &p.WalletAmount.Currency, &p.WalletAmount.Minor, &p.CostAmount.Minor,
		&p.QuoteID, &p.Rate, &p.NetworkReference, &reason, &p.FailureMessage, &p.LedgerPosted, &p.CreateTime, &p.UpdateTime,
		&p.MerchantOrderID, &p.NetworkEndpoint, &p.PartnerEndpoint, &p.Credited, &p.RefundedMinor, &p.CancelRequested,
		&p.Attempts, &next)
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
	if next.Valid {
		t := next.Time.UTC()
		p.NextAttempt = &t
	}
	return p, nil
}

const refundColumns = `refund_id, payment_id, network_id, request_id, request_hash, status, merchant_currency,
	merchant_minor, wallet_currency, wallet_minor, cost_minor, partner_reference, failure_reason, failure_message,
	ledger_posted, attempts, next_attempt_time, create_time, update_time`

// InsertRefund implements Store.
func (s *SQLStore) InsertRefund(ctx context.Context, r Refund, price Pricer) (Refund, bool, error) {
	var (
		out      Refund
		inserted bool
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		existing, err := scanRefund(tx.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM acq_refunds
			WHERE network_id = $1 AND request_id = $2`, r.NetworkID, r.RequestID))
		if err == nil {
			out, inserted = existing, false
			return nil
		}
		if !errors.Is(err, ErrRefundNotFound) {
			return err
		}
		var (
			status                           string
			cancel                           bool
			merchant, wallet, cost, refunded int64
			refundedWallet, refundedCost     int64
		)
		err = tx.QueryRowContext(ctx, `SELECT status, cancel_requested, merchant_minor, wallet_minor, cost_minor, refunded_minor,
			(SELECT CAST(COALESCE(SUM(wallet_minor), 0) AS INT8) FROM acq_refunds WHERE payment_id = $1 AND status <> 'FAILED'),
			(SELECT CAST(COALESCE(SUM(cost_minor), 0) AS INT8) FROM acq_refunds WHERE payment_id = $1 AND status <> 'FAILED')
			FROM acq_payments WHERE payment_id = $1`, r.PaymentID).
			Scan(&status, &cancel, &merchant, &wallet, &cost, &refunded, &refundedWallet, &refundedCost)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrPaymentNotFound
		}
		if err != nil {
			return err
		}
		if Status(status) != Succeeded || cancel {
			return ErrNotRefundable
		}
		if refunded+r.MerchantAmount.Minor > merchant {
			return fmt.Errorf("%w: %d of %d minor units left", ErrRefundExceeds, merchant-refunded, merchant)
		}
		r.WalletAmount.Minor, r.CostAmount.Minor = price(
			[3]int64{merchant, wallet, cost}, [3]int64{refunded, refundedWallet, refundedCost}, r.MerchantAmount.Minor)
		if r.WalletAmount.Minor <= 0 {
			return ErrRefundTooSmall
		}
		if _, err := tx.ExecContext(ctx, `UPDATE acq_payments SET refunded_minor = refunded_minor + $1, update_time = $2
			WHERE payment_id = $3`, r.MerchantAmount.Minor, r.UpdateTime.UTC(), r.PaymentID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO acq_refunds (`+refundColumns+`) VALUES
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			r.ID, r.PaymentID, r.NetworkID, r.RequestID, r.RequestHash, string(r.Status), r.MerchantAmount.Currency,
			r.MerchantAmount.Minor, r.WalletAmount.Currency, r.WalletAmount.Minor, r.CostAmount.Minor, r.PartnerReference,
			string(r.FailureReason), r.FailureMessage, r.LedgerPosted, r.Attempts, utcPtr(r.NextAttempt),
			r.CreateTime.UTC(), r.UpdateTime.UTC())
		out, inserted = r, true
		return err
	})
	if err != nil {
		return Refund{}, false, err
	}
	return out, inserted, nil
}

// GetRefund implements Store.
func (s *SQLStore) GetRefund(ctx context.Context, id string) (Refund, error) {
	return scanRefund(s.db.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM acq_refunds WHERE refund_id = $1`, id))
}

// GetRefundByRequest implements Store.
func (s *SQLStore) GetRefundByRequest(ctx context.Context, networkID, requestID string) (Refund, error) {
	return scanRefund(s.db.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM acq_refunds
		WHERE network_id = $1 AND request_id = $2`, networkID, requestID))
}

// FinishRefund implements Store.
func (s *SQLStore) FinishRefund(ctx context.Context, id string, r Refund, at time.Time, event func(Refund) (Event, bool)) (Refund, error) {
	var out Refund
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		done, err := scanRefund(tx.QueryRowContext(ctx, `UPDATE acq_refunds SET status = $1, partner_reference = $2,
			failure_reason = $3, failure_message = $4, next_attempt_time = NULL, update_time = $5
			WHERE refund_id = $6 AND status = 'PROCESSING' RETURNING `+refundColumns,
			string(r.Status), r.PartnerReference, string(r.FailureReason), r.FailureMessage, at.UTC(), id))
		if errors.Is(err, ErrRefundNotFound) {
			out, err = scanRefund(tx.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM acq_refunds WHERE refund_id = $1`, id))
			return err
		}
		if err != nil {
			return err
		}
		out = done
		if done.Status == Failed {
			if _, err := tx.ExecContext(ctx, `UPDATE acq_payments SET refunded_minor = refunded_minor - $1 WHERE payment_id = $2`,
				done.MerchantAmount.Minor, done.PaymentID); err != nil {
				return err
			}
		}
		if event != nil {
			if e, ok := event(done); ok {
				return insertEvent(ctx, tx, e)
			}
		}
		return nil
	})
	return out, err
}

// ScheduleRefund implements Store.
func (s *SQLStore) ScheduleRefund(ctx context.Context, id string, next time.Time, fence *Fence) error {
	a := &sqlArgs{}
	q := `UPDATE acq_refunds SET next_attempt_time = ` + a.add(next.UTC()) + `, attempts = attempts + 1
		WHERE refund_id = ` + a.add(id) + ` AND status = 'PROCESSING'` + fenceClause(a, fence)
	_, err := s.db.ExecContext(ctx, q, a.args...)
	return err
}

// UnpostedRefunds implements Store.
func (s *SQLStore) UnpostedRefunds(ctx context.Context, limit int) ([]Refund, error) {
	return s.refunds(ctx, `SELECT `+refundColumns+` FROM acq_refunds WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE LIMIT $1`, limit)
}

// MarkRefundsPosted implements Store.
func (s *SQLStore) MarkRefundsPosted(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	a := &sqlArgs{}
	_, err := s.db.ExecContext(ctx, `UPDATE acq_refunds SET ledger_posted = TRUE WHERE refund_id IN (`+a.in(ids...)+`)`, a.args...)
	return err
}

// DueRefunds implements Store.
func (s *SQLStore) DueRefunds(ctx context.Context, now time.Time, limit int) ([]Refund, error) {
	return s.refunds(ctx, `SELECT `+refundColumns+` FROM acq_refunds
		WHERE next_attempt_time IS NOT NULL AND next_attempt_time <= $1 ORDER BY next_attempt_time LIMIT $2`, now.UTC(), limit)
}

// ListRefunds implements Store.
func (s *SQLStore) ListRefunds(ctx context.Context, paymentID string) ([]Refund, error) {
	return s.refunds(ctx, `SELECT `+refundColumns+` FROM acq_refunds WHERE payment_id = $1 ORDER BY create_time, refund_id`, paymentID)
}

func (s *SQLStore) refunds(ctx context.Context, query string, args ...any) ([]Refund, error) {
	return queryAll(ctx, s.db, scanRefund, query, args...)
}

func scanRefund(row scanner) (Refund, error) {
	var (
		r              Refund
		status, reason string
		next           sql.NullTime
	)
	err := row.Scan(&r.ID, &r.PaymentID, &r.NetworkID, &r.RequestID, &r.RequestHash, &status, &r.MerchantAmount.Currency,
		&r.MerchantAmount.Minor, &r.WalletAmount.Currency, &r.WalletAmount.Minor, &r.CostAmount.Minor, &r.PartnerReference,
		&reason, &r.FailureMessage, &r.LedgerPosted, &r.Attempts, &next, &r.CreateTime, &r.UpdateTime)
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, ErrRefundNotFound
	}
	if err != nil {
		return Refund{}, fmt.Errorf("acquirer: read refund: %w", err)
	}
	r.Status, r.FailureReason = Status(status), rpcerr.Reason(reason)
	r.CostAmount.Currency = r.WalletAmount.Currency
	r.CreateTime, r.UpdateTime = r.CreateTime.UTC(), r.UpdateTime.UTC()
	if next.Valid {
		t := next.Time.UTC()
		r.NextAttempt = &t
	}
	return r, nil
}

// ClaimFence implements Store.
func (s *SQLStore) ClaimFence(ctx context.Context, name string, rev int64) (bool, error) {
	var ok bool
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO acq_fences (name, revision) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE acq_fences SET revision = $1 WHERE name = $2 AND revision <= $1`, rev, name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// SequenceEvents implements Store: in one transaction, if the fence holds,
// take the oldest unsequenced events and number them after each partner's
// last sequence.
func (s *SQLStore) SequenceEvents(ctx context.Context, fence Fence, limit int) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		n = 0
		var holds int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM acq_fences WHERE name = $1 AND revision = $2`,
			fence.Name, fence.Revision).Scan(&holds); err != nil {
			return err
		}
		if holds != 1 {
			return ErrFenced
		}
		rows, err := tx.QueryContext(ctx, `SELECT event_id, partner_id FROM acq_events WHERE sequence IS NULL
			ORDER BY create_time, event_id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		type ev struct{ id, partner string }
		var evs []ev
		for rows.Next() {
			var e ev
			if err := rows.Scan(&e.id, &e.partner); err != nil {
				rows.Close()
				return err
			}
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(evs) == 0 {
			return err
		}
		last := map[string]int64{}
		for _, e := range evs {
			if _, ok := last[e.partner]; ok {
				continue
			}
			var seq int64
			err := tx.QueryRowContext(ctx, `SELECT last_sequence FROM acq_event_cursors WHERE partner_id = $1`, e.partner).Scan(&seq)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			last[e.partner] = seq
		}
		for _, e := range evs {
			last[e.partner]++
			if _, err := tx.ExecContext(ctx, `UPDATE acq_events SET sequence = $1 WHERE event_id = $2`, last[e.partner], e.id); err != nil {
				return err
			}
		}
		for partner, seq := range last {
			if _, err := tx.ExecContext(ctx, `INSERT INTO acq_event_cursors (partner_id, last_sequence) VALUES ($1, $2)
				ON CONFLICT (partner_id) DO UPDATE SET last_sequence = excluded.last_sequence`, partner, seq); err != nil {
				return err
			}
		}
		n = len(evs)
		return nil
	})
	return n, err
}

// ListEvents implements Store.
func (s *SQLStore) ListEvents(ctx context.Context, partnerID string, after int64, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, partner_id, event_type, payment_id, body, create_time, sequence FROM acq_events
		WHERE partner_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`, partnerID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.PartnerID, &e.Type, &e.PaymentID, &e.Body, &e.Time, &e.Sequence); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

const statementCursor = "settlement-statements"

// StatementCursor implements Store.
func (s *SQLStore) StatementCursor(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM acq_cursors WHERE name = $1`, statementCursor).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// AddStatementEvents implements Store.
func (s *SQLStore) AddStatementEvents(ctx context.Context, fence Fence, events []Event, cursor int64) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		var holds int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM acq_fences WHERE name = $1 AND revision = $2`,
			fence.Name, fence.Revision).Scan(&holds); err != nil {
			return err
		}
		if holds != 1 {
			return ErrFenced
		}
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, body, create_time, sequence)
				VALUES ($1, $2, $3, '', $4, $5, NULL) ON CONFLICT (event_id) DO NOTHING`, e.ID, e.PartnerID, e.Type, e.Body, e.Time.UTC()); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO acq_cursors (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, statementCursor, cursor)
		return err
	})
}
