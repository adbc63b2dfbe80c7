package rpcerr

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// statusDetails returns the RetryInfo delay (-1 without one) and the
// QuotaFailure of st, and fails unless ErrorInfo comes first.
func statusDetails(t *testing.T, st *status.Status) (time.Duration, *errdetails.QuotaFailure) {
	t.Helper()
	ds := st.Details()
	if len(ds) == 0 {
		t.Fatal("no details")
	}
	if _, ok := ds[0].(*errdetails.ErrorInfo); !ok {
		t.Fatalf("first detail is %T, want ErrorInfo", ds[0])
	}
	retry := time.Duration(-1)
	var quota *errdetails.QuotaFailure
	for _, d := range ds {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		case *errdetails.QuotaFailure:
			quota = d
		}
	}
	return retry, quota
}

func TestRetryAfterAndExtraDetails(t *testing.T) {
	qf := &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "partner:x", Description: "rate"}}}
	for _, tc := range []struct {
		name      string
		err       *Error
		code      codes.Code
		retry     time.Duration
		wantQuota bool
	}{
		{"table delay", New(QuotaExceeded, "over"), codes.ResourceExhausted, 100 * time.Millisecond, false},
		{"override and detail", &Error{Reason: QuotaExceeded, Message: "over", RetryAfter: 250 * time.Millisecond,
			Details: []protoadapt.MessageV1{qf}}, codes.ResourceExhausted, 250 * time.Millisecond, true},
		{"no retry where the table says none", &Error{Reason: InvalidArgument, Message: "bad", RetryAfter: time.Second},
			codes.InvalidArgument, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through ToStatus, wrapped, as the server's error mapping sees it.
			st := ToStatus(fmt.Errorf("wrapped: %w", tc.err))
			if st.Code() != tc.code {
				t.Fatalf("code %v, want %v", st.Code(), tc.code)
			}
			retry, quota := statusDetails(t, st)
			if retry != tc.retry {
				t.Fatalf("RetryInfo %v, want %v", retry, tc.retry)
			}
			if got := quota.GetViolations(); tc.wantQuota != (len(got) == 1 && got[0].GetSubject() == "partner:x") {
				t.Fatalf("QuotaFailure = %v, want it: %v", quota, tc.wantQuota)
			}
		})
	}
}

// TestNextHopGetsReasonOnly: a service passing on another's error keeps
// the reason but not the details of that hop.
func TestNextHopGetsReasonOnly(t *testing.T) {
	qf := &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "service:router", Description: "rate"}}}
	first := &Error{Reason: QuotaExceeded, Message: "over", RetryAfter: 3 * time.Second, Details: []protoadapt.MessageV1{qf}}
	back := FromStatus(first.GRPCStatus().Err())
	if back.Reason != QuotaExceeded || back.RetryAfter != 0 || back.Details != nil {
		t.Fatalf("FromStatus = %+v", back)
	}
	retry, quota := statusDetails(t, ToStatus(back))
	if retry != 100*time.Millisecond || quota != nil {
		t.Fatalf("next hop: RetryInfo %v, QuotaFailure %v", retry, quota)
	}
}
