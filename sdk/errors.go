package unigate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the google.rpc.ErrorInfo domain of every Unigate error.
const Domain = "unigate"

// Error is an error answered by Unigate (or by the transport on the way):
// a gRPC status read into its parts. Every Client method returns its
// errors as *Error, except that Pay and CancelPayment wrap one in an
// [*OutcomeUnknownError] when the outcome cannot be known.
//
// Compare errors with errors.Is and the sentinels below, which match by
// Reason whatever the message: errors.Is(err, unigate.ErrQuoteExpired).
//
// A WalletPartner implementation may also return an *Error: it reaches
// Unigate as a status with the same details.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the stable reason from google.rpc.ErrorInfo (domain
	// "unigate"), one of those in docs/errors.md. It is empty when the
	// status did not come from Unigate (a broken connection, a proxy, the
	// caller's own context), except that a DeadlineExceeded status always
	// has reason DEADLINE_EXCEEDED. Switch on Code then.
	Reason string
	// Field is the path of the request field at fault ("amount.minor_units"),
	// from google.rpc.BadRequest or ErrorInfo.metadata["field"].
	Field string
	// Message is for people; never switch on it.
	Message string
	// RetryAfter is google.rpc.RetryInfo.retry_delay: present (> 0) only
	// where repeating the same request is safe.
	RetryAfter time.Duration

	st *status.Status // the status as received, if any
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("unigate: ")
	if e.Reason != "" {
		b.WriteString(e.Reason)
	} else {
		b.WriteString(e.Code.String())
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is an *Error with the same Reason. A target
// with no Reason matches by Code, so &Error{Code: codes.NotFound} matches
// every NOT_FOUND.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil {
		return false
	}
	if t.Reason != "" {
		return e.Reason == t.Reason
	}
	return t.Code != codes.OK && e.Code == t.Code
}

// GRPCStatus returns the error as a gRPC status, so that status.Code(err)
// works and a WalletPartner can return an *Error from a handler: the status
// carries ErrorInfo{domain "unigate", reason}, BadRequest for Field and
// RetryInfo for RetryAfter.
func (e *Error) GRPCStatus() *status.Status {
	if e.st != nil {
		return e.st
	}
	code := e.Code
	if code == codes.OK {
		code = codes.Unknown
	}
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	st := status.New(code, msg)
	var details []protoadapt.MessageV1
	if e.Reason != "" {
		info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain}
		if e.Field != "" {
			info.Metadata = map[string]string{"field": e.Field}
		}
		details = append(details, info)
	}
	if e.Field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
			Field: e.Field, Description: e.Message, Reason: e.Reason,
		}}})
	}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if len(details) > 0 {
		if withDetails, err := st.WithDetails(details...); err == nil {
			return withDetails
		}
	}
	return st
}

// FromStatus reads a gRPC status into an *Error: the ErrorInfo reason (of
// domain "unigate"), the BadRequest field and the RetryInfo delay. It
// returns nil for a nil or OK status.
func FromStatus(st *status.Status) *Error {
	if st == nil || st.Code() == codes.OK {
		return nil
	}
	e := &Error{Code: st.Code(), Message: st.Message(), st: st}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == Domain && e.Reason == "" {
				e.Reason = d.GetReason()
				if f := d.GetMetadata()["field"]; f != "" && e.Field == "" {
					e.Field = f
				}
			}
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 {
				e.Field = v[0].GetField()
			}
		case *errdetails.RetryInfo:
			if d.GetRetryDelay() != nil {
				e.RetryAfter = d.GetRetryDelay().AsDuration()
			}
		}
	}
	if e.Reason == "" && e.Code == codes.DeadlineExceeded {
		e.Reason = ErrDeadlineExceeded.Reason
	}
	if e.Field != "" {
		// Unigate prefixes the message with the field.
		e.Message = strings.TrimPrefix(e.Message, e.Field+": ")
	}
	return e
}

// asError turns any error from a gRPC call into an *Error.
func asError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if st, ok := status.FromError(err); ok {
		return FromStatus(st)
	}
	return FromStatus(status.FromContextError(err))
}

// ReasonOf returns the Unigate reason carried by err: from an *Error
// anywhere in its chain or from a gRPC status's ErrorInfo. It returns ""
// for nil and for errors that carry no reason.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if st, ok := status.FromError(err); ok {
		if e := FromStatus(st); e != nil {
			return e.Reason
		}
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrDeadlineExceeded.Reason
	}
	return ""
}

// ErrOutcomeUnknown matches (with errors.Is) the error that Pay and
// CancelPayment return when they cannot know whether Unigate acted: the
// connection broke or the deadline passed, and retrying with the same key
// did not settle it. It is never a failure. Inquire with
// GetPaymentByPartnerKey using the key in the [*OutcomeUnknownError] (or
// repeat the call with the same key); never pay again with a new key.
var ErrOutcomeUnknown = errors.New("unigate: outcome unknown")

