package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/acquirer"
)

func newEventID() string { return uuid.NewString() }

const refundColumns = `refund_id, payment_id, partner_id, network_id, request_id, request_hash, status, merchant_currency,
	merchant_minor, wallet_currency, wallet_minor, cost_minor, partner_reference, failure_reason, failure_message,
	ledger_posted, attempts, next_attempt_time, create_time, update_time, settlement_currency, settlement_minor`

// InsertRefund implements acquirer.Store. The refund's audit entry is
// written in its transaction.
func (s *SQLStore) InsertRefund(ctx context.Context, r Refund, price acquirer.Pricer) (Refund, bool, error) {
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
		if !errors.Is(err, acquirer.ErrRefundNotFound) {
			return err
		}
		var (
			status, settlementCurrency                   string
			cancel                                       bool
			merchant, wallet, settlement, cost, refunded int64
			refundedWallet, refundedSettlement           int64
			refundedCost                                 int64
		)
		err = tx.QueryRowContext(ctx, `SELECT status, cancel_requested, merchant_minor, wallet_minor,
			CASE WHEN settlement_currency = '' THEN wallet_currency ELSE settlement_currency END, `+settled("")+`, cost_minor, refunded_minor,
			(SELECT CAST(COALESCE(SUM(wallet_minor), 0) AS INT8) FROM acq_refunds WHERE payment_id = $1 AND status <> 'FAILED'),
			(SELECT CAST(COALESCE(SUM(`+settled("")+`), 0) AS INT8) FROM acq_refunds WHERE payment_id = $1 AND status <> 'FAILED'),
			(SELECT CAST(COALESCE(SUM(cost_minor), 0) AS INT8) FROM acq_refunds WHERE payment_id = $1 AND status <> 'FAILED')
			FROM acq_payments WHERE payment_id = $1`, r.PaymentID).
			Scan(&status, &cancel, &merchant, &wallet, &settlementCurrency, &settlement, &cost, &refunded,
				&refundedWallet, &refundedSettlement, &refundedCost)
		if errors.Is(err, sql.ErrNoRows) {
			return acquirer.ErrPaymentNotFound
		}
		if err != nil {
			return err
		}
		if acquirer.Status(status) != acquirer.Succeeded || cancel {
			return acquirer.ErrNotRefundable
		}
		if refunded+r.MerchantAmount.Minor > merchant {
			return fmt.Errorf("%w: %d of %d minor units left", acquirer.ErrRefundExceeds, merchant-refunded, merchant)
		}
		// The refund is in the payment's settlement currency, as its cost.
		r.SettlementAmount.Currency, r.CostAmount.Currency = settlementCurrency, settlementCurrency
		r.WalletAmount.Minor, r.SettlementAmount.Minor, r.CostAmount.Minor = price(
			[4]int64{merchant, wallet, settlement, cost}, [4]int64{refunded, refundedWallet, refundedSettlement, refundedCost},
			r.MerchantAmount.Minor)
		if r.WalletAmount.Minor <= 0 {
			return acquirer.ErrRefundTooSmall
		}
		if _, err := tx.ExecContext(ctx, `UPDATE acq_payments SET refunded_minor = refunded_minor + $1, update_time = $2
			WHERE payment_id = $3`, r.MerchantAmount.Minor, r.UpdateTime.UTC(), r.PaymentID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO acq_refunds (`+refundColumns+`) VALUES
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
			r.ID, r.PaymentID, r.PartnerID, r.NetworkID, r.RequestID, r.RequestHash, string(r.Status), r.MerchantAmount.Currency,
			r.MerchantAmount.Minor, r.WalletAmount.Currency, r.WalletAmount.Minor, r.CostAmount.Minor, r.PartnerReference,
			string(r.FailureReason), r.FailureMessage, r.LedgerPosted, r.Attempts, utcPtr(r.NextAttempt),
			r.CreateTime.UTC(), r.UpdateTime.UTC(), r.SettlementAmount.Currency, r.SettlementAmount.Minor)
		if err != nil {
			return err
		}
		out, inserted = r, true
		return audit.Append(ctx, tx, refundEntry(ctx, r, refunded))
	})
	if err != nil {
		return Refund{}, false, err
	}
	return out, inserted, nil
}

