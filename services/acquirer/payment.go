package acquirer

import (
	"context"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Status is where a payment is in its life.
type Status string

// Payment statuses. PROCESSING answers U; SUCCEEDED S; FAILED and
// CANCELLED are final and moved no money (or gave it back).
const (
	Processing Status = "PROCESSING"
	Succeeded  Status = "SUCCEEDED"
	Failed     Status = "FAILED"
	Cancelled  Status = "CANCELLED"
)

// Final reports whether s can no longer change.
func (s Status) Final() bool { return s == Failed || s == Cancelled }

// Mode is who presented the code.
type Mode string

// Modes.
const (
	MPM Mode = "MPM"
	CPM Mode = "CPM"
)

// Payment is one payment as the acquirer records it.
type Payment struct {
	ID               string
	PartnerID        string
	PartnerPaymentID string // MPM: the partner's key; CPM: derived from the order
	RequestHash      string
	Mode             Mode
	Status           Status
	UserRef          string
	Merchant         *commonv1.Merchant
	MerchantAmount   money.Amount
	WalletAmount     money.Amount
	CostAmount       money.Amount
	QuoteID          string
	Rate             string
	NetworkReference string
	FailureReason    rpcerr.Reason
	FailureMessage   string
	LedgerPosted     bool
	CreateTime       time.Time
	UpdateTime       time.Time

	MerchantOrderID string // CPM: the network's order id
	NetworkEndpoint string // where the merchant network's API is
	PartnerEndpoint string // where the partner's WalletPartnerService is
	Credited        bool   // the downstream confirmed the money moved
	RefundedMinor   int64  // refunds reserved or done, merchant currency
	CancelRequested bool
	Attempts        int64      // resolver attempts so far
	NextAttempt     *time.Time // when the resolver looks again; nil: never
}

// Change is what an update sets. Zero fields are left as they are.
type Change struct {
	Status           Status
	NetworkReference string
	FailureReason    rpcerr.Reason
	FailureMessage   string
	Credited         bool // sets credited = TRUE
	CancelRequested  bool // sets cancel_requested = TRUE
	UserRef          string
	// Schedule sets the resolver's next attempt (and counts one attempt);
	// Unschedule clears it.
	Schedule   *time.Time
	Unschedule bool
	// Unposted marks the payment as owing ledger postings (again).
	Unposted bool
}

// Cond is when an update applies.
type Cond struct {
	// Statuses the payment must be in (any of).
	Statuses []Status
	// NotCancelRequested requires that no cancel was accepted.
	NotCancelRequested bool
	// NoRefunds requires that nothing was refunded.
	NoRefunds bool
	// Fence, if set, requires that the named leader's revision is still
	// the newest (see Store.ClaimFence).
	Fence *Fence
}

// Fence is a singleton leader's fencing token.
type Fence struct {
	Name     string
	Revision int64
}

// Event is a partner event in the outbox.
type Event struct {
	ID        string
	PartnerID string
	Type      string // a partnerv1.EventType name
	PaymentID string
	// Body, for a refund event, is its serialized partnerv1.Event (without
	// the sequence); a payment event has none and is rendered from the
	// payment when delivered.
	Body     []byte
	Time     time.Time
	Sequence int64
}

// PaymentEvent asks Update to add a payment event for the updated payment.
type PaymentEvent struct {
	ID   string
	Type string // a partnerv1.EventType name
}

// Refund is a refund of (part of) a payment.
type Refund struct {
	ID               string
	PaymentID        string
	NetworkID        string
	RequestID        string
	RequestHash      string
	Status           Status // PROCESSING, SUCCEEDED or FAILED
	MerchantAmount   money.Amount
	WalletAmount     money.Amount
	CostAmount       money.Amount
	PartnerReference string
	FailureReason    rpcerr.Reason
	FailureMessage   string
	LedgerPosted     bool
	Attempts         int64
	NextAttempt      *time.Time
	CreateTime       time.Time
	UpdateTime       time.Time
}

// Store keeps payments, refunds and events. Implemented by *SQLStore.
type Store interface {
	// Insert stores a new payment. If a payment with the same id (and so the
	// same key) exists it returns that one and inserted=false.
	Insert(ctx context.Context, p Payment) (stored Payment, inserted bool, err error)
	// Get returns a payment by id, or ErrPaymentNotFound.
	Get(ctx context.Context, id string) (Payment, error)
	// GetByKey returns a partner's payment by its key, or ErrPaymentNotFound.
	GetByKey(ctx context.Context, partnerID, partnerPaymentID string) (Payment, error)
	// GetByOrder returns a network's CPM payment by order id, or ErrPaymentNotFound.
	GetByOrder(ctx context.Context, networkID, orderID string) (Payment, error)
	// Update applies ch to the payment if cond holds and, atomically with
	// it, adds the payment event (if not nil). applied=false (and the
	// current payment) when cond did not hold.
	Update(ctx context.Context, id string, cond Cond, ch Change, at time.Time, event *PaymentEvent) (p Payment, applied bool, err error)
	// Unposted returns up to limit payments owing ledger postings.
	Unposted(ctx context.Context, limit int) ([]Payment, error)
	// MarkPosted records that the postings of payments, as they were (in
	// their status), reached the ledger.
	MarkPosted(ctx context.Context, posted []Payment) error
	// Due returns up to limit payments whose next resolver attempt is due.
	Due(ctx context.Context, now time.Time, limit int) ([]Payment, error)

	// InsertRefund reserves the refund's amount on its payment (which must
	// be SUCCEEDED, not cancelled, with enough left) and stores it, in one
	// transaction. A refund with the same network and request id is
	// returned instead (inserted=false). Errors: ErrRefundExceeds,
	// ErrNotRefundable.
	InsertRefund(ctx context.Context, r Refund, price Pricer) (stored Refund, inserted bool, err error)
	// GetRefund returns a refund by id, or ErrRefundNotFound.
	GetRefund(ctx context.Context, id string) (Refund, error)
	// GetRefundByRequest returns a network's refund by request id.
	GetRefundByRequest(ctx context.Context, networkID, requestID string) (Refund, error)
	// FinishRefund moves a PROCESSING refund to SUCCEEDED or FAILED (a
	// failed one gives its amount back to the payment) with its event.
	FinishRefund(ctx context.Context, id string, r Refund, at time.Time, event func(Refund) (Event, bool)) (Refund, error)
	// ScheduleRefund sets a PROCESSING refund's next attempt.
	ScheduleRefund(ctx context.Context, id string, next time.Time, fence *Fence) error
	// UnpostedRefunds and MarkRefundsPosted are the refunds' posting outbox.
	UnpostedRefunds(ctx context.Context, limit int) ([]Refund, error)
	MarkRefundsPosted(ctx context.Context, ids []string) error
	// DueRefunds returns refunds whose next attempt is due.
	DueRefunds(ctx context.Context, now time.Time, limit int) ([]Refund, error)
	// ListRefunds returns a payment's refunds.
	ListRefunds(ctx context.Context, paymentID string) ([]Refund, error)

	// ClaimFence records rev as the newest revision of leader name; false if
	// a newer one is recorded.
	ClaimFence(ctx context.Context, name string, rev int64) (bool, error)
	// SequenceEvents gives unsequenced events their per-partner sequence,
	// oldest first, up to limit, if the fence still holds. It returns how
	// many it sequenced.
	SequenceEvents(ctx context.Context, fence Fence, limit int) (int, error)
	// StatementCursor returns how far statements were relayed.
	StatementCursor(ctx context.Context) (int64, error)
	// AddStatementEvents adds events (keyed by their ids, so adding one
	// twice is a no-op) and moves the statement cursor to cursor, in one
	// transaction, if the fence holds.
	AddStatementEvents(ctx context.Context, fence Fence, events []Event, cursor int64) error
	// ListEvents returns a partner's sequenced events after a sequence.
	ListEvents(ctx context.Context, partnerID string, after int64, limit int) ([]Event, error)
}

// Pricer prices a refund of merchant minor units m of a payment whose
// (merchant, wallet, cost) amounts are paid, of which refunded has already
// been refunded (or is being refunded): it returns the refund's wallet and
// cost amounts.
type Pricer func(paid, refunded [3]int64, m int64) (wallet, cost int64)

// Domain errors of the lifecycle.
var (
	ErrPaymentNotFound  = rpcerr.New(rpcerr.PaymentNotFound, "payment not found")
	ErrRefundNotFound   = rpcerr.New(rpcerr.RefundNotFound, "refund not found")
	ErrRefundExceeds    = rpcerr.New(rpcerr.RefundExceedsRemaining, "refund exceeds what remains refundable")
	ErrNotRefundable    = rpcerr.New(rpcerr.PaymentNotRefundable, "only a succeeded payment can be refunded")
	ErrRefundTooSmall   = rpcerr.Field(rpcerr.InvalidAmount, "amount", "the refund is worth less than one minor unit of the wallet's currency at the payment's rate")
	ErrCancelWindow     = rpcerr.New(rpcerr.CancelWindowClosed, "the cancel window has closed")
	ErrCancelNotAllowed = rpcerr.New(rpcerr.CancelNotAllowed, "the payment cannot be cancelled")
	ErrFenced           = rpcerr.New(rpcerr.Internal, "leadership lost: write fenced off")
)