// OutcomeUnknownError is the error behind [ErrOutcomeUnknown]. Get it with
// errors.As to learn the key to inquire with.
type OutcomeUnknownError struct {
	// Method is "Pay" or "CancelPayment".
	Method string
	// PartnerPaymentID is the payment's idempotency key (for Pay, the one
	// the client generated when the request had none). Empty for a
	// CancelPayment by Unigate payment id.
	PartnerPaymentID string
	// PaymentID is Unigate's payment id, for CancelPayment by payment id.
	PaymentID string
	// Attempts is how many times the call was sent.
	Attempts int
	// Err is the last error seen.
	Err *Error
}

func (e *OutcomeUnknownError) Error() string {
	id := "partner_payment_id " + e.PartnerPaymentID
	if e.PartnerPaymentID == "" {
		id = "payment_id " + e.PaymentID
	}
	return fmt.Sprintf("unigate: %s outcome unknown for %s after %d attempt(s): inquire with the same key, never pay with a new one: %v",
		e.Method, id, e.Attempts, e.Err)
}

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// Unwrap returns the last error seen.
func (e *OutcomeUnknownError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// The reasons of docs/errors.md, one sentinel each and in its order, for
// errors.Is. They match any *Error with the same Reason; Code is the code
// Unigate answers with. Reasons marked "payment" there (RISK_*,
// PAYMENT_TIMED_OUT, WALLET_DECLINED, MERCHANT_CREDIT_FAILED) mostly
// arrive as Payment.failure_reason of an F payment rather than as errors:
// compare that string with the sentinel's Reason. Do not modify them.
var (
	ErrInvalidArgument           = &Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT"}
	ErrInvalidAmount             = &Error{Code: codes.InvalidArgument, Reason: "INVALID_AMOUNT"}
	ErrUnsupportedCurrency       = &Error{Code: codes.InvalidArgument, Reason: "UNSUPPORTED_CURRENCY"}
	ErrInvalidCode               = &Error{Code: codes.InvalidArgument, Reason: "INVALID_CODE"}
	ErrUnsupportedCode           = &Error{Code: codes.InvalidArgument, Reason: "UNSUPPORTED_CODE"}
	ErrMerchantNotFound          = &Error{Code: codes.NotFound, Reason: "MERCHANT_NOT_FOUND"}
	ErrPartnerNotFound           = &Error{Code: codes.NotFound, Reason: "PARTNER_NOT_FOUND"}
	ErrPartnerDisabled           = &Error{Code: codes.PermissionDenied, Reason: "PARTNER_DISABLED"}
	ErrUnauthenticated           = &Error{Code: codes.Unauthenticated, Reason: "UNAUTHENTICATED"}
	ErrPermissionDenied          = &Error{Code: codes.PermissionDenied, Reason: "PERMISSION_DENIED"}
	ErrSignatureInvalid          = &Error{Code: codes.Unauthenticated, Reason: "SIGNATURE_INVALID"}
	ErrRequestExpired            = &Error{Code: codes.FailedPrecondition, Reason: "REQUEST_EXPIRED"}
	ErrRequestReplayed           = &Error{Code: codes.AlreadyExists, Reason: "REQUEST_REPLAYED"}
	ErrRateNotAvailable          = &Error{Code: codes.FailedPrecondition, Reason: "RATE_NOT_AVAILABLE"}
	ErrQuoteNotFound             = &Error{Code: codes.NotFound, Reason: "QUOTE_NOT_FOUND"}
	ErrQuoteExpired              = &Error{Code: codes.FailedPrecondition, Reason: "QUOTE_EXPIRED"}
	ErrQuoteAlreadyUsed          = &Error{Code: codes.FailedPrecondition, Reason: "QUOTE_ALREADY_USED"}
	ErrQuoteMismatch             = &Error{Code: codes.FailedPrecondition, Reason: "QUOTE_MISMATCH"}
	ErrAmountMismatch            = &Error{Code: codes.InvalidArgument, Reason: "AMOUNT_MISMATCH"}
	ErrPaymentNotFound           = &Error{Code: codes.NotFound, Reason: "PAYMENT_NOT_FOUND"}
	ErrRefundNotFound            = &Error{Code: codes.NotFound, Reason: "REFUND_NOT_FOUND"}
	ErrStatementNotFound         = &Error{Code: codes.NotFound, Reason: "STATEMENT_NOT_FOUND"}
	ErrCutoffOutOfOrder          = &Error{Code: codes.FailedPrecondition, Reason: "CUTOFF_OUT_OF_ORDER"}
	ErrReconciliationFileInvalid = &Error{Code: codes.InvalidArgument, Reason: "RECONCILIATION_FILE_INVALID"}
	ErrBreakNotFound             = &Error{Code: codes.NotFound, Reason: "BREAK_NOT_FOUND"}
	ErrCaseNotFound              = &Error{Code: codes.NotFound, Reason: "CASE_NOT_FOUND"}
	ErrCaseResolved              = &Error{Code: codes.FailedPrecondition, Reason: "CASE_RESOLVED"}
	ErrRiskRulesInvalid          = &Error{Code: codes.InvalidArgument, Reason: "RISK_RULES_INVALID"}
	ErrRiskDecisionNotFound      = &Error{Code: codes.NotFound, Reason: "RISK_DECISION_NOT_FOUND"}
	ErrRiskModelInvalid          = &Error{Code: codes.InvalidArgument, Reason: "RISK_MODEL_INVALID"}
	ErrRefundExceedsRemaining    = &Error{Code: codes.FailedPrecondition, Reason: "REFUND_EXCEEDS_REMAINING"}
	ErrPaymentNotRefundable      = &Error{Code: codes.FailedPrecondition, Reason: "PAYMENT_NOT_REFUNDABLE"}
	ErrCancelWindowClosed        = &Error{Code: codes.FailedPrecondition, Reason: "CANCEL_WINDOW_CLOSED"}
	ErrCancelNotAllowed          = &Error{Code: codes.FailedPrecondition, Reason: "CANCEL_NOT_ALLOWED"}
	ErrUnknownCodeRange          = &Error{Code: codes.NotFound, Reason: "UNKNOWN_CODE_RANGE"}
	ErrRepeatRequestInconsistent = &Error{Code: codes.AlreadyExists, Reason: "REPEAT_REQUEST_INCONSISTENT"}
	ErrQuotaExceeded             = &Error{Code: codes.ResourceExhausted, Reason: "QUOTA_EXCEEDED"}
	ErrRiskDeclined              = &Error{Code: codes.FailedPrecondition, Reason: "RISK_DECLINED"}
	ErrRiskLimitExceeded         = &Error{Code: codes.FailedPrecondition, Reason: "RISK_LIMIT_EXCEEDED"}
	ErrRiskBlocked               = &Error{Code: codes.FailedPrecondition, Reason: "RISK_BLOCKED"}
	ErrPaymentTimedOut           = &Error{Code: codes.FailedPrecondition, Reason: "PAYMENT_TIMED_OUT"}
	ErrWalletDeclined            = &Error{Code: codes.FailedPrecondition, Reason: "WALLET_DECLINED"}
	ErrMerchantCreditFailed      = &Error{Code: codes.FailedPrecondition, Reason: "MERCHANT_CREDIT_FAILED"}
	ErrUnbalancedPosting         = &Error{Code: codes.Internal, Reason: "UNBALANCED_POSTING"}
	ErrPostingConflict           = &Error{Code: codes.AlreadyExists, Reason: "POSTING_CONFLICT"}
	ErrDownstreamUnavailable     = &Error{Code: codes.Unavailable, Reason: "DOWNSTREAM_UNAVAILABLE"}
	ErrDeadlineExceeded          = &Error{Code: codes.DeadlineExceeded, Reason: "DEADLINE_EXCEEDED"}
	ErrInternal                  = &Error{Code: codes.Internal, Reason: "INTERNAL"}
)

// sentinels lists every reason sentinel, in the order of docs/errors.md.
var sentinels = []*Error{
	ErrInvalidArgument, ErrInvalidAmount, ErrUnsupportedCurrency, ErrInvalidCode, ErrUnsupportedCode,
	ErrMerchantNotFound, ErrPartnerNotFound, ErrPartnerDisabled, ErrUnauthenticated, ErrPermissionDenied,
	ErrSignatureInvalid, ErrRequestExpired, ErrRequestReplayed, ErrRateNotAvailable,
	ErrQuoteNotFound, ErrQuoteExpired, ErrQuoteAlreadyUsed, ErrQuoteMismatch, ErrAmountMismatch,
	ErrPaymentNotFound, ErrRefundNotFound, ErrStatementNotFound, ErrCutoffOutOfOrder, ErrReconciliationFileInvalid, ErrBreakNotFound, ErrCaseNotFound, ErrCaseResolved, ErrRiskRulesInvalid, ErrRiskDecisionNotFound, ErrRiskModelInvalid, ErrRefundExceedsRemaining, ErrPaymentNotRefundable,
	ErrCancelWindowClosed, ErrCancelNotAllowed, ErrUnknownCodeRange, ErrRepeatRequestInconsistent, ErrQuotaExceeded,
	ErrRiskDeclined, ErrRiskLimitExceeded, ErrRiskBlocked, ErrPaymentTimedOut, ErrWalletDeclined,
	ErrMerchantCreditFailed, ErrUnbalancedPosting, ErrPostingConflict, ErrDownstreamUnavailable,
	ErrDeadlineExceeded, ErrInternal,
}
