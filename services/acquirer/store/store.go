package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/acquirer"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the acquirer schema.
var Migrations = sqlstore.Migrations{Component: "acquirer", FS: migrationsFS, Dir: "migrations"}

// SQLStore keeps payments, refunds and events in SQL.
type SQLStore struct {
	db *sqlstore.DB
	// Group commit of the MPM request path's writes (NewBatching); nil:
	// each alone.
	inserts    *sqlstore.Batcher[insertReq, bool]
	successes  *sqlstore.Batcher[successReq, successRes]
	requestIDs *sqlstore.Batcher[requestID, bool]
}

var _ acquirer.Store = (*SQLStore)(nil)

// New returns a store on db; run Migrations first.
func New(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

type (
	Payment = acquirer.Payment
	Refund  = acquirer.Refund
	Event   = acquirer.Event
	Fence   = acquirer.Fence
)

const paymentColumns = `payment_id, partner_id, partner_payment_id, request_hash, mode, status, user_ref,
	network_id, merchant_id, merchant_name, merchant_city, mcc, merchant_country,
	merchant_currency, merchant_minor, wallet_currency, wallet_minor, cost_minor, quote_id, rate,
	network_reference, failure_reason, failure_message, ledger_posted, create_time, update_time,
	merchant_order_id, network_endpoint, partner_endpoint, credited, refunded_minor, cancel_requested,
	attempts, next_attempt_time, posting_error, settlement_currency, settlement_minor, device_ref, trace_parent`

// settled is the SQL of the settlement minor units of the payment or
// refund row named alias ("p", "r", or "" for the only table): those it
// stores or, for a row from before settlement currencies (settlement
// currency empty), its wallet's.
func settled(alias string) string {
	if alias != "" {
		alias += "."
	}
	return `CASE WHEN ` + alias + `settlement_currency = '' THEN ` + alias + `wallet_minor ELSE ` + alias + `settlement_minor END`
}

// settlementOf is a row's settlement amount: settlement or, when it has no
// currency (a row from before settlement currencies), the wallet amount.
func settlementOf(settlement, wallet money.Amount) money.Amount {
	if settlement.Currency == "" {
		return wallet
	}
	return settlement
}

// InsertPayment implements acquirer.Store with one statement: ON CONFLICT
// DO NOTHING on the payment id (and, for CPM, the network's order id),
// then a read of the winner if this insert lost. The payment's audit
// entry is written by the same statement (a data-modifying CTE on
// PostgreSQL and CockroachDB; one transaction on SQLite), and only if the
// payment was.
func (s *SQLStore) InsertPayment(ctx context.Context, p Payment) (Payment, bool, error) {
	p.SettlementAmount = settlementOf(p.SettlementAmount, p.WalletAmount)
	m := p.Merchant
	e, err := paymentEntry(ctx, p)
	if err != nil {
		return Payment{}, false, err
	}
	vs := []any{p.ID, p.PartnerID, p.PartnerPaymentID, p.RequestHash, string(p.Mode), string(p.Status), p.UserRef,
		m.NetworkID, m.ID, m.Name, m.City, m.MCC, m.Country,
		p.MerchantAmount.Currency, p.MerchantAmount.Minor, p.WalletAmount.Currency, p.WalletAmount.Minor, p.CostAmount.Minor,
		p.QuoteID, p.Rate, p.NetworkReference, string(p.FailureReason), p.FailureMessage, p.LedgerPosted,
		p.CreateTime.UTC(), p.UpdateTime.UTC(), p.MerchantOrderID, p.NetworkEndpoint, p.PartnerEndpoint,
		p.Credited, p.RefundedMinor, p.CancelRequested, p.Attempts, utcPtr(p.NextAttempt), p.PostingError,
		p.SettlementAmount.Currency, p.SettlementAmount.Minor, p.DeviceRef, p.TraceParent}
	var inserted bool
	if s.inserts != nil && p.Mode == acquirer.MPM {
		inserted, err = s.inserts.Do(ctx, insertReq{p: p, vs: vs, e: e})
	} else {
		inserted, err = s.insertAlone(ctx, insertReq{p: p, vs: vs, e: e})
	}
	if err != nil {
		return Payment{}, false, err
	}
	if inserted {
		return p, true, nil
	}
	// The conflict was on the id, the partner's key or the network's order
	// id: return whichever row holds it (its request hash then tells a
	// repeat from a reuse).
	existing, err := s.Payment(ctx, p.ID)
	if errors.Is(err, acquirer.ErrPaymentNotFound) && p.Mode == acquirer.CPM {
		existing, err = s.PaymentByOrder(ctx, p.Merchant.NetworkID, p.MerchantOrderID)
	}
	if errors.Is(err, acquirer.ErrPaymentNotFound) {
		existing, err = s.PaymentByKey(ctx, p.PartnerID, p.PartnerPaymentID)
	}
	if err != nil {
		return Payment{}, false, err
	}
	return existing, false, nil
}

// insertAlone inserts one payment and its audit entry.
func (s *SQLStore) insertAlone(ctx context.Context, r insertReq) (bool, error) {
	insert := `INSERT INTO acq_payments (` + paymentColumns + `) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
		 $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39)
		ON CONFLICT DO NOTHING`
	vs, e := r.vs, r.e
	var (
		inserted bool
		err      error
	)
	if s.db.Dialect() != sqlstore.SQLite {
		query := `WITH p AS (` + insert + ` RETURNING payment_id), a AS (
			INSERT INTO audit_log (` + auditColumns + `)
			SELECT $40, $41, $42, $43, payment_id, $44, NULL, $45, $46, NULL, '', '' FROM p)
			SELECT count(*) FROM p`
		vs = append(vs[:len(vs):len(vs)], e.ID, e.Time, e.Actor, e.Action, e.Outcome, string(e.After), e.TraceID)
		err = s.db.Retry(ctx, func(ctx context.Context) error {
			var n int
			err := s.db.QueryRowContext(ctx, query, vs...).Scan(&n)
			inserted = n == 1
			return err
		})
	} else {
		err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
			res, err := tx.ExecContext(ctx, insert, vs...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if inserted = n == 1; err != nil || !inserted {
				return err
			}
			return audit.Append(ctx, tx, e)
		})
	}
	if err != nil {
		return false, fmt.Errorf("acquirer: insert payment: %w", err)
	}
	return inserted, nil
}

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// Payment implements acquirer.Store.
func (s *SQLStore) Payment(ctx context.Context, id string) (Payment, error) {
	return scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments WHERE payment_id = $1`, id))
}

// PaymentByKey implements acquirer.Store.
func (s *SQLStore) PaymentByKey(ctx context.Context, partnerID, key string) (Payment, error) {
	return scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE partner_id = $1 AND partner_payment_id = $2`, partnerID, key))
}

