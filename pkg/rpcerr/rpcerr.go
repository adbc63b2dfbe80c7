// Package rpcerr is Unigate's one table from domain errors to gRPC status.
//
// A domain package returns an *Error carrying a stable Reason (or wraps one
// with %w). At the gRPC edge, ToStatus turns any error into a status whose
// code comes from the table below and whose details carry
// google.rpc.ErrorInfo{Reason, Domain: "unigate"} (plus BadRequest for a
// field, RetryInfo where a retry is safe, and any further Details the error
// carries, such as a quota's QuotaFailure). Errors that are not *Error are
// masked as INTERNAL so no internal detail reaches a partner. A service that
// receives such a status from another service turns it back into an *Error
// with FromStatus, so reasons travel unchanged across hops.
package rpcerr

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

// Domain is the ErrorInfo domain of every Unigate error.
const Domain = "unigate"

// Reason is a stable, machine-readable error reason. Partners switch on it;
// never change the meaning of an existing one. docs/errors.md lists them.
type Reason string

// The reasons. Keep this list, the table and docs/errors.md in step.
const (
	InvalidArgument           Reason = "INVALID_ARGUMENT"
	InvalidAmount             Reason = "INVALID_AMOUNT"
	UnsupportedCurrency       Reason = "UNSUPPORTED_CURRENCY"
	InvalidCode               Reason = "INVALID_CODE"
	UnsupportedCode           Reason = "UNSUPPORTED_CODE"
	MerchantNotFound          Reason = "MERCHANT_NOT_FOUND"
	PartnerNotFound           Reason = "PARTNER_NOT_FOUND"
	PartnerDisabled           Reason = "PARTNER_DISABLED"
	Unauthenticated           Reason = "UNAUTHENTICATED"
	PermissionDenied          Reason = "PERMISSION_DENIED"
	SignatureInvalid          Reason = "SIGNATURE_INVALID"
	RequestExpired            Reason = "REQUEST_EXPIRED"
	RequestReplayed           Reason = "REQUEST_REPLAYED"
	RateNotAvailable          Reason = "RATE_NOT_AVAILABLE"
	QuoteNotFound             Reason = "QUOTE_NOT_FOUND"
	QuoteExpired              Reason = "QUOTE_EXPIRED"
	QuoteAlreadyUsed          Reason = "QUOTE_ALREADY_USED"
	QuoteMismatch             Reason = "QUOTE_MISMATCH"
	AmountMismatch            Reason = "AMOUNT_MISMATCH"
	PaymentNotFound           Reason = "PAYMENT_NOT_FOUND"
	RefundNotFound            Reason = "REFUND_NOT_FOUND"
	StatementNotFound         Reason = "STATEMENT_NOT_FOUND"
	RefundExceedsRemaining    Reason = "REFUND_EXCEEDS_REMAINING"
	PaymentNotRefundable      Reason = "PAYMENT_NOT_REFUNDABLE"
	CancelWindowClosed        Reason = "CANCEL_WINDOW_CLOSED"
	CutoffOutOfOrder          Reason = "CUTOFF_OUT_OF_ORDER"
	ReconciliationFileInvalid Reason = "RECONCILIATION_FILE_INVALID"
	BreakNotFound             Reason = "BREAK_NOT_FOUND"
	CaseNotFound              Reason = "CASE_NOT_FOUND"
	CaseResolved              Reason = "CASE_RESOLVED"
	RiskRulesInvalid          Reason = "RISK_RULES_INVALID"
	RiskDecisionNotFound      Reason = "RISK_DECISION_NOT_FOUND"
	RiskModelInvalid          Reason = "RISK_MODEL_INVALID"
	CancelNotAllowed          Reason = "CANCEL_NOT_ALLOWED"
	UnknownCodeRange          Reason = "UNKNOWN_CODE_RANGE"
	PaymentTimedOut           Reason = "PAYMENT_TIMED_OUT"
	WalletDeclined            Reason = "WALLET_DECLINED"
	RepeatRequestInconsistent Reason = "REPEAT_REQUEST_INCONSISTENT"
	RiskDeclined              Reason = "RISK_DECLINED"
	RiskLimitExceeded         Reason = "RISK_LIMIT_EXCEEDED"
	RiskBlocked               Reason = "RISK_BLOCKED"
	MerchantCreditFailed      Reason = "MERCHANT_CREDIT_FAILED"
	UnbalancedPosting         Reason = "UNBALANCED_POSTING"
	PostingConflict           Reason = "POSTING_CONFLICT"
	DownstreamUnavailable     Reason = "DOWNSTREAM_UNAVAILABLE"
	DeadlineExceeded          Reason = "DEADLINE_EXCEEDED"
	QuotaExceeded             Reason = "QUOTA_EXCEEDED"
	Internal                  Reason = "INTERNAL"
)

