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

// Payment statuses. PROCESSING answers U; SUCCEEDED S; FAILED F.
const (
	Processing Status = "PROCESSING"
	Succeeded  Status = "SUCCEEDED"
	Failed     Status = "FAILED"
)

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
	PartnerPaymentID string
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
}

// Outcome is how a payment in PROCESSING ends.
type Outcome struct {
	Status           Status
	NetworkReference string
	FailureReason    rpcerr.Reason
	FailureMessage   string
	LedgerPosted     bool
}

// Store keeps payments. Implemented by *SQLStore.
type Store interface {
	// Insert stores a new payment. If a payment with the same id (and so the
	// same partner key) exists it returns that one and inserted=false.
	Insert(ctx context.Context, p Payment) (stored Payment, inserted bool, err error)
	// Get returns a payment by id, or ErrPaymentNotFound.
	Get(ctx context.Context, id string) (Payment, error)
	// GetByKey returns a partner's payment by its key, or ErrPaymentNotFound.
	GetByKey(ctx context.Context, partnerID, partnerPaymentID string) (Payment, error)
	// Finish moves a PROCESSING payment to its outcome and returns it; a
	// payment already final is returned unchanged.
	Finish(ctx context.Context, id string, o Outcome, at time.Time) (Payment, error)
	// MarkPosted records that succeeded payments' postings reached the ledger.
	MarkPosted(ctx context.Context, ids []string) error
	// Unposted returns up to limit succeeded payments not yet posted.
	Unposted(ctx context.Context, limit int) ([]Payment, error)
}

// ErrPaymentNotFound is returned for an unknown payment.
var ErrPaymentNotFound = rpcerr.New(rpcerr.PaymentNotFound, "payment not found")
