package acquirer

import (
	"errors"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Status is where a payment or refund is in its life.
type Status string

// Statuses. PROCESSING answers U; SUCCEEDED S; FAILED and CANCELLED are
// final and moved no money (or gave it back). Refunds use the first three.
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

// Result is the S/F/U answer of a call that moves money.
type Result int

// Results. Unknown is never a failure: the outcome is not known yet.
const (
	Unknown Result = iota
	Success
	Failure
)

// Merchant is a merchant as its network describes it.
type Merchant struct {
	ID, NetworkID, Name, City, MCC, Country, Currency string
}

// Payment is one payment as the acquirer records it.
type Payment struct {
	ID               string
	PartnerID        string
	PartnerPaymentID string // MPM: the partner's key; CPM: derived from the order
	RequestHash      string
	Mode             Mode
	Status           Status
	UserRef          string
	Merchant         Merchant
	MerchantAmount   money.Amount
	WalletAmount     money.Amount
	// SettlementAmount is what the partner owes Unigate for the payment, in
	// its settlement currency, fixed by the quote; CostAmount, in the same
	// currency, is the part of it that buys MerchantAmount, and the rest
	// is FX revenue. A partner that settles in its wallet's currency has
	// SettlementAmount == WalletAmount.
	SettlementAmount money.Amount
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
	NextAttempt     *time.Time // when the resolver looks next; nil: nothing left to do
	PostingError    string     // why the ledger refused this row's postings (poisoned); "" normally
	// DeviceRef is the partner's pseudonymous id of the device the user
	// paid from (MPM, optional; "" when not sent). It goes to risk with
	// the payment and is kept on the row; it is not part of the request
	// hash (see PayInput.hash).
	DeviceRef string
	// TraceParent is the W3C traceparent of the request that created the
	// payment ("" if it was not traced): the resolver and the poster, which
	// finish its work later and elsewhere, continue that trace from it.
	TraceParent string
}

// downstream is the endpoint the resolver calls for p: the merchant
// network for MPM, the partner's wallet for CPM.
func (p Payment) downstream() string {
	if p.Mode == CPM {
		return p.PartnerEndpoint
	}
	return p.NetworkEndpoint
}

// Refund is a refund of (part of) a payment. Its amounts are the
// payment's, priced at the payment's locked rates (see Proportional):
// SettlementAmount and CostAmount are in the payment's settlement currency.
type Refund struct {
	ID               string
	PaymentID        string
	PartnerID        string // the payment's partner, who credits the user
	NetworkID        string
	RequestID        string
	RequestHash      string
	Status           Status // PROCESSING, SUCCEEDED or FAILED
	MerchantAmount   money.Amount
	WalletAmount     money.Amount
	SettlementAmount money.Amount
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

// Event types, named as in the partner API (partnerv1.EventType).
const (
	EventPaymentSucceeded = "EVENT_TYPE_PAYMENT_SUCCEEDED"
	EventPaymentFailed    = "EVENT_TYPE_PAYMENT_FAILED"
	EventPaymentCancelled = "EVENT_TYPE_PAYMENT_CANCELLED"
	EventRefundSucceeded  = "EVENT_TYPE_REFUND_SUCCEEDED"
	EventRefundFailed     = "EVENT_TYPE_REFUND_FAILED"
	EventStatementReady   = "EVENT_TYPE_STATEMENT_READY"
)

// Event is a partner event in the outbox. A payment or refund event names
// its payment or refund and is rendered from its row when delivered (the
// row is final by then, or newer than the event); a statement event
// carries its encoded body.
type Event struct {
	ID        string
	PartnerID string
	Type      string
	PaymentID string
	RefundID  string
	Body      []byte
	Time      time.Time
	Sequence  int64
}

// Fence is a singleton leader's fencing token: a write made with it
// applies only while Revision is the newest claimed for Name.
type Fence struct {
	Name     string
	Revision int64
}

// Statement is a settlement statement, as the relay announces it.
type Statement struct {
	ID, CycleID, PartnerID string
	Sequence               int64
	Cutoff                 time.Time
	Net                    money.Amount
	Postings               int64
}

// Domain errors of the lifecycle.
var (
	ErrPaymentNotFound  = rpcerr.New(rpcerr.PaymentNotFound, "payment not found")
	ErrRefundNotFound   = rpcerr.New(rpcerr.RefundNotFound, "refund not found")
	ErrRefundExceeds    = rpcerr.New(rpcerr.RefundExceedsRemaining, "refund exceeds what remains refundable")
	ErrNotRefundable    = rpcerr.New(rpcerr.PaymentNotRefundable, "only a succeeded payment can be refunded")
	ErrRefundTooSmall   = rpcerr.Field(rpcerr.InvalidAmount, "amount", "the refund is worth less than one minor unit of the wallet's currency at the payment's rate")
	ErrCancelWindow     = rpcerr.New(rpcerr.CancelWindowClosed, "the cancel window has closed")
	ErrCancelNotAllowed = rpcerr.New(rpcerr.CancelNotAllowed, "the payment cannot be cancelled")
	// ErrNameUserUnsupported: the risk service does not implement
	// NameUser (one deployed before it existed). A plain error, matched
	// with errors.Is.
	ErrNameUserUnsupported = errors.New("acquirer: the risk service cannot name users")
	// ErrFenced is a plain error, not an rpcerr one: errors.Is must match it
	// alone, never any other INTERNAL error (the edge still masks it).
	ErrFenced = errors.New("acquirer: leadership lost: write fenced off")
)
