package unigate_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	unigate "github.com/unigate/unigate/sdk"
)

const (
	S = commonv1.Result_RESULT_SUCCESS
	F = commonv1.Result_RESULT_FAILURE
	U = commonv1.Result_RESULT_UNKNOWN
)

// walletEnv is a MemoryWallet served by ServeWalletPartner on loopback,
// and the client Unigate would use to call it.
type walletEnv struct {
	w      *unigate.MemoryWallet
	c      partnerv1.WalletPartnerServiceClient
	health healthpb.HealthClient
	addr   string
}

// serveWallet serves impl (a fresh MNT MemoryWallet if nil) and stops it
// when the test ends, checking ServeWalletPartner returned nil.
func serveWallet(t *testing.T, impl unigate.WalletPartner) walletEnv {
	t.Helper()
	w, _ := impl.(*unigate.MemoryWallet)
	if impl == nil {
		var err error
		if w, err = unigate.NewMemoryWallet(unigate.MemoryWalletConfig{Currency: "MNT"}); err != nil {
			t.Fatal(err)
		}
		impl = w
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- unigate.ServeWalletPartner(ctx, lis, impl) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeWalletPartner = %v, want nil after its context ended", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("ServeWalletPartner did not stop")
		}
	})
	conn := mustConn(t, lis.Addr().String())
	return walletEnv{w: w, c: partnerv1.NewWalletPartnerServiceClient(conn), health: healthpb.NewHealthClient(conn), addr: lis.Addr().String()}
}

func mnt(minor int64) *commonv1.Money { return &commonv1.Money{Currency: "MNT", MinorUnits: minor} }

func (e walletEnv) authorize(t *testing.T, paymentID, code string, amount int64) *partnerv1.AuthorizeResponse {
	t.Helper()
	resp, err := e.c.Authorize(context.Background(), &partnerv1.AuthorizeRequest{PaymentId: paymentID, Code: code, WalletAmount: mnt(amount)})
	if err != nil {
		t.Fatalf("Authorize(%s): %v", paymentID, err)
	}
	return resp
}

func (e walletEnv) inquire(t *testing.T, paymentID string) (*partnerv1.InquireAuthorizationResponse, error) {
	t.Helper()
	return e.c.InquireAuthorization(context.Background(), &partnerv1.InquireAuthorizationRequest{PaymentId: paymentID})
}

func (e walletEnv) cancelAuth(t *testing.T, paymentID string) {
	t.Helper()
	resp, err := e.c.CancelAuthorization(context.Background(), &partnerv1.CancelAuthorizationRequest{PaymentId: paymentID})
	if err != nil || resp.GetResult() != S {
		t.Fatalf("CancelAuthorization(%s) = %v, %v; want S", paymentID, resp, err)
	}
}

func (e walletEnv) refund(t *testing.T, refundID, paymentID string, amount int64) *partnerv1.RefundUserResponse {
	t.Helper()
	resp, err := e.c.RefundUser(context.Background(), &partnerv1.RefundUserRequest{RefundId: refundID, PaymentId: paymentID, WalletAmount: mnt(amount)})
	if err != nil {
		t.Fatalf("RefundUser(%s): %v", refundID, err)
	}
	return resp
}

func (e walletEnv) wantBalance(t *testing.T, user string, want int64) {
	t.Helper()
	if got := e.w.Balance(user); got != want {
		t.Errorf("balance of %s = %d, want %d", user, got, want)
	}
}

func wantAuth(t *testing.T, resp interface {
	GetResult() commonv1.Result
	GetFailureReason() string
}, result commonv1.Result, reason string) {
	t.Helper()
	if resp.GetResult() != result || resp.GetFailureReason() != reason {
		t.Errorf("answer %v %q, want %v %q", resp.GetResult(), resp.GetFailureReason(), result, reason)
	}
}

func wantStatus(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || unigate.ReasonOf(err) != reason {
		t.Errorf("err = %v, want %v with reason %q", err, code, reason)
	}
}