// entry is one row of the table.
type entry struct {
	code codes.Code
	// retryAfter > 0 marks a reason where retrying the same request is safe.
	retryAfter time.Duration
}

// table maps every reason to its gRPC code. It is the only such mapping.
var table = map[Reason]entry{
	InvalidArgument:           {code: codes.InvalidArgument},
	InvalidAmount:             {code: codes.InvalidArgument},
	UnsupportedCurrency:       {code: codes.InvalidArgument},
	InvalidCode:               {code: codes.InvalidArgument},
	UnsupportedCode:           {code: codes.InvalidArgument},
	MerchantNotFound:          {code: codes.NotFound},
	PartnerNotFound:           {code: codes.NotFound},
	PartnerDisabled:           {code: codes.PermissionDenied},
	Unauthenticated:           {code: codes.Unauthenticated},
	PermissionDenied:          {code: codes.PermissionDenied},
	SignatureInvalid:          {code: codes.Unauthenticated},
	RequestExpired:            {code: codes.FailedPrecondition},
	RequestReplayed:           {code: codes.AlreadyExists},
	RateNotAvailable:          {code: codes.FailedPrecondition},
	QuoteNotFound:             {code: codes.NotFound},
	QuoteExpired:              {code: codes.FailedPrecondition},
	CutoffOutOfOrder:          {code: codes.FailedPrecondition},
	ReconciliationFileInvalid: {code: codes.InvalidArgument},
	BreakNotFound:             {code: codes.NotFound},
	CaseNotFound:              {code: codes.NotFound},
	CaseResolved:              {code: codes.FailedPrecondition},
	RiskRulesInvalid:          {code: codes.InvalidArgument},
	RiskDecisionNotFound:      {code: codes.NotFound},
	RiskModelInvalid:          {code: codes.InvalidArgument},
	QuoteAlreadyUsed:          {code: codes.FailedPrecondition},
	QuoteMismatch:             {code: codes.FailedPrecondition},
	AmountMismatch:            {code: codes.InvalidArgument},
	PaymentNotFound:           {code: codes.NotFound},
	RefundNotFound:            {code: codes.NotFound},
	StatementNotFound:         {code: codes.NotFound},
	RefundExceedsRemaining:    {code: codes.FailedPrecondition},
	PaymentNotRefundable:      {code: codes.FailedPrecondition},
	CancelWindowClosed:        {code: codes.FailedPrecondition},
	CancelNotAllowed:          {code: codes.FailedPrecondition},
	UnknownCodeRange:          {code: codes.NotFound},
	PaymentTimedOut:           {code: codes.FailedPrecondition},
	WalletDeclined:            {code: codes.FailedPrecondition},
	RepeatRequestInconsistent: {code: codes.AlreadyExists},
	RiskDeclined:              {code: codes.FailedPrecondition},
	RiskLimitExceeded:         {code: codes.FailedPrecondition},
	RiskBlocked:               {code: codes.FailedPrecondition},
	MerchantCreditFailed:      {code: codes.FailedPrecondition},
	UnbalancedPosting:         {code: codes.Internal},
	PostingConflict:           {code: codes.AlreadyExists},
	DownstreamUnavailable:     {code: codes.Unavailable, retryAfter: time.Second},
	DeadlineExceeded:          {code: codes.DeadlineExceeded, retryAfter: time.Second},
	QuotaExceeded:             {code: codes.ResourceExhausted, retryAfter: 100 * time.Millisecond},
	Internal:                  {code: codes.Internal},
}

// Code returns the gRPC code of reason r (Internal for an unknown reason).
func (r Reason) Code() codes.Code {
	if e, ok := table[r]; ok {
		return e.code
	}
	return codes.Internal
}

