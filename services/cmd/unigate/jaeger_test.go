package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jaeger is a real Jaeger (v2, all in one, in-memory storage) run by a
// test from the binary `make test` builds (tools/jaeger), with the
// repository's local configuration (tools/jaeger/config.yaml) on free
// loopback ports.
type jaeger struct {
	OTLP  string // host:port of the OTLP/gRPC receiver
	Query string // base URL of the query API
}

// repoRoot is the repository's root, from this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// jaegerBinary is the Jaeger that `make test` built (UNIGATE_JAEGER_BIN),
// or the one in the repository's tool directory; failing both, the test
// builds it there from tools/jaeger (minutes, the first time).
func jaegerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("UNIGATE_JAEGER_BIN"); bin != "" {
		return bin
	}
	root := repoRoot(t)
	bin := filepath.Join(root, ".bin", "jaeger")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building Jaeger into %s (make jaeger does the same)", bin)
	cmd := exec.Command("go", "install", "tool")
	cmd.Dir = filepath.Join(root, "tools", "jaeger")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOBIN="+filepath.Dir(bin))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building Jaeger: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startJaeger runs Jaeger until the test ends and waits for its query API.
func startJaeger(t *testing.T) jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	j := jaeger{OTLP: freeAddr(t)}
	query := freeAddr(t)
	j.Query = "http://" + query
	cmd := exec.Command(bin, "--config", filepath.Join(repoRoot(t), "tools", "jaeger", "config.yaml"))
	cmd.Env = append(os.Environ(), "JAEGER_OTLP="+j.OTLP, "JAEGER_QUERY="+query, "JAEGER_QUERY_GRPC="+freeAddr(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("jaeger's output:\n%s", out.String())
		}
	})
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("jaeger exited: %v\n%s", err, out.String())
		default:
		}
		if resp, err := http.Get(j.Query + "/api/services"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return j
			}
		}
		if time.Now().After(end) {
			t.Fatalf("jaeger's query API is not up after 30s\n%s", out.String())
		}
	}
}

// Env is what a traced process needs to export to this Jaeger promptly.
func (j jaeger) Env() []string {
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + j.OTLP, "OTEL_BSP_SCHEDULE_DELAY=100"}
}

// apiTrace is the part of a trace from Jaeger's query API the test reads.
type apiTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		Tags          []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// services are the services with a span in the trace, sorted.
func (t apiTrace) services() []string {
	var out []string
	for _, s := range t.Spans {
		if n := t.Processes[s.ProcessID].ServiceName; !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// tag is the first value of a tag on any span of the trace.
func (t apiTrace) tag(key string) string {
	for _, s := range t.Spans {
		for _, g := range s.Tags {
			if g.Key == key {
				return fmt.Sprint(g.Value)
			}
		}
	}
	return ""
}

// traces asks the query API for the traces of a service's operation.
func (j jaeger) traces(ctx context.Context, service, operation string) ([]apiTrace, error) {
	q := url.Values{"service": {service}, "limit": {"50"}, "lookback": {"1h"}}
	if operation != "" {
		q.Set("operation", operation)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.Query+"/api/traces?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger: %s", resp.Status)
	}
	var body struct {
		Data []apiTrace `json:"data"`
	}
	return body.Data, json.NewDecoder(resp.Body).Decode(&body)
}

// payTraceServices is every service a payment's trace must reach: the
// partner API and its orchestration, code routing, the quote lock, the risk
// decision, the merchant network's credit, and the ledger posting (made
// later by the poster, continuing the trace).
var payTraceServices = []string{"unigate-acquirer", "unigate-fx", "unigate-merchantsim", "unigate-risk", "unigate-router", "unigate-settlement"}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// operations are the operations of the trace's spans.
func (t apiTrace) operations() []string {
	var out []string
	for _, s := range t.Spans {
		out = append(out, s.OperationName)
	}
	return out
}

// waitForPaymentTrace polls Jaeger until one trace of a Pay holds spans of
// every service of payTraceServices and the work done for the payment
// after the request (its ledger posting and its events' relay, continuing
// the trace through the outbox), and another (the demo's payment whose
// network answers late) the resolver's work; it returns the first.
func waitForPaymentTrace(t *testing.T, ctx context.Context, j jaeger) apiTrace {
	t.Helper()
	var (
		last     []string
		resolved bool
		whole    *apiTrace
	)
	for end := time.Now().Add(45 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		ts, err := j.traces(ctx, "unigate-acquirer", "unigate.partner.v1.PartnerService/Pay")
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range ts {
			ops := tr.operations()
			if slices.Contains(ops, "acquirer.resolve") && slices.Contains(ops, "unigate.merchant.v1.MerchantNetworkService/InquireCredit") {
				resolved = true
			}
			got := tr.services()
			if len(got) > len(last) {
				last = got
			}
			if whole != nil || !containsAll(got, payTraceServices) ||
				!containsAll(ops, []string{"acquirer.post-ledger", "acquirer.relay-events"}) {
				continue
			}
			if tr.tag("unigate.payment_id") == "" || tr.tag("unigate.partner_id") == "" {
				t.Fatalf("trace %s has no unigate.payment_id or unigate.partner_id tag", tr.TraceID)
			}
			whole = &tr
		}
		if whole != nil && resolved {
			return *whole
		}
	}
	t.Fatalf("after 45s: a Pay trace with spans of %s, its posting and its relay: %v (the widest has %s); a Pay trace with the resolver's inquiry: %v",
		strings.Join(payTraceServices, ", "), whole != nil, strings.Join(last, ", "), resolved)
	return apiTrace{}
}
