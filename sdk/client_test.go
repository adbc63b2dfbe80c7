package unigate_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	unigate "github.com/unigate/unigate/sdk"
)

// method calls one Client method the way a partner would.
type method struct {
	name  string // as the server sees it
	pay   bool   // moves money: errors may be ErrOutcomeUnknown
	call  func(ctx context.Context, c *unigate.Client) error
	short string
}

var methods = []method{
	{name: "DecodeCode", short: "decode", call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.DecodeCode(ctx, &partnerv1.DecodeCodeRequest{Code: "000201"})
		return err
	}},
	{name: "CreateQuote", short: "quote", call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: "000201"})
		return err
	}},
	{name: "Pay", short: "pay", pay: true, call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.Pay(ctx, &partnerv1.PayRequest{Code: "000201", QuoteId: "q-1"})
		return err
	}},
	{name: "GetPayment", short: "get", call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.GetPayment(ctx, "pay-1")
		return err
	}},
	{name: "GetPayment", short: "getByKey", call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.GetPaymentByPartnerKey(ctx, "order-1")
		return err
	}},
	{name: "CancelPayment", short: "cancel", pay: true, call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.CancelPayment(ctx, "pay-1")
		return err
	}},
	{name: "CancelPayment", short: "cancelByKey", pay: true, call: func(ctx context.Context, c *unigate.Client) error {
		_, err := c.CancelPaymentByPartnerKey(ctx, "order-1")
		return err
	}},
}

func methodNamed(t *testing.T, short string) method {
	t.Helper()
	for _, m := range methods {
		if m.short == short {
			return m
		}
	}
	t.Fatalf("no method %q", short)
	return method{}
}

// TestCallsCarryPartnerIDAndDeadline checks that every method sends the
// partner id exactly once (whatever the caller's metadata) and a deadline
// of the configured length.
func TestCallsCarryPartnerIDAndDeadline(t *testing.T) {
	timeouts := []struct {
		name       string
		opts       []unigate.Option
		pay, other time.Duration
	}{
		{"defaults", nil, 10 * time.Second, 5 * time.Second},
		{"WithCallTimeout", []unigate.Option{unigate.WithCallTimeout(2 * time.Second)}, 2 * time.Second, 2 * time.Second},
		{"WithPayTimeout", []unigate.Option{unigate.WithPayTimeout(7 * time.Second)}, 7 * time.Second, 5 * time.Second},
		{"both", []unigate.Option{unigate.WithPayTimeout(7 * time.Second), unigate.WithCallTimeout(3 * time.Second)}, 7 * time.Second, 3 * time.Second},
	}
	for _, tc := range timeouts {
		for _, m := range methods {
			t.Run(tc.name+"/"+m.short, func(t *testing.T) {
				f := &fakePartner{}
				c := dial(t, f, tc.opts...)
				// The caller's metadata stays; a partner id it set is replaced.
				ctx := metadata.AppendToOutgoingContext(context.Background(), "x-trace", "t-1", unigate.PartnerIDHeader, "someone-else")
				if err := m.call(ctx, c); err != nil {
					t.Fatal(err)
				}
				calls := f.Calls()
				if len(calls) != 1 || calls[0].method != m.name {
					t.Fatalf("server saw %+v, want one %s", calls, m.name)
				}
				got := calls[0]
				if !slices.Equal(got.partnerID, []string{"hipay"}) {
					t.Errorf("partner id metadata = %q, want [hipay]", got.partnerID)
				}
				if !slices.Equal(got.md.Get("x-trace"), []string{"t-1"}) {
					t.Errorf("caller's metadata lost: %v", got.md)
				}
				want := tc.other
				if m.name == "Pay" {
					want = tc.pay
				}
				if got.deadline <= want-time.Second || got.deadline > want {
					t.Errorf("deadline %v on arrival, want just under %v", got.deadline, want)
				}
			})
		}
	}
}

