package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/pkg/telemetry"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/walletsim"
)

// TestSecrets runs consumer-presented (CPM) and merchant-presented (MPM)
// payments, the wallet's declines and the refusals of bad one-time codes
// through the whole switch, recording every log line (at debug level) and
// every span, and checks that no one-time code's digits reach a log line,
// a span, or an error or failure message returned to a caller. (A masked
// code, "2899…34", may.)
func TestSecrets(t *testing.T) {
	for _, b := range sqlstoretest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := ""
			if b.Name == "postgres" {
				dsn = b.DSN(t)
			}
			testSecrets(t, dsn)
		})
	}
}

func testSecrets(t *testing.T, dsn string) {
	logs := &lockedBuffer{}
	spans := tracetest.NewSpanRecorder()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	var codes []string // every one-time code sent, well-formed or not
	// Registered before the stack's own cleanup, this runs after the stack
	// has stopped: it sees everything the stack logged and traced.
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		if !strings.Contains(logs.String(), `"msg":"serving"`) || !hasSpan(spans.Ended(), "AcquiringService/SubmitPayment") {
			t.Error("the test recorded no logs or no payment spans: it checks nothing")
			return
		}
		checkNoCode(t, "a log line", logs.String(), codes)
		checkNoCode(t, "a span", spanText(spans.Ended()), codes)
	})
	e := startEnv(t, dsn, func(c *app.StackConfig) {
		c.Log = telemetry.NewLogger(io.MultiWriter(logs, testLogOut()), slog.LevelDebug, "")
	})
	ctx := context.Background()
	pos := e.pos()
	wallet := e.stack.Wallets.Wallet("hipay")
	wallet.SetBalance("sec-user", 10_000_000)
	issue := func(user string) string {
		c := wallet.IssueCode(user)
		codes = append(codes, c)
		return c
	}
	// unissued is a code in prefix's range that no wallet issued.
	unissued := func(prefix string) string {
		c := prefix
		for len(c) < 18 {
			c += string(rune('0' + rand.IntN(10)))
		}
		codes = append(codes, c)
		return c
	}
	// refused checks a call was refused for reason without repeating a code.
	refused := func(name string, err error, reason rpcerr.Reason) {
		t.Helper()
		if rpcerr.ReasonOf(err) != reason {
			t.Errorf("%s: got %v, want %s", name, err, reason)
		}
		checkNoCode(t, name+": the error", errorText(err), codes)
	}

	// A CPM payment, its repeat, and the order reused with another amount.
	code := issue("sec-user")
	paid, err := pos.submit("sec-cpm-1", "M10001", code, 5000)
	if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("CPM payment: %v %v", paid, err)
	}
	if again, err := pos.submit("sec-cpm-1", "M10001", code, 5000); err != nil || again.GetPaymentId() != paid.GetPaymentId() {
		t.Fatalf("repeat: %v %v", again, err)
	}
	_, err = pos.submit("sec-cpm-1", "M10001", code, 5001)
	refused("reused order", err, rpcerr.RepeatRequestInconsistent)

	// The wallet declines: the code again, a code it never issued, a user
	// without money. The payment fails; its failure message names no code.
	for i, c := range []string{code, unissued("2899"), issue("sec-broke")} {
		p, err := pos.submit(fmt.Sprintf("sec-decline-%d", i), "M10001", c, 5000)
		if err != nil || p.GetResult() != commonv1.Result_RESULT_FAILURE || p.GetFailureReason() != string(rpcerr.WalletDeclined) {
			t.Fatalf("decline %d: %v %v", i, p, err)
		}
		checkNoCode(t, fmt.Sprintf("decline %d: the failure message", i), p.GetFailureMessage(), codes)
	}

	// The network's refusals.
	spaced := func(c, sep string) string {
		return c[:4] + sep + c[4:8] + sep + c[8:12] + sep + c[12:16] + sep + c[16:]
	}
	for _, tc := range []struct {
		name     string
		merchant string
		code     string
		reason   rpcerr.Reason
	}{
		{"a range no partner has", "M10001", unissued("2894"), rpcerr.UnknownCodeRange},
		{"one digit too many", "M10001", unissued("2899") + "7", rpcerr.InvalidCode},
		{"spaces between digit groups", "M10001", spaced(unissued("2899"), " "), rpcerr.InvalidCode},
		{"dashes between digit groups", "M10001", spaced(unissued("2899"), "-"), rpcerr.InvalidCode},
		{"a trailing letter", "M10001", unissued("2899")[:17] + "X", rpcerr.InvalidCode},
		{"a trailing newline", "M10001", unissued("2899") + "\n", rpcerr.InvalidCode},
		{"an unknown merchant", "M99999", issue("sec-user"), rpcerr.MerchantNotFound},
	} {
		_, err := pos.submit("sec-refused", tc.merchant, tc.code, 5000)
		refused("submit with "+tc.name, err, tc.reason)
	}

	// An MPM payment; then a wallet sending one-time codes to the
	// wallet-pays API.
	w := walletsim.New("hipay", e.partner("hipay"))
	_, q, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(1000), "sec-mpm-1", "u-sec")
	if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("MPM payment: %v %v", p, err)
	}
	_, err = w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: issue("sec-user")})
	refused("decode of a one-time code", err, rpcerr.UnsupportedCode)
	_, err = w.Client.CreateQuote(w.Context(ctx), &partnerv1.CreateQuoteRequest{Code: unissued("2894"), Amount: cny(1000)})
	refused("quote for a code of no range", err, rpcerr.UnknownCodeRange)
	_, err = w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "sec-mpm-2", Code: spaced(issue("sec-user"), " "),
		Amount: cny(1000), QuoteId: q.GetQuoteId(), UserRef: "u-sec"})
	refused("pay with a spaced one-time code", err, rpcerr.InvalidCode)
}