// Reasons returns every reason in the table, for the catalogue test.
func Reasons() []Reason {
	out := make([]Reason, 0, len(table))
	for r := range table {
		out = append(out, r)
	}
	return out
}

// Error is a domain error with a stable reason.
type Error struct {
	Reason  Reason
	Message string
	// Field names the request field at fault, for InvalidArgument-class
	// reasons ("amount.minor_units").
	Field string
	// RetryAfter, if positive, replaces the table's delay in RetryInfo
	// when the error knows better (a rate limit knows when its next token
	// comes). It is ignored for a reason the table does not mark
	// retryable: the table alone says whether a retry is safe.
	RetryAfter time.Duration
	// Details are further google.rpc details (QuotaFailure, ...) appended
	// after ErrorInfo, BadRequest and RetryInfo. FromStatus does not
	// restore them, nor RetryAfter: a service that passes on another
	// service's error re-emits only its reason, so one hop's details (a
	// quota's subject) do not reach the next caller.
	Details []protoadapt.MessageV1
}

// New returns an error with reason r.
func New(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// Field returns an error about one request field.
func Field(r Reason, field, format string, args ...any) *Error {
	return &Error{Reason: r, Field: field, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Message)
}

// Is matches another *Error with the same reason, so sentinels declared
// with New compare with errors.Is whatever their message.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Reason == e.Reason
}

// GRPCStatus lets grpc-go and status.FromError see the error's status.
func (e *Error) GRPCStatus() *status.Status {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + e.Message
	}
	st := status.New(e.Reason.Code(), msg)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{
		Reason:   string(e.Reason),
		Domain:   Domain,
		Metadata: fieldMetadata(e.Field),
	}}
	if e.Field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
			Field: e.Field, Description: e.Message, Reason: string(e.Reason),
		}}})
	}
	if d := table[e.Reason].retryAfter; d > 0 {
		if e.RetryAfter > 0 {
			d = e.RetryAfter
		}
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	}
	details = append(details, e.Details...)
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	return st
}

func fieldMetadata(field string) map[string]string {
	if field == "" {
		return nil
	}
	return map[string]string{"field": field}
}

// ReasonOf returns the reason of err: an *Error's own, the one carried in a
// gRPC status's ErrorInfo, DEADLINE_EXCEEDED for a context deadline, or
// INTERNAL.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return FromStatus(err).Reason
}

// ToStatus converts any error into the status a caller sees. Errors
// without a reason are masked: the caller learns only INTERNAL.
func ToStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Reason == Internal {
			// Its message is for our logs (the caller's server logs it).
			return New(Internal, "internal error").GRPCStatus()
		}
		return e.GRPCStatus()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return New(DeadlineExceeded, "deadline exceeded").GRPCStatus()
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "canceled")
	}
	if st, ok := status.FromError(err); ok {
		// A status that carries our ErrorInfo keeps its reason. A status a
		// handler made on purpose (status.Error with a definite code, as a
		// merchant network's API does) keeps its code and message. Unknown
		// and Internal statuses are masked like any other error.
		if fe := FromStatus(err); fe.Reason != Internal {
			return fe.GRPCStatus()
		}
		if c := st.Code(); c != codes.Unknown && c != codes.Internal {
			return st
		}
	}
	return New(Internal, "internal error").GRPCStatus()
}

// FromStatus turns a status received from another Unigate service back
// into an *Error. Transport failures become DOWNSTREAM_UNAVAILABLE or
// DEADLINE_EXCEEDED; anything else without our ErrorInfo is INTERNAL.
func FromStatus(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return New(DeadlineExceeded, "%v", err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return New(Internal, "%v", err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			out := &Error{Reason: Reason(info.GetReason()), Message: st.Message(), Field: info.GetMetadata()["field"]}
			if out.Field != "" {
				// The message was prefixed with the field by GRPCStatus.
				if m, found := strings.CutPrefix(out.Message, out.Field+": "); found {
					out.Message = m
				}
			}
			return out
		}
	}
	// A transport failure's message names hosts and ports of the inside:
	// it never travels on.
	switch st.Code() {
	case codes.Unavailable:
		return New(DownstreamUnavailable, "a service this call depends on is unavailable; retry later")
	case codes.DeadlineExceeded:
		return New(DeadlineExceeded, "a service this call depends on did not answer in time")
	}
	return New(Internal, "%s: %s", st.Code(), st.Message())
}