// Refund implements acquirer.Store.
func (s *SQLStore) Refund(ctx context.Context, id string) (Refund, error) {
	return scanRefund(s.db.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM acq_refunds WHERE refund_id = $1`, id))
}

// RefundByRequest implements acquirer.Store.
func (s *SQLStore) RefundByRequest(ctx context.Context, networkID, requestID string) (Refund, error) {
	return scanRefund(s.db.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM acq_refunds
		WHERE network_id = $1 AND request_id = $2`, networkID, requestID))
}

// refundTransition runs a conditional UPDATE of a PROCESSING refund, with
// extra statements (the event, giving the amount back) in the same
// transaction when it applies, checking the fence first when given one.
func (s *SQLStore) refundTransition(ctx context.Context, id string, set string, setArgs []any, at time.Time, f *Fence,
	then func(ctx context.Context, tx *sqlstore.Tx, r Refund) error) (Refund, bool, error) {
	var (
		out     Refund
		applied bool
	)
	n := len(setArgs)
	q := fmt.Sprintf(`UPDATE acq_refunds SET %s, update_time = $%d WHERE refund_id = $%d AND status = 'PROCESSING' RETURNING %s`,
		set, n+1, n+2, refundColumns)
	qargs := append(append([]any{}, setArgs...), at.UTC(), id)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		applied = false
		if f != nil {
			if err := checkFence(ctx, tx, *f); err != nil {
				return err
			}
		}
		r, err := scanRefund(tx.QueryRowContext(ctx, q, qargs...))
		if errors.Is(err, acquirer.ErrRefundNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, applied = r, true
		if then != nil {
			return then(ctx, tx, r)
		}
		return nil
	})
	if err != nil {
		return Refund{}, false, err
	}
	if !applied {
		out, err = s.Refund(ctx, id)
	}
	return out, applied, err
}