// PaymentByOrder implements acquirer.Store.
func (s *SQLStore) PaymentByOrder(ctx context.Context, networkID, orderID string) (Payment, error) {
	return scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE network_id = $1 AND merchant_order_id = $2 AND mode = 'CPM'`, networkID, orderID))
}

// args builds a statement's argument list and placeholders.
type args struct{ vs []any }

func (a *args) add(v any) string {
	a.vs = append(a.vs, v)
	return fmt.Sprintf("$%d", len(a.vs))
}

func (a *args) in(vs ...string) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = a.add(v)
	}
	return strings.Join(ps, ", ")
}

// notIn is " AND col NOT IN (…)", or nothing for no values.
func (a *args) notIn(col string, vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return " AND " + col + " NOT IN (" + a.in(vs...) + ")"
}

// transition is one named state change of a payment.
type transition struct {
	set   string // assignments after update_time
	where string // the states it applies from
	// event, if set, is the SQL expression of the partner event's type,
	// evaluated on the updated row.
	event string
	// audit, if set, is the action of the audit entry written with the
	// change (a request's, not the resolver's); auditBefore and
	// auditAfter are SQL expressions of its before and after JSON on the
	// updated row.
	audit, auditBefore, auditAfter string
}

// Transitions of payments. Their WHEREs are the state machine.
var (
	inFlight = `(status = 'PROCESSING' OR (status = 'SUCCEEDED' AND cancel_requested))`

	markSucceeded = transition{
		set: `status = 'SUCCEEDED', network_reference = $ref, user_ref = CASE WHEN $user = '' THEN user_ref ELSE $user END,
			credited = TRUE, next_attempt_time = NULL, ledger_posted = FALSE`,
		where: `status = 'PROCESSING' AND NOT cancel_requested`,
		event: `'` + acquirer.EventPaymentSucceeded + `'`,
	}
	markCredited = transition{
		set:   `credited = TRUE, network_reference = $ref`,
		where: `status = 'PROCESSING' AND cancel_requested`,
	}
	// markAuthorized records a CPM authorization whose user risk has yet
	// to name: the money moved, the payment stays PROCESSING and scheduled.
	markAuthorized = transition{
		set:   `credited = TRUE, network_reference = $ref, user_ref = CASE WHEN $user = '' THEN user_ref ELSE $user END`,
		where: `status = 'PROCESSING' AND NOT cancel_requested`,
	}
	// refuseAuthorized gives up an authorization risk refused: the cancel
	// is requested by the acquirer itself, with the reason, so that the
	// confirmed reversal makes the payment FAILED (see markReversed).
	refuseAuthorized = transition{
		set: `credited = TRUE, network_reference = CASE WHEN $ref = '' THEN network_reference ELSE $ref END,
			user_ref = CASE WHEN $user = '' THEN user_ref ELSE $user END,
			cancel_requested = TRUE, failure_reason = $reason, failure_message = $message, next_attempt_time = $next`,
		where: `status = 'PROCESSING' AND NOT cancel_requested`,
	}
	// markFailed never applies to money that moved: that is reversed.
	markFailed = transition{
		set:   `status = 'FAILED', failure_reason = $reason, failure_message = $message, next_attempt_time = NULL`,
		where: `status = 'PROCESSING' AND NOT cancel_requested AND NOT credited`,
		event: `'` + acquirer.EventPaymentFailed + `'`,
	}
	reschedule = transition{
		set:   `next_attempt_time = $next, attempts = attempts + 1`,
		where: inFlight,
	}
	requestCancel = transition{
		set:   `cancel_requested = TRUE, next_attempt_time = $next`,
		where: `status IN ('PROCESSING', 'SUCCEEDED') AND NOT cancel_requested AND refunded_minor = 0 AND create_time >= $window`,
		// The status is the same before and after: the cancel is requested.
		audit:       AuditCancel,
		auditBefore: `'{"status":"' || status || '","cancel_requested":false}'`,
		auditAfter:  `'{"status":"' || status || '","cancel_requested":true}'`,
	}
	timeOut = transition{
		set: `cancel_requested = TRUE, failure_reason = '` + string(rpcerr.PaymentTimedOut) + `', failure_message = $message,
			next_attempt_time = $next`,
		where: `status = 'PROCESSING' AND NOT cancel_requested`,
	}
	// A reversal the acquirer asked for itself (timed out, refused by
	// risk) carries a failure reason and ends FAILED; a caller's cancel
	// has none and ends CANCELLED.
	markReversed = transition{
		set: `status = CASE WHEN failure_reason <> '' THEN 'FAILED' ELSE 'CANCELLED' END,
			next_attempt_time = NULL, ledger_posted = FALSE`,
		where: inFlight + ` AND cancel_requested`,
		event: `CASE WHEN status = 'FAILED' THEN '` + acquirer.EventPaymentFailed + `' ELSE '` + acquirer.EventPaymentCancelled + `' END`,
	}
	refuseCancel = transition{
		set:   `cancel_requested = FALSE, next_attempt_time = NULL`,
		where: `status = 'SUCCEEDED' AND cancel_requested`,
	}
	unschedule = transition{
		set:   `next_attempt_time = NULL`,
		where: `NOT ` + inFlight,
	}
)

// MarkSucceeded implements acquirer.Store.
func (s *SQLStore) MarkSucceeded(ctx context.Context, id, ref, userRef string, at time.Time, f *Fence) (Payment, bool, error) {
	r := successReq{id: id, ref: ref, user: userRef, at: at}
	if f != nil || s.successes == nil {
		return s.apply(ctx, markSucceeded, id, at, f, r.named())
	}
	res, err := s.successes.Do(ctx, r)
	if err != nil || res.applied || res.p.ID != "" {
		return res.p, res.applied, err
	}
	// Not applied in a batch: the payment as it now stands.
	p, err := s.Payment(ctx, id)
	return p, false, err
}

// MarkCredited implements acquirer.Store.
func (s *SQLStore) MarkCredited(ctx context.Context, id, ref string, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, markCredited, id, at, f, map[string]any{"ref": ref})
}

// MarkAuthorized implements acquirer.Store.
func (s *SQLStore) MarkAuthorized(ctx context.Context, id, ref, userRef string, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, markAuthorized, id, at, f, map[string]any{"ref": ref, "user": userRef})
}

// RefuseAuthorized implements acquirer.Store.
func (s *SQLStore) RefuseAuthorized(ctx context.Context, id, ref, userRef string, reason rpcerr.Reason, message string, next, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, refuseAuthorized, id, at, f, map[string]any{"ref": ref, "user": userRef, "reason": string(reason),
		"message": message, "next": next.UTC()})
}

// MarkFailed implements acquirer.Store.
func (s *SQLStore) MarkFailed(ctx context.Context, id string, reason rpcerr.Reason, message string, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, markFailed, id, at, f, map[string]any{"reason": string(reason), "message": message})
}

// Reschedule implements acquirer.Store.
func (s *SQLStore) Reschedule(ctx context.Context, id string, next, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, reschedule, id, at, f, map[string]any{"next": next.UTC()})
}

// RequestCancel implements acquirer.Store.
func (s *SQLStore) RequestCancel(ctx context.Context, id string, windowStart, next, at time.Time) (Payment, bool, error) {
	return s.apply(ctx, requestCancel, id, at, nil, map[string]any{"window": windowStart.UTC(), "next": next.UTC()})
}

// TimeOut implements acquirer.Store.
func (s *SQLStore) TimeOut(ctx context.Context, id, message string, next, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, timeOut, id, at, f, map[string]any{"message": message, "next": next.UTC()})
}

// MarkReversed implements acquirer.Store.
func (s *SQLStore) MarkReversed(ctx context.Context, id string, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, markReversed, id, at, f, nil)
}

// RefuseCancel implements acquirer.Store.
func (s *SQLStore) RefuseCancel(ctx context.Context, id string, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, refuseCancel, id, at, f, nil)
}

// Unschedule implements acquirer.Store.
func (s *SQLStore) Unschedule(ctx context.Context, id string, at time.Time, f *Fence) (Payment, bool, error) {
	return s.apply(ctx, unschedule, id, at, f, nil)
}

// bind replaces the named parameters ($name) of a transition's SQL with
// numbered placeholders.
func bind(a *args, sqlText string, named map[string]any) string {
	for name, v := range named {
		if strings.Contains(sqlText, "$"+name) {
			sqlText = strings.ReplaceAll(sqlText, "$"+name, a.add(v))
		}
	}
	return sqlText
}

// apply runs a transition: one conditional UPDATE … RETURNING, with its
// event. Unfenced on PostgreSQL it is one statement (the event's INSERT a
// data-modifying CTE on the UPDATE's result, so it is written exactly
// when the update applies); fenced, it runs in a SERIALIZABLE transaction
// that first checks the fence. A transition that does not apply returns
// the payment as it is.
func (s *SQLStore) apply(ctx context.Context, t transition, id string, at time.Time, f *Fence, named map[string]any) (Payment, bool, error) {
	a := &args{}
	update := `UPDATE acq_payments SET update_time = ` + a.add(at.UTC()) + `, ` + bind(a, t.set, named) +
		` WHERE payment_id = ` + a.add(id) + ` AND ` + bind(a, t.where, named)
	// The event and the audit entry are written with the change: as
	// data-modifying CTEs on the UPDATE's result on PostgreSQL, as more
	// statements in its transaction on SQLite.
	var sides []string // INSERT … SELECT … FROM u
	if t.event != "" {
		sides = append(sides, `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence)
			SELECT `+a.add(newEventID())+`, partner_id, `+t.event+`, payment_id, '', NULL, `+a.add(at.UTC())+`, NULL FROM u`)
	}
	if t.audit != "" {
		// The caller's certificate names it; without one (plaintext, for
		// local experiments) the payment's owner stands in.
		who := `CASE WHEN mode = 'CPM' THEN 'network:' || network_id ELSE 'partner:' || partner_id END`
		if id, ok := authn.FromContext(ctx); ok {
			who = a.add(id.String())
		}
		sides = append(sides, `INSERT INTO audit_log (`+auditColumns+`)
			SELECT `+a.add(uuid.NewString())+`, `+a.add(at.UTC().Truncate(time.Microsecond))+`, `+who+`, `+a.add(t.audit)+`,
			payment_id, 'ok', `+t.auditBefore+`, `+t.auditAfter+`, `+a.add(traceID(ctx))+`, NULL, '', '' FROM u`)
	}
	pg := s.db.Dialect() != sqlstore.SQLite
	query := update + ` RETURNING ` + paymentColumns
	if pg && len(sides) > 0 {
		query = `WITH u AS (` + update + ` RETURNING ` + paymentColumns + `)`
		for i, side := range sides {
			query += fmt.Sprintf(`, side%d AS (%s)`, i, side)
		}
		query += ` SELECT ` + paymentColumns + ` FROM u`
	}
	var (
		out     Payment
		applied bool
	)
	run := func(ctx context.Context, q sqlstore.Querier) error {
		p, err := scanPayment(q.QueryRowContext(ctx, query, a.vs...))
		if errors.Is(err, acquirer.ErrPaymentNotFound) {
			out, applied = Payment{}, false
			return nil
		}
		if err != nil {
			return err
		}
		out, applied = p, true
		if !pg {
			// The side statements read the updated row as u.
			for _, side := range sides {
				stmt := `WITH u AS (SELECT * FROM acq_payments WHERE payment_id = ` + a.add(id) + `) ` + side
				if _, err := q.ExecContext(ctx, stmt, a.vs...); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var err error
	switch {
	case f != nil:
		err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
			if err := checkFence(ctx, tx, *f); err != nil {
				return err
			}
			return run(ctx, tx)
		})
	case !pg && len(sides) > 0:
		err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error { return run(ctx, tx) })
	default:
		err = s.db.Retry(ctx, func(ctx context.Context) error { return run(ctx, s.db) })
	}
	if err != nil {
		return Payment{}, false, err
	}
	if !applied {
		out, err = s.Payment(ctx, id)
		if err != nil {
			return Payment{}, false, err
		}
	}
	return out, applied, nil
}

// checkFence fails with ErrFenced unless f is the newest claim of its
// name; inside a SERIALIZABLE transaction, a concurrent newer claim makes
// one of the two abort.
func checkFence(ctx context.Context, q sqlstore.Querier, f Fence) error {
	if err := sqlstore.CheckFence(ctx, q, "acq_fences", f.Name, f.Revision); errors.Is(err, sqlstore.ErrFenced) {
		return acquirer.ErrFenced
	} else if err != nil {
		return err
	}
	return nil
}

// DuePayments implements acquirer.Store.
func (s *SQLStore) DuePayments(ctx context.Context, now time.Time, limit int, skipIDs, skipEndpoints []string) ([]Payment, error) {
	a := &args{}
	q := `SELECT ` + paymentColumns + ` FROM acq_payments WHERE next_attempt_time IS NOT NULL AND next_attempt_time <= ` + a.add(now.UTC()) +
		a.notIn("payment_id", skipIDs) +
		a.notIn("CASE WHEN mode = 'CPM' THEN partner_endpoint ELSE network_endpoint END", skipEndpoints) +
		` ORDER BY next_attempt_time, payment_id LIMIT ` + a.add(limit)
	return queryAll(ctx, s.db, scanPayment, q, a.vs...)
}

// Unposted implements acquirer.Store.
func (s *SQLStore) Unposted(ctx context.Context, limit int) ([]Payment, error) {
	return queryAll(ctx, s.db, scanPayment, `SELECT `+paymentColumns+` FROM acq_payments
		WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE AND posting_error = ''
		ORDER BY update_time, payment_id LIMIT $1`, limit)
}

// MarkPosted implements acquirer.Store with one UPDATE per status. Each
// row is marked only if it is still in the status whose postings were
// delivered: a payment cancelled meanwhile stays owed its reversal.
func (s *SQLStore) MarkPosted(ctx context.Context, posted []Payment) error {
	byStatus := map[acquirer.Status][]string{}
	for _, p := range posted {
		byStatus[p.Status] = append(byStatus[p.Status], p.ID)
	}
	for st, ids := range byStatus {
		a := &args{}
		q := `UPDATE acq_payments SET ledger_posted = TRUE WHERE status = ` + a.add(string(st)) + ` AND payment_id IN (` + a.in(ids...) + `)`
		if err := s.db.Retry(ctx, func(ctx context.Context) error {
			_, err := s.db.ExecContext(ctx, q, a.vs...)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// MarkPostingPoisoned implements acquirer.Store.
func (s *SQLStore) MarkPostingPoisoned(ctx context.Context, id string, refund bool, reason string) error {
	q := `UPDATE acq_payments SET posting_error = $1 WHERE payment_id = $2 AND ledger_posted = FALSE`
	if refund {
		q = `UPDATE acq_refunds SET posting_error = $1 WHERE refund_id = $2 AND ledger_posted = FALSE`
	}
	if reason == "" {
		reason = "refused by the ledger"
	}
	_, err := s.db.ExecContext(ctx, q, reason, id)
	return err
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q sqlstore.Querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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
		p  Payment
		ps paymentScan
	)
	err := row.Scan(ps.dests(&p)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, acquirer.ErrPaymentNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("acquirer: read payment: %w", err)
	}
	ps.finish(&p)
	return p, nil
}

// paymentScan holds the columns of a payment that need converting.
type paymentScan struct {
	mode, status, reason string
	next                 sql.NullTime
}

func (ps *paymentScan) dests(p *Payment) []any {
	m := &p.Merchant
	return []any{&p.ID, &p.PartnerID, &p.PartnerPaymentID, &p.RequestHash, &ps.mode, &ps.status, &p.UserRef,
		&m.NetworkID, &m.ID, &m.Name, &m.City, &m.MCC, &m.Country,
		&p.MerchantAmount.Currency, &p.MerchantAmount.Minor, &p.WalletAmount.Currency, &p.WalletAmount.Minor, &p.CostAmount.Minor,
		&p.QuoteID, &p.Rate, &p.NetworkReference, &ps.reason, &p.FailureMessage, &p.LedgerPosted, &p.CreateTime, &p.UpdateTime,
		&p.MerchantOrderID, &p.NetworkEndpoint, &p.PartnerEndpoint, &p.Credited, &p.RefundedMinor, &p.CancelRequested,
		&p.Attempts, &ps.next, &p.PostingError, &p.SettlementAmount.Currency, &p.SettlementAmount.Minor, &p.DeviceRef, &p.TraceParent}
}

func (ps *paymentScan) finish(p *Payment) {
	p.Merchant.Currency = p.MerchantAmount.Currency
	p.Mode, p.Status, p.FailureReason = acquirer.Mode(ps.mode), acquirer.Status(ps.status), rpcerr.Reason(ps.reason)
	p.SettlementAmount = settlementOf(p.SettlementAmount, p.WalletAmount)
	p.CostAmount.Currency = p.SettlementAmount.Currency
	p.CreateTime, p.UpdateTime = p.CreateTime.UTC(), p.UpdateTime.UTC()
	if ps.next.Valid {
		t := ps.next.Time.UTC()
		p.NextAttempt = &t
	}
}

// prefixed qualifies every column of a column list with prefix ("p.").
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
