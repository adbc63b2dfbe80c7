package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/walletsim"
)

// TestMetricsAndHealth runs a switch on PostgreSQL and, beside its
// acquirer, an acquirer replica with MetricsListen and HealthListen set;
// a payment through that replica shows in the RED metrics, the payment
// counter, and the process's leader gauges and pool metrics scraped over
// HTTP; its plaintext health port answers SERVING, then NOT_SERVING and
// nothing once the replica stops.
func TestMetricsAndHealth(t *testing.T) {
	ctx := context.Background()
	st, err := StartStack(ctx, StackConfig{DataDir: t.TempDir(), DSN: sqlstoretest.PostgresDSN(t),
		Log: slog.New(slog.NewTextHandler(testLog(), nil)), CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	metricsAddr, healthAddr := freeAddr(t), freeAddr(t)
	if _, err := st.start("acquirer-ops", 0, func(ctx context.Context, c Common) error {
		cfg := st.acquirer
		cfg.Common, cfg.Candidate, cfg.DSN = c, "acquirer-ops", st.dsn("acquirer")
		cfg.MetricsListen, cfg.HealthListen = metricsAddr, healthAddr
		return RunAcquirer(ctx, cfg)
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("metrics", func(t *testing.T) {
		paid := sample{"unigate_payments_total", map[string]string{"partner": "hipay", "mode": "MPM", "result": "S"}}
		before := scrape(t, metricsAddr)
		pay(t, st, "acquirer-ops")
		after := scrape(t, metricsAddr)
		if d := after.value(paid) - before.value(paid); d != 1 {
			t.Errorf("%v went up by %v, want 1", paid, d)
		}
		pay := map[string]string{"grpc_service": "unigate.partner.v1.PartnerService", "grpc_method": "Pay", "grpc_type": "unary"}
		for _, c := range []struct {
			s        sample
			min, max float64
		}{
			{sample{"grpc_server_handled_total", with(pay, "grpc_code", "OK")}, 1, 1e9},
			{sample{"grpc_server_handling_seconds_count", pay}, 1, 1e9},
			{sample{"grpc_client_handled_total", map[string]string{"grpc_service": "unigate.fx.v1.FxService", "grpc_method": "LockQuote", "grpc_code": "OK"}}, 1, 1e9},
			{sample{"unigate_fx_quotes_total", map[string]string{"partner": "hipay"}}, 1, 1e9},
			{sample{"unigate_fx_quote_locks_total", map[string]string{"result": "locked"}}, 1, 1e9},
			{sample{"unigate_risk_decisions_total", map[string]string{"check": "evaluate", "outcome": "approve"}}, 1, 1e9},
			// The stack's acquirer leads; the replica stands by: the
			// process leads once.
			{sample{"unigate_leader", map[string]string{"singleton": "acquirer"}}, 1, 1},
			{sample{"unigate_leader", map[string]string{"singleton": "settlement-cutoff"}}, 1, 1},
			{sample{"unigate_elections_won_total", map[string]string{"singleton": "acquirer"}}, 1, 1e9},
			{sample{"go_sql_max_open_connections", map[string]string{"service": "acquirer"}}, 32, 1e9},
			{sample{"go_sql_open_connections", map[string]string{"service": "acquirer"}}, 1, 1e9},
			{sample{"go_sql_open_connections", map[string]string{"service": "settlement"}}, 1, 1e9},
			{sample{"unigate_payments_processing", nil}, 0, 1e9},
			{sample{"unigate_payments_processing_oldest_age_seconds", nil}, 0, 3600},
			{sample{"unigate_payments_unposted", nil}, 0, 1e9},
			{sample{"go_goroutines", nil}, 10, 1e9},
		} {
			v, ok := after.find(c.s)
			if !ok || v < c.min || v > c.max {
				t.Errorf("%v = %v (found %v), want within [%v, %v]", c.s, v, ok, c.min, c.max)
			}
		}
		// Every metric of ours the process exports is documented.
		doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range after {
			name := x.name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				name = strings.TrimSuffix(name, suffix)
			}
			if (strings.HasPrefix(name, "unigate_") || strings.HasPrefix(name, "grpc_") || strings.HasPrefix(name, "go_sql_")) &&
				!strings.Contains(string(doc), "| `"+name+"` |") {
				t.Errorf("%s is exported but not in docs/metrics.md", name)
			}
		}
		if in, open := after.value(sample{"go_sql_in_use_connections", map[string]string{"service": "acquirer"}}),
			after.value(sample{"go_sql_open_connections", map[string]string{"service": "acquirer"}}); in > open {
			t.Errorf("%v connections in use of %v open", in, open)
		}
	})

	t.Run("health", func(t *testing.T) {
		conn, err := grpc.NewClient(healthAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		h := healthpb.NewHealthClient(conn)
		check := func() (healthpb.HealthCheckResponse_ServingStatus, error) {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			resp, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
			return resp.GetStatus(), err
		}
		if s, err := check(); err != nil || s != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("plaintext health: %v %v, want SERVING", s, err)
		}
		// The main port is mutual TLS: a plaintext probe gets nothing there.
		main, err := grpc.NewClient(st.Addrs["acquirer-ops"], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer main.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := healthpb.NewHealthClient(main).Check(cctx, &healthpb.HealthCheckRequest{}); err == nil {
			t.Fatal("the mTLS port answered a plaintext probe")
		}
		st.StopService("acquirer-ops")
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, err := check()
			if err != nil || s == healthpb.HealthCheckResponse_NOT_SERVING {
				break // NOT_SERVING while draining, then no server at all
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %v after the replica stopped", s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The metrics server stops with the service.
		deadline = time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				break
			}
			resp.Body.Close()
			if time.Now().After(deadline) {
				t.Fatal("metrics still served after the replica stopped")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// pay makes one MPM payment as hipay through the acquirer replica name.
func pay(t *testing.T, st *Stack, name string) {
	t.Helper()
	ctx := context.Background()
	conn, err := st.Dial(name, authn.Partner, "hipay")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sim, err := st.Dial("merchantsim", authn.Operator, "admin")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ms, err := simulatorv1.NewMerchantSimulatorServiceClient(sim).ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := ms.GetMerchants()[0].GetStaticCode()
	w := walletsim.New("hipay", conn)
	wctx := w.Context(ctx)
	amount := &commonv1.Money{Currency: "CNY", MinorUnits: 1000}
	q, err := w.Client.CreateQuote(wctx, &partnerv1.CreateQuoteRequest{Code: code, Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.Client.Pay(wctx, &partnerv1.PayRequest{PartnerPaymentId: fmt.Sprintf("metrics-%d", time.Now().UnixNano()),
		Code: code, Amount: amount, QuoteId: q.GetQuote().GetQuoteId(), UserRef: "metrics-user"})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.GetPayment().GetResult(); r != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("payment answered %v", r)
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// sample names series by metric name and a subset of their labels.
type sample struct {
	name   string
	labels map[string]string
}

// series is one line of the text exposition.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

type scraped []series

var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape reads addr's /metrics over HTTP.
func scrape(t *testing.T, addr string) scraped {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %s", resp.Status)
	}
	var out scraped
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		s := series{name: line[:i], labels: map[string]string{}, value: v}
		if j := strings.IndexByte(line[:i], '{'); j >= 0 {
			s.name = line[:j]
			for _, m := range labelRE.FindAllStringSubmatch(line[j:i], -1) {
				s.labels[m[1]] = m[2]
			}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// find sums the series matching s, and says whether any did.
func (sc scraped) find(s sample) (float64, bool) {
	sum, found := 0.0, false
next:
	for _, x := range sc {
		if x.name != s.name {
			continue
		}
		for k, v := range s.labels {
			if x.labels[k] != v {
				continue next
			}
		}
		sum, found = sum+x.value, true
	}
	return sum, found
}

func (sc scraped) value(s sample) float64 { v, _ := sc.find(s); return v }

// testLog is where the test's stack logs: nowhere, unless
// UNIGATE_TEST_LOG is set.
func testLog() io.Writer {
	if os.Getenv("UNIGATE_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