func insertRefundEvent(ctx context.Context, tx *sqlstore.Tx, r Refund, typ string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence)
		VALUES ($1, $2, $3, $4, $5, NULL, $6, NULL)`, newEventID(), r.PartnerID, typ, r.PaymentID, r.ID, at.UTC())
	return err
}

// MarkRefundSucceeded implements acquirer.Store.
func (s *SQLStore) MarkRefundSucceeded(ctx context.Context, id, ref string, at time.Time, f *Fence) (Refund, bool, error) {
	return s.refundTransition(ctx, id, `status = 'SUCCEEDED', partner_reference = $1, next_attempt_time = NULL, ledger_posted = FALSE`,
		[]any{ref}, at, f, func(ctx context.Context, tx *sqlstore.Tx, r Refund) error {
			return insertRefundEvent(ctx, tx, r, acquirer.EventRefundSucceeded, at)
		})
}

// MarkRefundFailed implements acquirer.Store: the refund's amount goes
// back to its payment in the same transaction.
func (s *SQLStore) MarkRefundFailed(ctx context.Context, id string, reason rpcerr.Reason, message string, at time.Time, f *Fence) (Refund, bool, error) {
	return s.refundTransition(ctx, id, `status = 'FAILED', failure_reason = $1, failure_message = $2, next_attempt_time = NULL`,
		[]any{string(reason), message}, at, f, func(ctx context.Context, tx *sqlstore.Tx, r Refund) error {
			if _, err := tx.ExecContext(ctx, `UPDATE acq_payments SET refunded_minor = refunded_minor - $1, update_time = $2
				WHERE payment_id = $3`, r.MerchantAmount.Minor, at.UTC(), r.PaymentID); err != nil {
				return err
			}
			return insertRefundEvent(ctx, tx, r, acquirer.EventRefundFailed, at)
		})
}

// RescheduleRefund implements acquirer.Store.
func (s *SQLStore) RescheduleRefund(ctx context.Context, id string, next, at time.Time, f *Fence) (Refund, bool, error) {
	return s.refundTransition(ctx, id, `next_attempt_time = $1, attempts = attempts + 1`, []any{next.UTC()}, at, f, nil)
}

// UnpostedRefunds implements acquirer.Store: the refunds and their
// payments in one query.
func (s *SQLStore) UnpostedRefunds(ctx context.Context, limit int) ([]acquirer.RefundWithPayment, error) {
	return queryAll(ctx, s.db, func(row scanner) (acquirer.RefundWithPayment, error) {
		var (
			rp acquirer.RefundWithPayment
			rs refundScan
			ps paymentScan
		)
		if err := row.Scan(append(rs.dests(&rp.Refund), ps.dests(&rp.Payment)...)...); err != nil {
			return rp, err
		}
		rs.finish(&rp.Refund)
		ps.finish(&rp.Payment)
		return rp, nil
	}, `SELECT `+prefixed("r.", refundColumns)+`, `+prefixed("p.", paymentColumns)+`
		FROM acq_refunds r JOIN acq_payments p ON p.payment_id = r.payment_id
		WHERE r.status = 'SUCCEEDED' AND r.ledger_posted = FALSE AND r.posting_error = ''
		ORDER BY r.update_time, r.refund_id LIMIT $1`, limit)
}

// MarkRefundsPosted implements acquirer.Store.
func (s *SQLStore) MarkRefundsPosted(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	a := &args{}
	q := `UPDATE acq_refunds SET ledger_posted = TRUE WHERE refund_id IN (` + a.in(ids...) + `)`
	return s.db.Retry(ctx, func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, q, a.vs...)
		return err
	})
}

// DueRefunds implements acquirer.Store.
func (s *SQLStore) DueRefunds(ctx context.Context, now time.Time, limit int, skipIDs []string) ([]Refund, error) {
	a := &args{}
	q := `SELECT ` + refundColumns + ` FROM acq_refunds WHERE next_attempt_time IS NOT NULL AND next_attempt_time <= ` + a.add(now.UTC()) +
		a.notIn("refund_id", skipIDs) + ` ORDER BY next_attempt_time, refund_id LIMIT ` + a.add(limit)
	return queryAll(ctx, s.db, scanRefund, q, a.vs...)
}

func scanRefund(row scanner) (Refund, error) {
	var (
		r  Refund
		rs refundScan
	)
	err := row.Scan(rs.dests(&r)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, acquirer.ErrRefundNotFound
	}
	if err != nil {
		return Refund{}, fmt.Errorf("acquirer: read refund: %w", err)
	}
	rs.finish(&r)
	return r, nil
}

// refundScan holds the columns of a refund that need converting.
type refundScan struct {
	status, reason string
	next           sql.NullTime
}

func (rs *refundScan) dests(r *Refund) []any {
	return []any{&r.ID, &r.PaymentID, &r.PartnerID, &r.NetworkID, &r.RequestID, &r.RequestHash, &rs.status, &r.MerchantAmount.Currency,
		&r.MerchantAmount.Minor, &r.WalletAmount.Currency, &r.WalletAmount.Minor, &r.CostAmount.Minor, &r.PartnerReference,
		&rs.reason, &r.FailureMessage, &r.LedgerPosted, &r.Attempts, &rs.next, &r.CreateTime, &r.UpdateTime,
		&r.SettlementAmount.Currency, &r.SettlementAmount.Minor}
}

func (rs *refundScan) finish(r *Refund) {
	r.Status, r.FailureReason = acquirer.Status(rs.status), rpcerr.Reason(rs.reason)
	r.SettlementAmount = settlementOf(r.SettlementAmount, r.WalletAmount)
	r.CostAmount.Currency = r.SettlementAmount.Currency
	r.CreateTime, r.UpdateTime = r.CreateTime.UTC(), r.UpdateTime.UTC()
	if rs.next.Valid {
		t := rs.next.Time.UTC()
		r.NextAttempt = &t
	}
}
