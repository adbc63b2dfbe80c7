package unigate

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
)

// Failure reasons MemoryWallet answers in AuthorizeResponse,
// InquireAuthorizationResponse and RefundUserResponse. They are the
// wallet's own reasons, which Unigate passes on in Payment.failure_reason.
const (
	// The code is not one the wallet issued, or it was used already.
	ReasonInvalidCode = "INVALID_CODE"
	// The user's balance is below the amount.
	ReasonInsufficientFunds = "INSUFFICIENT_FUNDS"
	// The amount is not positive or not in the wallet's currency.
	ReasonInvalidAmount = "INVALID_AMOUNT"
	// The authorization was cancelled (before or after it arrived): the
	// user is not debited.
	ReasonCancelled = "CANCELLED"
	// A refund names a payment the wallet has no successful debit for.
	ReasonPaymentNotFound = "PAYMENT_NOT_FOUND"
	// A refund would take the refunds of a payment above what was paid.
	ReasonRefundExceedsPayment = "REFUND_EXCEEDS_PAYMENT"
)

// MemoryWalletConfig configures a MemoryWallet.
type MemoryWalletConfig struct {
	// Currency is the ISO 4217 code of the wallet's currency; balances
	// and amounts are in its minor units. Required.
	Currency string
	// CodePrefix is the start of the partner's code range, in decimal
	// digits (default "2899").
	CodePrefix string
	// CodeLength is the total length of a payment code (default 18; 8 to
	// 32, with at least 6 random digits after the prefix).
	CodeLength int
}

// MemoryWallet is a complete, in-memory WalletPartner: a reference to read
// when implementing one, and a wallet for tests and simulators. It is safe
// for concurrent use. Nothing is persisted.
//
// The convention for codes: IssueCode(user) returns a fresh numeric
// one-time code (the configured prefix, then random digits up to the
// configured length) that the user shows the merchant; Authorize debits
// that user and consumes the code. user is the wallet's pseudonymous id
// of the user (never a name or phone number); Authorize returns it as
// user_ref.
//
// The rules, each keyed so that every call is idempotent:
//   - Authorize, keyed by payment_id: an unknown or used code is F
//     INVALID_CODE; a balance below the amount is F INSUFFICIENT_FUNDS
//     (the code stays usable); an amount that is not positive or not in
//     the wallet's currency is F INVALID_AMOUNT; otherwise the user is
//     debited and the answer is S. Repeating it returns the same answer
//     without debiting again; repeating the payment_id with another code
//     or amount is refused with REPEAT_REQUEST_INCONSISTENT (ALREADY_EXISTS).
//   - InquireAuthorization returns the recorded answer, naming the user
//     (user_ref) of a successful one as Authorize did, or NOT_FOUND
//     (reason PAYMENT_NOT_FOUND) when the Authorize never arrived.
//   - CancelAuthorization credits back what the debit has not already
//     refunded and answers S; afterwards the authorization reads F
//     CANCELLED (to Authorize repeats and inquiries alike). Cancelling a
//     payment that never arrived records the cancel, so that a late
//     Authorize (and an inquiry) answers F CANCELLED and debits nothing.
//   - RefundUser, keyed by refund_id, credits the user of a successful
//     debit (an Authorize, or an MPM payment told with RecordPayment) up to
//     what was paid; otherwise it answers F.
//
// A request without its id is refused with INVALID_ARGUMENT, naming the
// field. The switches HangNextAuthorizes and AnswerUnknownNextAuthorizes
// simulate a wallet that times out or does not know yet.
type MemoryWallet struct {
	currency   string
	prefix     string
	length     int
	mu         sync.Mutex
	balances   map[string]int64
	codes      map[string]*issuedCode
	debits     map[string]*debit // by payment_id
	refunds    map[string]*refund
	references int
	hangs      []HangMode
	unknowns   int
}

type issuedCode struct {
	user   string
	usedBy string // payment_id of the successful debit that consumed it
}

// debit is the record of one authorization (or MPM payment), by payment_id.
type debit struct {
	// The request, to recognise a repeat: code and amount.
	code   string
	amount int64
	// The answer.
	result         commonv1.Result
	reference      string
	user           string
	failureReason  string
	failureMessage string
	// For a successful debit: what was refunded, and whether it was
	// cancelled (reversed).
	refunded  int64
	cancelled bool
	// arrived is false for a cancel that came before its Authorize.
	arrived bool
}

