package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEveryReasonRoundTrips(t *testing.T) {
	for _, r := range Reasons() {
		t.Run(string(r), func(t *testing.T) {
			err := Field(r, "amount.minor_units", "went wrong")
			st := ToStatus(fmt.Errorf("wrapped: %w", err))
			if st.Code() != r.Code() {
				t.Fatalf("code %v, want %v", st.Code(), r.Code())
			}
			back := FromStatus(st.Err())
			if r == Internal { // masked: only the reason travels
				if back.Reason != r || back.Message != "internal error" {
					t.Fatalf("FromStatus = %+v", back)
				}
				return
			}
			if back.Reason != r || back.Field != "amount.minor_units" || back.Message != "went wrong" {
				t.Fatalf("FromStatus = %+v", back)
			}
			if !errors.Is(back, New(r, "any message")) {
				t.Fatal("errors.Is does not match by reason")
			}
		})
	}
}

func TestDetails(t *testing.T) {
	st := ToStatus(Field(InvalidAmount, "amount", "must be positive"))
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		case *errdetails.RetryInfo:
			t.Fatal("RetryInfo on a non-retryable reason")
		}
	}
	if info.GetReason() != "INVALID_AMOUNT" || info.GetDomain() != Domain || info.GetMetadata()["field"] != "amount" {
		t.Fatalf("ErrorInfo = %v", info)
	}
	if bad.GetFieldViolations()[0].GetField() != "amount" {
		t.Fatalf("BadRequest = %v", bad)
	}
	retry := ToStatus(New(DownstreamUnavailable, "x"))
	found := false
	for _, d := range retry.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			found = true
		}
	}
	if !found || retry.Code() != codes.Unavailable {
		t.Fatalf("DOWNSTREAM_UNAVAILABLE: code %v, RetryInfo %v", retry.Code(), found)
	}
}

func TestMasking(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"plain error is masked", errors.New("pq: password authentication failed for user secret"), codes.Internal, "internal error"},
		{"internal status is masked", status.Error(codes.Internal, "stack trace here"), codes.Internal, "internal error"},
		{"deliberate status keeps its code", status.Error(codes.NotFound, "no merchant"), codes.NotFound, "no merchant"},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := ToStatus(tc.err)
			if st.Code() != tc.code || st.Message() != tc.msg {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}
	if e := FromStatus(status.Error(codes.Unavailable, "dial tcp 127.0.0.9:7001: connect: connection refused")); strings.Contains(e.Message, "127.0.0.9") || strings.Contains(e.Message, "7001") {
		t.Fatalf("an internal address travels on: %q", e.Message)
	}
	if st := ToStatus(New(Internal, "pq: relation acq_payments at 127.0.0.9 is on fire")); st.Message() != "internal error" {
		t.Fatalf("an internal error's message travels on: %q", st.Message())
	}
	if ReasonOf(status.Error(codes.Unavailable, "conn refused")) != DownstreamUnavailable {
		t.Fatal("Unavailable without ErrorInfo is not DOWNSTREAM_UNAVAILABLE")
	}
}

// TestCatalogue keeps docs/errors.md in step with the table.
func TestCatalogue(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Reasons() {
		row := fmt.Sprintf("| `%s` | `%s` |", r, codeName(r.Code()))
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/errors.md lacks the row starting %q", row)
		}
	}
}

// codeName spells a code as the docs do: "ResourceExhausted" is
// RESOURCE_EXHAUSTED.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
