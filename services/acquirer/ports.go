package acquirer

import (
	"context"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Store keeps payments, refunds and events. Every state change is a named
// transition: one conditional statement (with its outbox event, where it
// has one) that applies only from the states it names, and, when given a
// fence, only while that fence is the newest — checked in the same
// serializable transaction. A transition that does not apply returns the
// row as it is and applied=false. Implemented by store.SQLStore; the
// conformance suite in package store checks every transition on SQLite
// and PostgreSQL.
type Store interface {
	// InsertPayment stores a new payment (PROCESSING, NextAttempt set: the
	// resolver owns it unless the request path finishes first); one
	// without a SettlementAmount settles in its wallet's currency, as rows
	// from before settlement currencies read. If the id,
	// or a CPM payment's (network, order id), exists it returns that one
	// and inserted=false.
	InsertPayment(ctx context.Context, p Payment) (stored Payment, inserted bool, err error)
	// Payment returns a payment by id; ErrPaymentNotFound.
	Payment(ctx context.Context, id string) (Payment, error)
	// PaymentByKey returns a partner's payment by its key; ErrPaymentNotFound.
	PaymentByKey(ctx context.Context, partnerID, key string) (Payment, error)
	// PaymentByOrder returns a network's CPM payment by order id; ErrPaymentNotFound.
	PaymentByOrder(ctx context.Context, networkID, orderID string) (Payment, error)

	// MarkSucceeded: PROCESSING without a cancel → SUCCEEDED, credited,
	// unscheduled, owing its posting, with a PAYMENT_SUCCEEDED event.
	MarkSucceeded(ctx context.Context, id, reference, userRef string, at time.Time, f *Fence) (Payment, bool, error)
	// MarkCredited: PROCESSING with a cancel → credited (the money moved
	// after all; the reversal must take it back and the ledger post both).
	MarkCredited(ctx context.Context, id, reference string, at time.Time, f *Fence) (Payment, bool, error)
	// MarkAuthorized: PROCESSING without a cancel → credited, with the
	// partner's reference and the user its authorization named; still
	// PROCESSING and scheduled: a CPM payment whose user risk has yet to
	// name (the resolver names them if the request path does not).
	MarkAuthorized(ctx context.Context, id, reference, userRef string, at time.Time, f *Fence) (Payment, bool, error)
	// RefuseAuthorized: PROCESSING without a cancel, whose money moved but
	// must not stand (risk declined the named user) → credited, cancel
	// requested with reason and message, scheduled at next; a confirmed
	// reversal makes it FAILED with that reason.
	RefuseAuthorized(ctx context.Context, id, reference, userRef string, reason rpcerr.Reason, message string, next, at time.Time, f *Fence) (Payment, bool, error)
	// MarkFailed: PROCESSING, not credited, without a cancel → FAILED,
	// unscheduled, with a PAYMENT_FAILED event. (Money that moved is
	// never just marked failed: it is reversed first.)
	MarkFailed(ctx context.Context, id string, reason rpcerr.Reason, message string, at time.Time, f *Fence) (Payment, bool, error)
	// Reschedule sets the next resolver attempt and counts one attempt, for
	// a PROCESSING payment or a SUCCEEDED one whose cancel is pending.
	Reschedule(ctx context.Context, id string, next, at time.Time, f *Fence) (Payment, bool, error)
	// RequestCancel: PROCESSING or SUCCEEDED, created at or after
	// windowStart, nothing refunded, no cancel yet → cancel requested,
	// scheduled at next.
	RequestCancel(ctx context.Context, id string, windowStart, next, at time.Time) (Payment, bool, error)
	// TimeOut: PROCESSING without a cancel → cancel requested with
	// PAYMENT_TIMED_OUT (the resolver gave up; a confirmed reversal makes
	// it FAILED), scheduled at next.
	TimeOut(ctx context.Context, id, message string, next, at time.Time, f *Fence) (Payment, bool, error)
	// MarkReversed: a cancel-requested PROCESSING or SUCCEEDED payment whose
	// reversal was confirmed → CANCELLED (FAILED if the acquirer itself
	// gave it up: timed out, or refused by risk — it has a failure reason),
	// unscheduled, owing its postings if money had moved, with its event.
	MarkReversed(ctx context.Context, id string, at time.Time, f *Fence) (Payment, bool, error)
	// RefuseCancel: a SUCCEEDED payment's pending cancel is withdrawn (the
	// payment was settled first) and its schedule cleared.
	RefuseCancel(ctx context.Context, id string, at time.Time, f *Fence) (Payment, bool, error)
	// Unschedule clears the schedule of a payment with nothing left to do
	// (final, or SUCCEEDED without a cancel).
	Unschedule(ctx context.Context, id string, at time.Time, f *Fence) (Payment, bool, error)
	// DuePayments returns up to limit payments whose next attempt is due,
	// oldest first, leaving out the ids and downstream endpoints given.
	DuePayments(ctx context.Context, now time.Time, limit int, skipIDs, skipEndpoints []string) ([]Payment, error)

	// Unposted returns up to limit payments owing postings (SUCCEEDED, or
	// CANCELLED), oldest change first, leaving out poisoned ones.
	Unposted(ctx context.Context, limit int) ([]Payment, error)
	// UnpostedRefunds returns up to limit succeeded refunds owing their
	// posting, oldest first, each with its payment (one query).
	UnpostedRefunds(ctx context.Context, limit int) ([]RefundWithPayment, error)
	// MarkPosted records that the postings of payments, as they were (in
	// their status), reached the ledger.
	MarkPosted(ctx context.Context, posted []Payment) error
	// MarkRefundsPosted records that refunds' postings reached the ledger.
	MarkRefundsPosted(ctx context.Context, ids []string) error
	// MarkPostingPoisoned sets aside a payment's (refund=false) or refund's
	// postings that the ledger refuses, with the reason; the poster skips it.
	MarkPostingPoisoned(ctx context.Context, id string, refund bool, reason string) error

	// InsertRefund reserves the refund's amount on its payment (SUCCEEDED,
	// no cancel, enough left) and stores it (PROCESSING, scheduled), pricing
	// it with price (its settlement and cost in the payment's settlement
	// currency), in one transaction. A refund with the same network and
	// request id is returned instead (inserted=false). Errors:
	// ErrPaymentNotFound, ErrNotRefundable, ErrRefundExceeds, ErrRefundTooSmall.
	InsertRefund(ctx context.Context, r Refund, price Pricer) (stored Refund, inserted bool, err error)
	// Refund returns a refund by id; ErrRefundNotFound.
	Refund(ctx context.Context, id string) (Refund, error)
	// RefundByRequest returns a network's refund by request id; ErrRefundNotFound.
	RefundByRequest(ctx context.Context, networkID, requestID string) (Refund, error)
	// MarkRefundSucceeded: PROCESSING → SUCCEEDED, owing its posting, with a
	// REFUND_SUCCEEDED event.
	MarkRefundSucceeded(ctx context.Context, id, reference string, at time.Time, f *Fence) (Refund, bool, error)
	// MarkRefundFailed: PROCESSING → FAILED, its amount given back to the
	// payment, with a REFUND_FAILED event.
	MarkRefundFailed(ctx context.Context, id string, reason rpcerr.Reason, message string, at time.Time, f *Fence) (Refund, bool, error)
	// RescheduleRefund sets a PROCESSING refund's next attempt and counts one.
	RescheduleRefund(ctx context.Context, id string, next, at time.Time, f *Fence) (Refund, bool, error)
	// DueRefunds returns up to limit refunds whose next attempt is due.
	DueRefunds(ctx context.Context, now time.Time, limit int, skipIDs []string) ([]Refund, error)

	// ClaimFence records rev as the newest revision of leader name; false
	// if a newer one is recorded.
	ClaimFence(ctx context.Context, name string, rev int64) (bool, error)
	// SequenceEvents gives unsequenced events their per-partner sequence,
	// oldest first, up to limit, if the fence holds (else ErrFenced). It
	// returns, for each event it sequenced, the traceparent of its payment
	// ("" for an event of no payment, or of an untraced one).
	SequenceEvents(ctx context.Context, f Fence, limit int) ([]string, error)
	// StatementCursor returns how far statements were relayed.
	StatementCursor(ctx context.Context) (int64, error)
	// AddStatementEvents adds events (keyed by id: adding one twice is a
	// no-op) and moves the statement cursor, in one transaction, if the
	// fence holds (else ErrFenced).
	AddStatementEvents(ctx context.Context, f Fence, events []Event, cursor int64) error
	// ListEvents returns a partner's sequenced events after a sequence.
	ListEvents(ctx context.Context, partnerID string, after int64, limit int) ([]Event, error)
}

// RefundWithPayment is a refund and the payment it refunds.
type RefundWithPayment struct {
	Refund  Refund
	Payment Payment
}

// Pricer prices a refund of m merchant minor units of a payment whose
// (merchant, wallet, settlement, cost) amounts are paid, of which
// refunded (refunds not failed) has already been taken: it returns the
// refund's wallet, settlement and cost amounts.
type Pricer func(paid, refunded [4]int64, m int64) (wallet, settlement, cost int64)

// Resolution is a code resolved for a partner.
type Resolution struct {
	Kind            string // a commonv1.CodeKind name
	Merchant        Merchant
	Amount          *money.Amount // the amount in the code, if any
	NetworkEndpoint string
	Partner         Partner
	Warnings        []string
}

// Partner is a wallet partner as the routing table has it.
type Partner struct {
	ID, Currency, Endpoint string
	Disabled               bool
}

// Router is the routing service as the acquirer uses it.
// Fresh marks ctx as a payment's: the code's resolution must come from the
// router itself, not from a cache of its earlier answers (a decode or a
// quote may be answered from one; money moves only on a fresh answer).
func Fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

// IsFresh reports whether ctx was marked by Fresh.
func IsFresh(ctx context.Context) bool { return ctx.Value(freshKey{}) != nil }

type freshKey struct{}

type Router interface {
	// ResolveCode resolves an MPM or URL code for an enabled partner.
	ResolveCode(ctx context.Context, partnerID, code string) (Resolution, error)
	// WalletCodePartner names the partner whose range a wallet code is in;
	// an error with UNSUPPORTED_CODE for anything else.
	WalletCodePartner(ctx context.Context, code string) (string, error)
	// Partner returns an enabled partner (PARTNER_NOT_FOUND, PARTNER_DISABLED).
	Partner(ctx context.Context, id string) (Partner, error)
	// Merchant returns a network's merchant and the network's endpoint.
	Merchant(ctx context.Context, networkID, merchantID string) (Merchant, string, error)
}

// Quote is an FX quote: the merchant receives Merchant, the user pays
// Wallet, and the partner owes Unigate Settlement in its settlement
// currency, of which Cost (in the same currency) buys Merchant at
// Unigate's cost rate and the rest is FX revenue (never negative). A
// partner that settles in its wallet's currency has Settlement == Wallet;
// one that settles in the merchant's currency has Cost == Merchant.
type Quote struct {
	ID                                 string
	Merchant, Wallet, Settlement, Cost money.Amount
	// Rate is wallet units per merchant unit as applied; MidRate the same
	// at mid market; MarkupBps what Rate adds over Unigate's cost.
	Rate, MidRate          string
	MarkupBps              int
	CreateTime, ExpireTime time.Time
	// Legs are the conversions the wallet price was made from: one for a
	// direct pair, two for a cross through a reference currency.
	Legs []RateLeg
}

// RateLeg is one conversion a price was made from: the provider's bid and
// ask for a pair, in Quote units per one Base unit, as Unigate used them.
type RateLeg struct {
	Base, Quote, Provider, Bid, Ask string
	SourceTime                      time.Time
}

// QuoteRequest asks the FX service for a quote. By default the merchant
// amount is fixed and the wallet amount computed (FIX_MERCHANT); with
// Wallet set the user pays exactly *Wallet and the merchant amount is
// computed (FIX_WALLET), Merchant then giving only its currency.
type QuoteRequest struct {
	PartnerID, WalletCurrency string
	// Merchant is the merchant's amount; its currency is always set, and
	// its Minor is 0 when Wallet is set.
	Merchant money.Amount
	// Wallet, when set, is what the user pays, in WalletCurrency.
	Wallet *money.Amount
}

// FX is the FX service as the acquirer uses it. Every Quote it returns has
// Settlement set (the wallet amount for a quote that predates settlement
// currencies) and Cost in Settlement's currency.
type FX interface {
	// CreateQuote prices a payment for a partner (RATE_NOT_AVAILABLE,
	// INVALID_AMOUNT, UNSUPPORTED_CURRENCY).
	CreateQuote(ctx context.Context, req QuoteRequest) (Quote, error)
	// LockQuote consumes a quote for a payment; locking it again for the
	// same payment returns the same lock (QUOTE_NOT_FOUND, QUOTE_EXPIRED,
	// QUOTE_ALREADY_USED, QUOTE_MISMATCH).
	LockQuote(ctx context.Context, quoteID, paymentID, partnerID string, merchant money.Amount) (Quote, error)
}

// Verdict is what a risk decision lets the payment do.
type Verdict int

// Verdicts. The zero value declines: a decision that says nothing lets
// nothing through.
const (
	// Decline: the payment must not move money (or must give it back).
	Decline Verdict = iota
	// Approve: the payment proceeds.
	Approve
	// Review: the payment proceeds exactly as if approved, and risk opens
	// a case for an analyst.
	Review
)

func (v Verdict) String() string {
	switch v {
	case Approve:
		return "approve"
	case Review:
		return "review"
	}
	return "decline"
}

// Proceeds reports whether the payment may go on: approved or in review.
func (v Verdict) Proceeds() bool { return v == Approve || v == Review }

// Decision is a risk decision.
type Decision struct {
	Verdict Verdict
	// Reason is a decline's stable reason (RISK_DECLINED when empty).
	Reason  rpcerr.Reason
	RuleID  string
	Message string
	// ScoreBP is the model's fraud probability in basis points; for logs.
	ScoreBP int
}

// Risk is the risk service as the acquirer uses it.
type Risk interface {
	// Evaluate decides on a recorded payment before it moves money; the
	// same payment evaluated again gets the first decision.
	Evaluate(ctx context.Context, p Payment) (Decision, error)
	// NameUser tells risk which user paid an authorized CPM payment: the
	// amount moves to that user's limits, and a Decline means they would
	// be exceeded (the authorization must be given back). Naming the same
	// user again returns the same decision. ErrNameUserUnsupported when
	// the risk service predates naming.
	NameUser(ctx context.Context, paymentID, userRef string) (Decision, error)
	// Release gives back what a payment that moved no money reserved.
	Release(ctx context.Context, paymentID string) error
}

// LedgerPosting is one posting the acquirer owes the ledger: a payment
// (ReversalID "") or a reversal of (part of) it. The ledger posts the
// partner's debt in Settlement's currency; Cost is in that currency too.
type LedgerPosting struct {
	PaymentID, PartnerID, NetworkID, MerchantID string
	Wallet, Settlement, Cost, Merchant          money.Amount
	ReversalID                                  string
}

// MaxPostings is how many postings the ledger takes in one call.
const MaxPostings = 500

// Ledger is the settlement service as the acquirer uses it.
type Ledger interface {
	// Post writes postings, all or none; each is idempotent.
	Post(ctx context.Context, ps []LedgerPosting) error
	// HoldForCancel keeps a payment out of settlement cycles until its
	// cancel's reversal is posted; held=false (with the cycle) if it was
	// settled already. One atomic decision, owned by the ledger.
	HoldForCancel(ctx context.Context, paymentID string) (held bool, cycleID string, err error)
	// Statements returns statements after a sequence.
	Statements(ctx context.Context, after int64, limit int) ([]Statement, error)
}

// Outcome is a downstream's answer to a call that moves money.
type Outcome struct {
	Result         Result
	Reference      string // the downstream's reference
	UserRef        string // CPM: the partner's pseudonymous user
	FailureReason  string
	FailureMessage string
	// NotReceived: an inquiry found no trace of the request.
	NotReceived bool
}

// Networks reach merchant networks at their endpoints.
type Networks interface {
	Credit(ctx context.Context, endpoint string, p Payment) (Outcome, error)
	InquireCredit(ctx context.Context, endpoint, creditID string) (Outcome, error)
	ReverseCredit(ctx context.Context, endpoint, creditID string) (Outcome, error)
}

// Wallets reach partners' WalletPartnerService at their endpoints.
type Wallets interface {
	Authorize(ctx context.Context, endpoint string, p Payment, code string) (Outcome, error)
	InquireAuthorization(ctx context.Context, endpoint, paymentID string) (Outcome, error)
	CancelAuthorization(ctx context.Context, endpoint, paymentID string) (Outcome, error)
	RefundUser(ctx context.Context, endpoint string, r Refund) (Outcome, error)
}

// StatementEncoder renders a STATEMENT_READY event's body.
type StatementEncoder func(eventID string, st Statement, at time.Time) ([]byte, error)

// Deps are what the domain calls.
type Deps struct {
	Store      Store
	Router     Router
	FX         FX
	Risk       Risk
	Ledger     Ledger
	Networks   Networks
	Wallets    Wallets
	Statements StatementEncoder
}