type refund struct {
	paymentID     string
	amount        int64
	result        commonv1.Result
	reference     string
	failureReason string
}

// HangMode says what a hanging Authorize does before it hangs.
type HangMode int

const (
	// HangBeforeDebit loses the request: nothing is recorded, and an
	// inquiry answers NOT_FOUND.
	HangBeforeDebit HangMode = iota
	// HangAfterDebit loses the answer: the Authorize is processed (the user
	// is debited when it succeeds), and an inquiry answers its outcome.
	HangAfterDebit
)

// NewMemoryWallet returns an empty wallet: no users, no balances.
func NewMemoryWallet(cfg MemoryWalletConfig) (*MemoryWallet, error) {
	if len(cfg.Currency) != 3 || strings.ToUpper(cfg.Currency) != cfg.Currency {
		return nil, fmt.Errorf("unigate: MemoryWallet: currency %q is not an ISO 4217 code", cfg.Currency)
	}
	if cfg.CodePrefix == "" {
		cfg.CodePrefix = "2899"
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = 18
	}
	if !allDigits(cfg.CodePrefix) {
		return nil, fmt.Errorf("unigate: MemoryWallet: code prefix %q is not decimal digits", cfg.CodePrefix)
	}
	if cfg.CodeLength < 8 || cfg.CodeLength > 32 || cfg.CodeLength-len(cfg.CodePrefix) < 6 {
		return nil, fmt.Errorf("unigate: MemoryWallet: code length %d must be 8 to 32 and leave 6 digits after prefix %q",
			cfg.CodeLength, cfg.CodePrefix)
	}
	return &MemoryWallet{
		currency: cfg.Currency, prefix: cfg.CodePrefix, length: cfg.CodeLength,
		balances: map[string]int64{}, codes: map[string]*issuedCode{},
		debits: map[string]*debit{}, refunds: map[string]*refund{},
	}, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Currency returns the wallet's currency.
func (w *MemoryWallet) Currency() string { return w.currency }

// SetBalance sets user's balance, in minor units of the wallet's currency.
func (w *MemoryWallet) SetBalance(user string, minorUnits int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.balances[user] = minorUnits
}

// Balance returns user's balance, in minor units (0 for an unknown user).
func (w *MemoryWallet) Balance(user string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.balances[user]
}

// IssueCode returns a new one-time payment code for user: the configured
// prefix followed by random digits, CodeLength digits in all. The user
// shows it (as a barcode or QR code) to the merchant, whose network sends
// it to Unigate, which calls Authorize with it.
func (w *MemoryWallet) IssueCode(user string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.length - len(w.prefix)
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	for {
		r, err := rand.Int(rand.Reader, limit)
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		code := w.prefix + fmt.Sprintf("%0*s", n, r.String())
		if _, taken := w.codes[code]; !taken {
			w.codes[code] = &issuedCode{user: user}
			return code
		}
	}
}

// RecordPayment records that user paid walletAmount (minor units) for the
// merchant-presented (MPM) payment paymentID, debiting them, so that a
// later RefundUser of that payment credits them. A wallet makes the debit
// around its own Pay call; this is the simulator's version of that.
// Recording the same payment again does nothing.
func (w *MemoryWallet) RecordPayment(paymentID, user string, walletAmount int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.debits[paymentID]; ok {
		if d.user != user || d.amount != walletAmount || d.result != commonv1.Result_RESULT_SUCCESS {
			return ErrRepeatRequestInconsistent
		}
		return nil
	}
	if walletAmount <= 0 {
		return fmt.Errorf("unigate: MemoryWallet.RecordPayment: amount %d is not positive", walletAmount)
	}
	if w.balances[user] < walletAmount {
		return fmt.Errorf("unigate: MemoryWallet.RecordPayment: %s", ReasonInsufficientFunds)
	}
	w.balances[user] -= walletAmount
	w.debits[paymentID] = &debit{amount: walletAmount, result: commonv1.Result_RESULT_SUCCESS,
		reference: w.nextReference("P"), user: user, arrived: true}
	return nil
}

// HangNextAuthorizes makes the next n Authorize calls hang until the
// caller gives up (its deadline passes or it cancels), as a wallet that
// times out; mode says whether each is processed first. n <= 0 turns it
// off.
func (w *MemoryWallet) HangNextAuthorizes(n int, mode HangMode) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hangs = w.hangs[:0]
	for range n {
		w.hangs = append(w.hangs, mode)
	}
}