// TestRetries checks which failures are retried, how often, and what the
// caller gets at the end.
func TestRetries(t *testing.T) {
	quoteExpired := unigateStatus(codes.FailedPrecondition, "QUOTE_EXPIRED", "", 0, "quote q-1 expired")
	tests := []struct {
		name        string
		method      string
		opts        []unigate.Option
		errs        []error
		sleeps      []time.Duration
		wantCalls   int
		wantCode    codes.Code // OK: success
		wantIs      error
		wantUnknown bool
		minElapsed  time.Duration
	}{
		{name: "decode: UNAVAILABLE then success", method: "decode",
			errs: []error{unavailable()}, wantCalls: 2},
		{name: "quote: DEADLINE_EXCEEDED twice then success", method: "quote",
			errs: []error{status.Error(codes.DeadlineExceeded, "slow"), status.Error(codes.DeadlineExceeded, "slow")}, wantCalls: 3},
		{name: "decode: attempt timeout then success", method: "decode", opts: []unigate.Option{unigate.WithCallTimeout(100 * time.Millisecond)},
			sleeps: []time.Duration{time.Second}, wantCalls: 2},
		{name: "get: RESOURCE_EXHAUSTED with RetryInfo waits the delay", method: "get",
			errs:      []error{unigateStatus(codes.ResourceExhausted, "", "", 80*time.Millisecond, "slow down")},
			wantCalls: 2, minElapsed: 80 * time.Millisecond},
		{name: "getByKey: DOWNSTREAM_UNAVAILABLE with RetryInfo", method: "getByKey",
			errs:      []error{unigateStatus(codes.Unavailable, "DOWNSTREAM_UNAVAILABLE", "", 50*time.Millisecond, "fx down")},
			wantCalls: 2, minElapsed: 50 * time.Millisecond},
		{name: "get: RESOURCE_EXHAUSTED without RetryInfo is not retried", method: "get",
			errs: []error{status.Error(codes.ResourceExhausted, "quota")}, wantCalls: 1, wantCode: codes.ResourceExhausted},
		{name: "decode: INVALID_CODE is not retried", method: "decode",
			errs:      []error{unigateStatus(codes.InvalidArgument, "INVALID_CODE", "code", 0, "bad CRC")},
			wantCalls: 1, wantCode: codes.InvalidArgument, wantIs: unigate.ErrInvalidCode},
		{name: "decode: INTERNAL is not retried", method: "decode",
			errs: []error{unigateStatus(codes.Internal, "INTERNAL", "", 0, "oops")}, wantCalls: 1, wantCode: codes.Internal, wantIs: unigate.ErrInternal},
		{name: "decode: UNAVAILABLE every time, default 4 attempts", method: "decode",
			errs: []error{unavailable(), unavailable(), unavailable(), unavailable(), unavailable()}, wantCalls: 4, wantCode: codes.Unavailable},
		{name: "quote: WithRetries(2)", method: "quote", opts: []unigate.Option{unigate.WithRetries(2)},
			errs: []error{unavailable(), unavailable(), unavailable()}, wantCalls: 2, wantCode: codes.Unavailable},
		{name: "get: WithRetries(1) disables retries", method: "get", opts: []unigate.Option{unigate.WithRetries(1)},
			errs: []error{unavailable()}, wantCalls: 1, wantCode: codes.Unavailable},
		{name: "cancel: UNAVAILABLE then success", method: "cancel",
			errs: []error{unavailable()}, wantCalls: 2},
		{name: "cancelByKey: UNAVAILABLE every time is outcome unknown", method: "cancelByKey",
			errs:      []error{unavailable(), unavailable(), unavailable(), unavailable()},
			wantCalls: 4, wantCode: codes.Unavailable, wantUnknown: true},
		{name: "pay: UNAVAILABLE twice then success", method: "pay",
			errs: []error{unavailable(), unavailable()}, wantCalls: 3},
		{name: "pay: QUOTE_EXPIRED is a refusal, not retried", method: "pay",
			errs: []error{quoteExpired}, wantCalls: 1, wantCode: codes.FailedPrecondition, wantIs: unigate.ErrQuoteExpired},
		{name: "pay: REPEAT_REQUEST_INCONSISTENT is a refusal", method: "pay",
			errs:      []error{unigateStatus(codes.AlreadyExists, "REPEAT_REQUEST_INCONSISTENT", "", 0, "other request")},
			wantCalls: 1, wantCode: codes.AlreadyExists, wantIs: unigate.ErrRepeatRequestInconsistent},
		{name: "pay: INTERNAL is outcome unknown", method: "pay",
			errs:      []error{unigateStatus(codes.Internal, "INTERNAL", "", 0, "oops")},
			wantCalls: 1, wantCode: codes.Internal, wantIs: unigate.ErrInternal, wantUnknown: true},
		{name: "pay: attempt timeouts every time is outcome unknown", method: "pay",
			opts:      []unigate.Option{unigate.WithPayTimeout(50 * time.Millisecond), unigate.WithRetries(3)},
			sleeps:    []time.Duration{time.Second, time.Second, time.Second},
			wantCalls: 3, wantCode: codes.DeadlineExceeded, wantIs: unigate.ErrDeadlineExceeded, wantUnknown: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePartner{errs: tc.errs, sleeps: tc.sleeps}
			c := dial(t, f, tc.opts...)
			m := methodNamed(t, tc.method)
			start := time.Now()
			err := m.call(context.Background(), c)
			elapsed := time.Since(start)

			if got := len(f.Calls()); got != tc.wantCalls {
				t.Errorf("server saw %d calls, want %d", got, tc.wantCalls)
			}
			if elapsed < tc.minElapsed {
				t.Errorf("took %v, want at least %v (the RetryInfo delay)", elapsed, tc.minElapsed)
			}
			if tc.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			var ue *unigate.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v (%T), want an *unigate.Error in its chain", err, err)
			}
			if ue.Code != tc.wantCode || status.Code(err) != tc.wantCode {
				t.Errorf("code = %v (status.Code %v), want %v", ue.Code, status.Code(err), tc.wantCode)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
			if got := errors.Is(err, unigate.ErrOutcomeUnknown); got != tc.wantUnknown {
				t.Errorf("errors.Is(err, ErrOutcomeUnknown) = %v, want %v (err %v)", got, tc.wantUnknown, err)
			}
			if !m.pay && errors.Is(err, unigate.ErrOutcomeUnknown) {
				t.Errorf("%s moves no money but answered outcome unknown", m.name)
			}
		})
	}
}

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestPayIdempotencyKey checks that every attempt of one Pay carries the
// same key, generated once when the request has none.
func TestPayIdempotencyKey(t *testing.T) {
	tests := []struct {
		name     string
		opts     []unigate.Option
		key      string // the request's partner_payment_id
		errs     []error
		sleeps   []time.Duration
		noEcho   bool
		wantKey  func(string) bool
		wantErr  bool
		attempts int
	}{
		{name: "generated key reused on every retry", opts: []unigate.Option{unigate.WithPayTimeout(100 * time.Millisecond)},
			errs: []error{unavailable(), nil, unavailable()}, sleeps: []time.Duration{0, time.Second},
			wantKey: hexKey.MatchString, attempts: 4},
		{name: "caller's key kept on every retry", key: "order-42",
			errs: []error{unavailable(), unavailable()}, wantKey: func(k string) bool { return k == "order-42" }, attempts: 3},
		{name: "key generator", opts: []unigate.Option{unigate.WithKeyGenerator(func() string { return "gen-1" })},
			errs: []error{unavailable()}, wantKey: func(k string) bool { return k == "gen-1" }, attempts: 2},
		{name: "answer without the key gets it filled in", noEcho: true,
			wantKey: hexKey.MatchString, attempts: 1},
		{name: "retries exhausted: outcome unknown carries the key",
			errs:    []error{unavailable(), unavailable(), unavailable(), unavailable()},
			wantKey: hexKey.MatchString, wantErr: true, attempts: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePartner{errs: tc.errs, sleeps: tc.sleeps, noEcho: tc.noEcho}
			c := dial(t, f, tc.opts...)
			req := &partnerv1.PayRequest{PartnerPaymentId: tc.key, Code: "000201", QuoteId: "q-1",
				Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 12850}, UserRef: "u-1"}
			resp, err := c.Pay(context.Background(), req)

			keys := f.keys()
			if len(keys) != tc.attempts {
				t.Fatalf("server saw %d Pay calls, want %d", len(keys), tc.attempts)
			}
			for _, k := range keys {
				if k != keys[0] {
					t.Fatalf("attempts used different keys: %q", keys)
				}
			}
			if !tc.wantKey(keys[0]) {
				t.Errorf("key %q is not the one expected", keys[0])
			}
			if req.GetPartnerPaymentId() != tc.key {
				t.Errorf("Pay modified the caller's request: key %q", req.GetPartnerPaymentId())
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.GetPayment().GetPartnerPaymentId(); got != keys[0] {
					t.Errorf("answer's partner_payment_id = %q, want %q", got, keys[0])
				}
				return
			}
			if !errors.Is(err, unigate.ErrOutcomeUnknown) {
				t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
			}
			var unknown *unigate.OutcomeUnknownError
			if !errors.As(err, &unknown) {
				t.Fatalf("err = %T, want *OutcomeUnknownError", err)
			}
			if unknown.PartnerPaymentID != keys[0] || unknown.Method != "Pay" || unknown.Attempts != tc.attempts {
				t.Errorf("OutcomeUnknownError = %+v, want key %q, Pay, %d attempts", unknown, keys[0], tc.attempts)
			}
		})
	}

	t.Run("a new key per Pay call", func(t *testing.T) {
		f := &fakePartner{}
		c := dial(t, f)
		for range 2 {
			if _, err := c.Pay(context.Background(), &partnerv1.PayRequest{Code: "000201"}); err != nil {
				t.Fatal(err)
			}
		}
		if k := f.keys(); len(k) != 2 || k[0] == k[1] {
			t.Errorf("keys %q, want two different ones", k)
		}
	})
	t.Run("caller's deadline passes mid-flight: outcome unknown", func(t *testing.T) {
		f := &fakePartner{sleeps: []time.Duration{5 * time.Second}}
		c := dial(t, f)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Pay(ctx, &partnerv1.PayRequest{Code: "000201"})
		var unknown *unigate.OutcomeUnknownError
		if !errors.As(err, &unknown) || unknown.Attempts != 1 || unknown.PartnerPaymentID != f.keys()[0] {
			t.Fatalf("err = %v, want outcome unknown after 1 attempt with key %q", err, f.keys())
		}
	})
	t.Run("context done before sending: a plain error, nothing sent", func(t *testing.T) {
		f := &fakePartner{}
		c := dial(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Pay(ctx, &partnerv1.PayRequest{Code: "000201"})
		if err == nil || errors.Is(err, unigate.ErrOutcomeUnknown) || status.Code(err) != codes.Canceled {
			t.Fatalf("err = %v, want CANCELED and not outcome unknown", err)
		}
		if n := len(f.Calls()); n != 0 {
			t.Errorf("server saw %d calls, want 0", n)
		}
	})
}

func TestDialAndNewClient(t *testing.T) {
	if _, err := unigate.Dial("127.0.0.1:1", ""); err == nil {
		t.Error("Dial without a partner id succeeded")
	}
	if _, err := unigate.Dial("127.0.0.1:1", "hipay"); err == nil {
		t.Error("Dial without credentials succeeded")
	}
	addr, stop := startPartnerService(&fakePartner{})
	defer stop()
	c, err := unigate.Dial(addr, "hipay", unigate.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.PartnerID() != "hipay" || !hexKey.MatchString(c.NewKey()) || c.NewKey() == c.NewKey() {
		t.Error("PartnerID or NewKey is wrong")
	}

	// NewClient over a connection the caller owns.
	f := &fakePartner{}
	addr2, stop2 := startPartnerService(f)
	defer stop2()
	conn := mustConn(t, addr2)
	nc := unigate.NewClient(conn, "partner-b")
	if _, err := nc.GetPayment(context.Background(), "pay-1"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	if calls := f.Calls(); len(calls) != 1 || !slices.Equal(calls[0].partnerID, []string{"partner-b"}) {
		t.Errorf("calls %+v, want one from partner-b", calls)
	}
}
