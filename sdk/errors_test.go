package unigate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	unigate "github.com/unigate/unigate/sdk"
)

// TestErrorFromServer sends statuses with and without Unigate's details
// over gRPC and checks what the caller's *Error holds.
func TestErrorFromServer(t *testing.T) {
	otherDomain, _ := status.New(codes.NotFound, "nope").WithDetails(&errdetails.ErrorInfo{Domain: "example.com", Reason: "NOPE"})
	tests := []struct {
		name   string
		status error
		want   unigate.Error
		is     []error
		isNot  []error
	}{
		{name: "ErrorInfo, BadRequest and RetryInfo",
			status: unigateStatus(codes.InvalidArgument, "INVALID_AMOUNT", "amount.minor_units", 2*time.Second, "amount.minor_units: must be positive"),
			want: unigate.Error{Code: codes.InvalidArgument, Reason: "INVALID_AMOUNT", Field: "amount.minor_units",
				Message: "must be positive", RetryAfter: 2 * time.Second},
			is: []error{unigate.ErrInvalidAmount, &unigate.Error{Code: codes.InvalidArgument}}, isNot: []error{unigate.ErrInvalidCode, unigate.ErrOutcomeUnknown}},
		{name: "reason only",
			status: unigateStatus(codes.FailedPrecondition, "QUOTE_EXPIRED", "", 0, "quote q-1 expired at 10:00"),
			want:   unigate.Error{Code: codes.FailedPrecondition, Reason: "QUOTE_EXPIRED", Message: "quote q-1 expired at 10:00"},
			is:     []error{unigate.ErrQuoteExpired}, isNot: []error{unigate.ErrQuoteNotFound, &unigate.Error{Code: codes.NotFound}}},
		{name: "field in ErrorInfo metadata only",
			status: func() error {
				st, _ := status.New(codes.InvalidArgument, "code: is required").WithDetails(&errdetails.ErrorInfo{
					Domain: "unigate", Reason: "INVALID_CODE", Metadata: map[string]string{"field": "code"}})
				return st.Err()
			}(),
			want: unigate.Error{Code: codes.InvalidArgument, Reason: "INVALID_CODE", Field: "code", Message: "is required"},
			is:   []error{unigate.ErrInvalidCode}},
		{name: "another domain's ErrorInfo is not a reason", status: otherDomain.Err(),
			want: unigate.Error{Code: codes.NotFound, Message: "nope"}, is: []error{&unigate.Error{Code: codes.NotFound}}},
		{name: "plain status from a proxy", status: status.Error(codes.PermissionDenied, "forbidden"),
			want: unigate.Error{Code: codes.PermissionDenied, Message: "forbidden"}, isNot: []error{unigate.ErrPartnerDisabled}},
		{name: "plain DEADLINE_EXCEEDED reads as DEADLINE_EXCEEDED", status: status.Error(codes.DeadlineExceeded, "slow"),
			want: unigate.Error{Code: codes.DeadlineExceeded, Reason: "DEADLINE_EXCEEDED", Message: "slow"}, is: []error{unigate.ErrDeadlineExceeded}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, &fakePartner{errs: []error{tc.status}}, unigate.WithRetries(1))
			_, err := c.DecodeCode(context.Background(), &partnerv1.DecodeCodeRequest{Code: "x"})
			var got *unigate.Error
			if !errors.As(err, &got) {
				t.Fatalf("err = %v (%T), want *unigate.Error", err, err)
			}
			if got.Code != tc.want.Code || got.Reason != tc.want.Reason || got.Field != tc.want.Field ||
				got.Message != tc.want.Message || got.RetryAfter != tc.want.RetryAfter {
				t.Errorf("got %+v\nwant %+v", *got, tc.want)
			}
			if unigate.ReasonOf(err) != tc.want.Reason {
				t.Errorf("ReasonOf = %q, want %q", unigate.ReasonOf(err), tc.want.Reason)
			}
			if status.Code(err) != tc.want.Code {
				t.Errorf("status.Code = %v, want %v", status.Code(err), tc.want.Code)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = false", target)
				}
			}
			for _, target := range tc.isNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = true", target)
				}
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	expired := unigateStatus(codes.FailedPrecondition, "QUOTE_EXPIRED", "", 0, "expired")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"raw gRPC status with ErrorInfo", expired, "QUOTE_EXPIRED"},
		{"wrapped raw status", fmt.Errorf("pay: %w", expired), "QUOTE_EXPIRED"},
		{"wrapped *Error", fmt.Errorf("pay: %w", &unigate.Error{Code: codes.NotFound, Reason: "PAYMENT_NOT_FOUND"}), "PAYMENT_NOT_FOUND"},
		{"outcome unknown wraps the last error", &unigate.OutcomeUnknownError{Method: "Pay",
			Err: &unigate.Error{Code: codes.Unavailable, Reason: "DOWNSTREAM_UNAVAILABLE"}}, "DOWNSTREAM_UNAVAILABLE"},
		{"plain status", status.Error(codes.Unavailable, "down"), ""},
		{"context deadline", context.DeadlineExceeded, "DEADLINE_EXCEEDED"},
		{"other error", errors.New("disk full"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := unigate.ReasonOf(tc.err); got != tc.want {
				t.Errorf("ReasonOf(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// TestErrorAsStatus checks that an *Error made by hand (as a WalletPartner
// returns one) round-trips through a gRPC status.
func TestErrorAsStatus(t *testing.T) {
	tests := []*unigate.Error{
		{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT", Field: "payment_id", Message: "is required"},
		{Code: codes.Unavailable, Reason: "DOWNSTREAM_UNAVAILABLE", Message: "core banking down", RetryAfter: time.Second},
		{Code: codes.NotFound, Message: "no reason"},
	}
	for _, in := range tests {
		t.Run(in.Error(), func(t *testing.T) {
			st, ok := status.FromError(fmt.Errorf("wrapped: %w", in))
			if !ok || st.Code() != in.Code {
				t.Fatalf("status %v, want code %v", st, in.Code)
			}
			out := unigate.FromStatus(in.GRPCStatus())
			if out.Code != in.Code || out.Reason != in.Reason || out.Field != in.Field || out.Message != in.Message || out.RetryAfter != in.RetryAfter {
				t.Errorf("round trip: got %+v, want %+v", *out, *in)
			}
		})
	}
	if unigate.FromStatus(nil) != nil || unigate.FromStatus(status.New(codes.OK, "")) != nil {
		t.Error("FromStatus of no error is not nil")
	}
}
