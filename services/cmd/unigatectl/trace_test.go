package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A trace as Jaeger's query API returns it: a Pay at the acquirer calling
// risk, which queries its database, then (later, from the poster) the
// ledger posting in the same trace; one span failed.
const jaegerFixture = `{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"b1","operationName":"db INSERT","references":[{"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"r1"}],"startTime":1000300,"duration":200,"tags":[],"processID":"p2"},
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"a1","operationName":"/unigate.partner.v1.PartnerService/Pay","references":[],"startTime":1000000,"duration":2000,"tags":[{"key":"unigate.payment_id","type":"string","value":"pay-1"}],"processID":"p1"},
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"r1","operationName":"/unigate.risk.v1.RiskService/Evaluate","references":[{"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"a1"}],"startTime":1000200,"duration":500,"tags":[{"key":"rpc.grpc.status_code","type":"int64","value":14},{"key":"error","type":"bool","value":true}],"processID":"p2"},
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"s1","operationName":"acquirer.post-ledger","references":[{"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"a1"}],"startTime":1003000,"duration":1000,"tags":[],"processID":"p1"}
],"processes":{"p1":{"serviceName":"unigate-acquirer"},"p2":{"serviceName":"unigate-risk"}}}]}`

func TestWaterfall(t *testing.T) {
	var resp struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal([]byte(jaegerFixture), &resp); err != nil {
		t.Fatal(err)
	}
	ws := waterfalls(resp.Data)
	if len(ws) != 1 {
		t.Fatalf("%d waterfalls, want 1", len(ws))
	}
	w := ws[0]
	if w.Duration != 4*time.Millisecond {
		t.Errorf("trace duration %s, want 4ms (first start to last end)", w.Duration)
	}
	var got []string
	for _, s := range w.Spans {
		got = append(got, strings.Repeat(">", s.Depth)+s.Service+" "+s.Operation+" "+s.Status)
	}
	want := []string{
		"acquirer /unigate.partner.v1.PartnerService/Pay OK",
		">risk /unigate.risk.v1.RiskService/Evaluate ERROR Unavailable",
		">>risk db INSERT OK",
		">acquirer acquirer.post-ledger OK",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("spans:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := w.Spans[2]; s.Offset != 300*time.Microsecond || s.Duration != 200*time.Microsecond {
		t.Errorf("db span at %s for %s, want 300µs for 200µs", s.Offset, s.Duration)
	}
	var out bytes.Buffer
	drawWaterfall(&out, w, 8)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "trace 4bf92f3577b34da6a3ce929d0e0e4736") ||
		!strings.Contains(lines[0], "acquirer risk") {
		t.Fatalf("waterfall:\n%s", out.String())
	}
	// The Pay spans the first half of the 4 ms; the posting the last quarter.
	if !strings.HasSuffix(lines[2], "####....") || !strings.HasSuffix(lines[5], "......##") {
		t.Errorf("bars:\n%s", out.String())
	}
}

func TestBar(t *testing.T) {
	for _, c := range []struct {
		off, d, total time.Duration
		want          string
	}{
		{0, 10, 10, "##########"},
		{0, 0, 10, "#........."},
		{9, 1, 10, ".........#"},
		{10, 0, 10, ".........#"},
		{5, 0, 0, "##########"},
	} {
		if got := bar(c.off, c.d, c.total, 10); got != c.want {
			t.Errorf("bar(%d,%d,%d) = %q, want %q", c.off, c.d, c.total, got, c.want)
		}
	}
}