// errorText is everything a caller receives of an error: the status
// message and every detail.
func errorText(err error) string {
	st := status.Convert(err)
	var b strings.Builder
	b.WriteString(st.Message())
	for _, d := range st.Details() {
		fmt.Fprintf(&b, "\n%v", d)
	}
	return b.String()
}

// spanText is everything a span exporter would send of spans but ids and
// times: names, status descriptions, attributes, events and their
// attributes.
func spanText(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "%s %s\n", s.Name(), s.Status().Description)
		for _, a := range s.Attributes() {
			fmt.Fprintf(&b, "  %s=%s\n", a.Key, a.Value.Emit())
		}
		for _, ev := range s.Events() {
			fmt.Fprintf(&b, "  event %s\n", ev.Name)
			for _, a := range ev.Attributes {
				fmt.Fprintf(&b, "    %s=%s\n", a.Key, a.Value.Emit())
			}
		}
	}
	return b.String()
}

func hasSpan(spans []sdktrace.ReadOnlySpan, suffix string) bool {
	for _, s := range spans {
		if strings.HasSuffix(s.Name(), suffix) {
			return true
		}
	}
	return false
}

// checkNoCode fails t if text holds eight or more consecutive digits of
// any of codes, even split by spaces or dashes; paycode.Mask shows at most
// four ("2899…34").
func checkNoCode(t *testing.T, where, text string, codes []string) {
	t.Helper()
	runs := digitRuns(text)
	for _, c := range codes {
		d := strings.Join(digitRuns(c), "")
		for i := 0; i+8 <= len(d); i++ {
			if slices.ContainsFunc(runs, func(r string) bool { return strings.Contains(r, d[i:i+8]) }) {
				t.Errorf("%s carries the one-time code %s", where, paycode.Mask(c))
				break
			}
		}
	}
}

// digitRuns returns the runs of digits in s, a space or a dash between two
// digits joining them ("2899 1234-56" is the run "2899123456").
func digitRuns(s string) []string {
	digit := func(i int) bool { return i < len(s) && '0' <= s[i] && s[i] <= '9' }
	var runs []string
	var run []byte
	for i := range len(s) + 1 {
		switch {
		case digit(i):
			run = append(run, s[i])
		case len(run) > 0 && i < len(s) && (s[i] == ' ' || s[i] == '-') && digit(i+1):
			// a separator inside the run
		case len(run) > 0:
			runs = append(runs, string(run))
			run = run[:0]
		}
	}
	return runs
}

// lockedBuffer collects the log lines the stack's goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