func TestMemoryWallet(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e walletEnv)
	}{
		{"authorize debits the code's user, once however often repeated", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			first := e.authorize(t, "pay-1", code, 30_000)
			wantAuth(t, first, S, "")
			if first.GetUserRef() != "u-1" || first.GetPartnerReference() == "" {
				t.Errorf("answer %v, want user_ref u-1 and a reference", first)
			}
			again := e.authorize(t, "pay-1", code, 30_000)
			if again.GetResult() != S || again.GetPartnerReference() != first.GetPartnerReference() {
				t.Errorf("repeat answered %v, want the first answer %v", again, first)
			}
			e.wantBalance(t, "u-1", 70_000)
			inq, err := e.inquire(t, "pay-1")
			if err != nil || inq.GetResult() != S || inq.GetPartnerReference() != first.GetPartnerReference() || inq.GetUserRef() != "u-1" {
				t.Errorf("inquiry = %v, %v; want S naming u-1", inq, err)
			}
		}},
		{"the same payment_id with another amount is refused", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			e.authorize(t, "pay-1", code, 30_000)
			_, err := e.c.Authorize(context.Background(), &partnerv1.AuthorizeRequest{PaymentId: "pay-1", Code: code, WalletAmount: mnt(31_000)})
			wantStatus(t, err, codes.AlreadyExists, "REPEAT_REQUEST_INCONSISTENT")
			e.wantBalance(t, "u-1", 70_000)
		}},
		{"insufficient funds is F; the code stays usable", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 10_000)
			code := e.w.IssueCode("u-1")
			resp := e.authorize(t, "pay-1", code, 30_000)
			wantAuth(t, resp, F, "INSUFFICIENT_FUNDS")
			e.wantBalance(t, "u-1", 10_000)
			if inq, err := e.inquire(t, "pay-1"); err != nil || inq.GetResult() != F || inq.GetUserRef() != "" {
				t.Errorf("inquiry = %v, %v; want F naming nobody", inq, err)
			}
			// Repeating the payment answers the same F even after a top-up.
			e.w.SetBalance("u-1", 50_000)
			wantAuth(t, e.authorize(t, "pay-1", code, 30_000), F, "INSUFFICIENT_FUNDS")
			// A new payment with the same code succeeds.
			wantAuth(t, e.authorize(t, "pay-2", code, 30_000), S, "")
			e.wantBalance(t, "u-1", 20_000)
		}},
		{"unknown and used codes are F INVALID_CODE", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			wantAuth(t, e.authorize(t, "pay-1", "289900000000000000", 1_000), F, "INVALID_CODE")
			code := e.w.IssueCode("u-1")
			wantAuth(t, e.authorize(t, "pay-2", code, 1_000), S, "")
			wantAuth(t, e.authorize(t, "pay-3", code, 1_000), F, "INVALID_CODE")
			e.wantBalance(t, "u-1", 99_000)
		}},
		{"an amount in another currency or not positive is F INVALID_AMOUNT", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			resp, err := e.c.Authorize(context.Background(), &partnerv1.AuthorizeRequest{PaymentId: "pay-1", Code: code,
				WalletAmount: &commonv1.Money{Currency: "CNY", MinorUnits: 100}})
			if err != nil {
				t.Fatal(err)
			}
			wantAuth(t, resp, F, "INVALID_AMOUNT")
			wantAuth(t, e.authorize(t, "pay-2", code, 0), F, "INVALID_AMOUNT")
			e.wantBalance(t, "u-1", 100_000)
		}},
		{"cancel reverses the debit, once", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			e.authorize(t, "pay-1", code, 30_000)
			e.cancelAuth(t, "pay-1")
			e.wantBalance(t, "u-1", 100_000)
			e.cancelAuth(t, "pay-1")
			e.wantBalance(t, "u-1", 100_000)
			inq, err := e.inquire(t, "pay-1")
			if err != nil {
				t.Fatal(err)
			}
			wantAuth(t, inq, F, "CANCELLED")
			if inq.GetUserRef() != "" {
				t.Errorf("inquiry of a cancelled authorization names %q, want nobody", inq.GetUserRef())
			}
			wantAuth(t, e.authorize(t, "pay-1", code, 30_000), F, "CANCELLED")
			e.wantBalance(t, "u-1", 100_000)
		}},
		{"cancel before the authorize arrives: the late authorize debits nothing", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			e.cancelAuth(t, "pay-1")
			wantAuth(t, e.authorize(t, "pay-1", code, 30_000), F, "CANCELLED")
			e.wantBalance(t, "u-1", 100_000)
			wantAuth(t, e.authorize(t, "pay-2", code, 30_000), S, "") // the code was not used
		}},
		{"refund credits the user, once; never above what was paid", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			e.authorize(t, "pay-1", e.w.IssueCode("u-1"), 30_000)
			first := e.refund(t, "ref-1", "pay-1", 10_000)
			wantAuth(t, first, S, "")
			again := e.refund(t, "ref-1", "pay-1", 10_000)
			if again.GetResult() != S || again.GetPartnerReference() != first.GetPartnerReference() {
				t.Errorf("repeat answered %v, want %v", again, first)
			}
			e.wantBalance(t, "u-1", 80_000)
			wantAuth(t, e.refund(t, "ref-2", "pay-1", 25_000), F, "REFUND_EXCEEDS_PAYMENT")
			wantAuth(t, e.refund(t, "ref-3", "pay-1", 20_000), S, "")
			e.wantBalance(t, "u-1", 100_000)
			wantAuth(t, e.refund(t, "ref-4", "pay-unknown", 1), F, "PAYMENT_NOT_FOUND")
			_, err := e.c.RefundUser(context.Background(), &partnerv1.RefundUserRequest{RefundId: "ref-1", PaymentId: "pay-1", WalletAmount: mnt(9_000)})
			wantStatus(t, err, codes.AlreadyExists, "REPEAT_REQUEST_INCONSISTENT")
		}},
		{"cancel after a partial refund returns only the rest", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			e.authorize(t, "pay-1", e.w.IssueCode("u-1"), 30_000)
			e.refund(t, "ref-1", "pay-1", 10_000)
			e.cancelAuth(t, "pay-1")
			e.wantBalance(t, "u-1", 100_000)
			wantAuth(t, e.refund(t, "ref-2", "pay-1", 1_000), F, "PAYMENT_NOT_FOUND")
		}},
		{"refund of an MPM payment told with RecordPayment", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			if err := e.w.RecordPayment("pay-mpm", "u-1", 40_000); err != nil {
				t.Fatal(err)
			}
			if err := e.w.RecordPayment("pay-mpm", "u-1", 40_000); err != nil {
				t.Fatalf("repeat: %v", err)
			}
			e.wantBalance(t, "u-1", 60_000)
			wantAuth(t, e.refund(t, "ref-1", "pay-mpm", 40_000), S, "")
			e.wantBalance(t, "u-1", 100_000)
		}},
		{"inquiry of an authorize that never arrived is NOT_FOUND", func(t *testing.T, e walletEnv) {
			_, err := e.inquire(t, "pay-never")
			wantStatus(t, err, codes.NotFound, "PAYMENT_NOT_FOUND")
		}},
		{"a request without its id is INVALID_ARGUMENT naming the field", func(t *testing.T, e walletEnv) {
			_, err := e.c.Authorize(context.Background(), &partnerv1.AuthorizeRequest{Code: "1", WalletAmount: mnt(1)})
			wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
			if ue := unigate.FromStatus(status.Convert(err)); ue.Field != "payment_id" {
				t.Errorf("field %q, want payment_id", ue.Field)
			}
			_, err = e.c.RefundUser(context.Background(), &partnerv1.RefundUserRequest{PaymentId: "pay-1"})
			wantStatus(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		}},
		{"hang before debit: the request is lost", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			e.w.HangNextAuthorizes(1, unigate.HangBeforeDebit)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := e.c.Authorize(ctx, &partnerv1.AuthorizeRequest{PaymentId: "pay-1", Code: code, WalletAmount: mnt(30_000)})
			wantStatus(t, err, codes.DeadlineExceeded, "DEADLINE_EXCEEDED")
			_, err = e.inquire(t, "pay-1")
			wantStatus(t, err, codes.NotFound, "PAYMENT_NOT_FOUND")
			e.wantBalance(t, "u-1", 100_000)
			wantAuth(t, e.authorize(t, "pay-1", code, 30_000), S, "") // the switch was for one call
			e.wantBalance(t, "u-1", 70_000)
		}},
		{"hang after debit: the answer is lost", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			code := e.w.IssueCode("u-1")
			e.w.HangNextAuthorizes(2, unigate.HangAfterDebit)
			for range 2 {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				_, err := e.c.Authorize(ctx, &partnerv1.AuthorizeRequest{PaymentId: "pay-1", Code: code, WalletAmount: mnt(30_000)})
				cancel()
				wantStatus(t, err, codes.DeadlineExceeded, "DEADLINE_EXCEEDED")
			}
			// The inquiry names the user the lost answer would have named.
			inq, err := e.inquire(t, "pay-1")
			if err != nil {
				t.Fatal(err)
			}
			wantAuth(t, inq, S, "")
			if inq.GetUserRef() != "u-1" {
				t.Errorf("inquiry names %q, want u-1", inq.GetUserRef())
			}
			wantAuth(t, e.authorize(t, "pay-1", code, 30_000), S, "")
			e.wantBalance(t, "u-1", 70_000)
		}},
		{"answer unknown: debited, U, then S on inquiry", func(t *testing.T, e walletEnv) {
			e.w.SetBalance("u-1", 100_000)
			e.w.AnswerUnknownNextAuthorizes(1)
			wantAuth(t, e.authorize(t, "pay-1", e.w.IssueCode("u-1"), 30_000), U, "")
			inq, err := e.inquire(t, "pay-1")
			if err != nil {
				t.Fatal(err)
			}
			wantAuth(t, inq, S, "")
			if inq.GetUserRef() != "u-1" {
				t.Errorf("inquiry names %q, want u-1", inq.GetUserRef())
			}
			e.wantBalance(t, "u-1", 70_000)
		}},
		{"health service says SERVING", func(t *testing.T, e walletEnv) {
			for _, svc := range []string{"", "unigate.partner.v1.WalletPartnerService"} {
				resp, err := e.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
				if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("health of %q = %v, %v", svc, resp, err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, serveWallet(t, nil))
		})
	}
}