// AnswerUnknownNextAuthorizes makes the next n Authorize calls that debit
// a user answer U instead of S: the debit happens, the wallet "does not
// know yet", and an inquiry answers S. n <= 0 turns it off.
func (w *MemoryWallet) AnswerUnknownNextAuthorizes(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unknowns = max(0, n)
}

func (w *MemoryWallet) nextReference(kind string) string {
	w.references++
	return fmt.Sprintf("MW%s%08d", kind, w.references)
}

func missing(field string) error {
	return &Error{Code: codes.InvalidArgument, Reason: ErrInvalidArgument.Reason, Field: field, Message: "is required"}
}

// Authorize implements WalletPartner.
func (w *MemoryWallet) Authorize(ctx context.Context, req *partnerv1.AuthorizeRequest) (*partnerv1.AuthorizeResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, missing("payment_id")
	}
	w.mu.Lock()
	hang := len(w.hangs) > 0
	var mode HangMode
	if hang {
		mode, w.hangs = w.hangs[0], w.hangs[1:]
	}
	if hang && mode == HangBeforeDebit {
		w.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	resp, err := w.authorizeLocked(req)
	w.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return resp, err
}

func (w *MemoryWallet) authorizeLocked(req *partnerv1.AuthorizeRequest) (*partnerv1.AuthorizeResponse, error) {
	amount := req.GetWalletAmount()
	if d, ok := w.debits[req.GetPaymentId()]; ok {
		if !d.arrived {
			// Cancelled before it arrived: remember the request, debit nothing.
			d.arrived, d.code, d.amount = true, req.GetCode(), amount.GetMinorUnits()
		} else if d.code != req.GetCode() || d.amount != amount.GetMinorUnits() {
			return nil, &Error{Code: codes.AlreadyExists, Reason: ErrRepeatRequestInconsistent.Reason,
				Message: "payment_id " + req.GetPaymentId() + " was authorized with another code or amount"}
		}
		return d.authorizeResponse(), nil
	}
	d := &debit{code: req.GetCode(), amount: amount.GetMinorUnits(), arrived: true}
	w.debits[req.GetPaymentId()] = d
	ic := w.codes[req.GetCode()]
	switch {
	case amount.GetCurrency() != w.currency || amount.GetMinorUnits() <= 0:
		d.fail(ReasonInvalidAmount, fmt.Sprintf("the amount must be positive and in %s", w.currency))
	case ic == nil:
		d.fail(ReasonInvalidCode, "the code was not issued by this wallet")
	case ic.usedBy != "":
		d.fail(ReasonInvalidCode, "the code was used already")
	case w.balances[ic.user] < amount.GetMinorUnits():
		d.user = ic.user
		d.fail(ReasonInsufficientFunds, "the balance is below the amount")
	default:
		d.user = ic.user
		ic.usedBy = req.GetPaymentId()
		w.balances[ic.user] -= amount.GetMinorUnits()
		d.result = commonv1.Result_RESULT_SUCCESS
		d.reference = w.nextReference("A")
	}
	resp := d.authorizeResponse()
	if d.result == commonv1.Result_RESULT_SUCCESS && w.unknowns > 0 {
		w.unknowns--
		resp.Result, resp.PartnerReference = commonv1.Result_RESULT_UNKNOWN, ""
	}
	return resp, nil
}

func (d *debit) fail(reason, message string) {
	d.result, d.failureReason, d.failureMessage = commonv1.Result_RESULT_FAILURE, reason, message
}

// outcome is the authorization's result as it stands: a cancelled one
// reads F CANCELLED.
func (d *debit) outcome() (commonv1.Result, string, string) {
	if d.cancelled {
		return commonv1.Result_RESULT_FAILURE, ReasonCancelled, "the authorization was cancelled; the user is not debited"
	}
	return d.result, d.failureReason, d.failureMessage
}