func TestMemoryWalletCodes(t *testing.T) {
	tests := []struct {
		name    string
		cfg     unigate.MemoryWalletConfig
		prefix  string
		length  int
		wantErr bool
	}{
		{name: "defaults", cfg: unigate.MemoryWalletConfig{Currency: "MNT"}, prefix: "2899", length: 18},
		{name: "configured", cfg: unigate.MemoryWalletConfig{Currency: "KRW", CodePrefix: "62", CodeLength: 12}, prefix: "62", length: 12},
		{name: "no currency", cfg: unigate.MemoryWalletConfig{}, wantErr: true},
		{name: "prefix not digits", cfg: unigate.MemoryWalletConfig{Currency: "MNT", CodePrefix: "28a9"}, wantErr: true},
		{name: "too short", cfg: unigate.MemoryWalletConfig{Currency: "MNT", CodePrefix: "2899", CodeLength: 9}, wantErr: true},
		{name: "too long", cfg: unigate.MemoryWalletConfig{Currency: "MNT", CodeLength: 33}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := unigate.NewMemoryWallet(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewMemoryWallet = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			seen := map[string]bool{}
			for range 2000 {
				code := w.IssueCode("u-1")
				if len(code) != tc.length || !strings.HasPrefix(code, tc.prefix) || strings.Trim(code, "0123456789") != "" {
					t.Fatalf("code %q, want %d digits starting %s", code, tc.length, tc.prefix)
				}
				if seen[code] {
					t.Fatalf("code %q issued twice", code)
				}
				seen[code] = true
			}
		})
	}
}

// nilWallet answers nothing at all, as a buggy implementation might.
type nilWallet struct{ unigate.WalletPartner }

func (nilWallet) Authorize(context.Context, *partnerv1.AuthorizeRequest) (*partnerv1.AuthorizeResponse, error) {
	return nil, nil
}

func (nilWallet) RefundUser(context.Context, *partnerv1.RefundUserRequest) (*partnerv1.RefundUserResponse, error) {
	return nil, &unigate.Error{Code: codes.Unavailable, Reason: "DOWNSTREAM_UNAVAILABLE", Message: "core banking down", RetryAfter: time.Second}
}

func TestServeWalletPartnerAnswers(t *testing.T) {
	e := serveWallet(t, nilWallet{})
	_, err := e.c.Authorize(context.Background(), &partnerv1.AuthorizeRequest{PaymentId: "pay-1"})
	if status.Code(err) != codes.Internal {
		t.Errorf("nil answer: err = %v, want INTERNAL", err)
	}
	_, err = e.c.RefundUser(context.Background(), &partnerv1.RefundUserRequest{RefundId: "r"})
	ue := unigate.FromStatus(status.Convert(err))
	if ue.Code != codes.Unavailable || ue.Reason != "DOWNSTREAM_UNAVAILABLE" || ue.RetryAfter != time.Second {
		t.Errorf("an *Error from the implementation arrived as %+v", ue)
	}
}

func TestServeWalletPartnerStopsWithContext(t *testing.T) {
	w, _ := unigate.NewMemoryWallet(unigate.MemoryWalletConfig{Currency: "MNT"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- unigate.ServeWalletPartner(ctx, lis, w) }()

	// A call in flight when the context ends is allowed to finish.
	w.SetBalance("u-1", 10)
	w.HangNextAuthorizes(1, unigate.HangAfterDebit)
	c := partnerv1.NewWalletPartnerServiceClient(mustConn(t, lis.Addr().String()))
	callCtx, callCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer callCancel()
	inflight := make(chan error, 1)
	go func() {
		_, err := c.Authorize(callCtx, &partnerv1.AuthorizeRequest{PaymentId: "p", Code: w.IssueCode("u-1"), WalletAmount: mnt(5)})
		inflight <- err
	}()
	for w.Balance("u-1") != 5 { // the call has arrived: it debits, then hangs
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeWalletPartner = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeWalletPartner did not return after its context ended")
	}
	if err := <-inflight; status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("call in flight ended with %v, want its own DEADLINE_EXCEEDED", err)
	}
	if _, err := net.Dial("tcp", lis.Addr().String()); err == nil {
		t.Error("the listener still accepts connections")
	}
}