func (d *debit) authorizeResponse() *partnerv1.AuthorizeResponse {
	result, reason, message := d.outcome()
	return &partnerv1.AuthorizeResponse{Result: result, PartnerReference: d.reference,
		FailureReason: reason, FailureMessage: message, UserRef: d.user}
}

// InquireAuthorization implements WalletPartner.
func (w *MemoryWallet) InquireAuthorization(_ context.Context, req *partnerv1.InquireAuthorizationRequest) (*partnerv1.InquireAuthorizationResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, missing("payment_id")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.debits[req.GetPaymentId()]
	if !ok {
		return nil, &Error{Code: codes.NotFound, Reason: ErrPaymentNotFound.Reason,
			Message: "no authorization arrived for payment_id " + req.GetPaymentId()}
	}
	result, reason, message := d.outcome()
	resp := &partnerv1.InquireAuthorizationResponse{Result: result, PartnerReference: d.reference,
		FailureReason: reason, FailureMessage: message}
	if result == commonv1.Result_RESULT_SUCCESS {
		// Name the user as Authorize did: when Authorize's answer was lost,
		// Unigate learns from the inquiry whose limits the payment counts
		// against.
		resp.UserRef = d.user
	}
	return resp, nil
}

// CancelAuthorization implements WalletPartner.
func (w *MemoryWallet) CancelAuthorization(_ context.Context, req *partnerv1.CancelAuthorizationRequest) (*partnerv1.CancelAuthorizationResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, missing("payment_id")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.debits[req.GetPaymentId()]
	switch {
	case !ok:
		// Not arrived (yet): make sure a late Authorize debits nothing.
		w.debits[req.GetPaymentId()] = &debit{cancelled: true, result: commonv1.Result_RESULT_FAILURE}
	case d.cancelled:
		// Done before: the same answer.
	case d.result == commonv1.Result_RESULT_SUCCESS:
		w.balances[d.user] += d.amount - d.refunded
		d.cancelled = true
	default:
		// F: nothing was debited. Mark it so a repeat of the Authorize
		// cannot turn into a debit later (it cannot: its answer is recorded).
		d.cancelled = true
	}
	return &partnerv1.CancelAuthorizationResponse{Result: commonv1.Result_RESULT_SUCCESS}, nil
}

// RefundUser implements WalletPartner.
func (w *MemoryWallet) RefundUser(_ context.Context, req *partnerv1.RefundUserRequest) (*partnerv1.RefundUserResponse, error) {
	if req.GetRefundId() == "" {
		return nil, missing("refund_id")
	}
	if req.GetPaymentId() == "" {
		return nil, missing("payment_id")
	}
	amount := req.GetWalletAmount()
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.refunds[req.GetRefundId()]; ok {
		if r.paymentID != req.GetPaymentId() || r.amount != amount.GetMinorUnits() {
			return nil, &Error{Code: codes.AlreadyExists, Reason: ErrRepeatRequestInconsistent.Reason,
				Message: "refund_id " + req.GetRefundId() + " was used with another payment or amount"}
		}
		return r.response(), nil
	}
	r := &refund{paymentID: req.GetPaymentId(), amount: amount.GetMinorUnits(), result: commonv1.Result_RESULT_FAILURE}
	w.refunds[req.GetRefundId()] = r
	d, ok := w.debits[req.GetPaymentId()]
	switch {
	case amount.GetCurrency() != w.currency || amount.GetMinorUnits() <= 0:
		r.failureReason = ReasonInvalidAmount
	case !ok || d.result != commonv1.Result_RESULT_SUCCESS || d.cancelled:
		r.failureReason = ReasonPaymentNotFound
	case d.refunded+amount.GetMinorUnits() > d.amount:
		r.failureReason = ReasonRefundExceedsPayment
	default:
		d.refunded += amount.GetMinorUnits()
		w.balances[d.user] += amount.GetMinorUnits()
		r.result, r.reference = commonv1.Result_RESULT_SUCCESS, w.nextReference("R")
	}
	return r.response(), nil
}

func (r *refund) response() *partnerv1.RefundUserResponse {
	return &partnerv1.RefundUserResponse{Result: r.result, PartnerReference: r.reference, FailureReason: r.failureReason}
}

var _ WalletPartner = (*MemoryWallet)(nil)
