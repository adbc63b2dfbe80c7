package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testCounter = With.NewCounterVec(prometheus.CounterOpts{Name: "unigate_test_events_total", Help: "Test events."}, []string{"kind", "result"})

type testKey struct{ kind, result string }

// TestServe scrapes the registry over HTTP: the Go runtime's, the
// process's and a declared metric are there, and the server stops with
// its context.
func TestServe(t *testing.T) {
	c := NewCounters(testCounter, func(k testKey) []string { return []string{k.kind, k.result} })
	c.Inc(testKey{"a", "S"})
	c.Inc(testKey{"a", "S"})
	c.Inc(testKey{"b", "F"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, lis) }()
	resp, err := http.Get("http://" + lis.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`unigate_test_events_total{kind="a",result="S"} 2`,
		`unigate_test_events_total{kind="b",result="F"} 1`,
		"go_goroutines ", "process_open_fds ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + lis.Addr().String() + "/metrics"); err == nil {
		t.Fatal("still serving after its context ended")
	}
	if v, ok := Value("unigate_test_events_total", map[string]string{"kind": "a"}); !ok || v != 2 {
		t.Fatalf("Value = %v %v, want 2", v, ok)
	}
}

// TestCountersDoNotAllocate: a counter found again costs no allocation.
func TestCountersDoNotAllocate(t *testing.T) {
	c := NewCounters(testCounter, func(k testKey) []string { return []string{k.kind, k.result} })
	k := testKey{"hot", "S"}
	c.Inc(k)
	if n := testing.AllocsPerRun(100, func() { c.Inc(k) }); n != 0 {
		t.Fatalf("%v allocations per Inc", n)
	}
}

// TestSources: the oldest source added is read at each scrape; a failing
// source reports nothing and is counted; a removed one is no longer read.
func TestSources(t *testing.T) {
	desc := prometheus.NewDesc("unigate_test_backlog", "Test backlog.", nil, nil)
	s := NewSources("test", desc)
	fail := false
	src := func(v float64) Source {
		return func(ctx context.Context) ([]prometheus.Metric, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("a source read without a deadline")
			}
			if fail {
				return nil, errors.New("database down")
			}
			return []prometheus.Metric{prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)}, nil
		}
	}
	if _, ok := Value("unigate_test_backlog", nil); ok {
		t.Fatal("a value with no source")
	}
	removeA := s.Add(src(7))
	removeB := s.Add(src(9))
	if v, _ := Value("unigate_test_backlog", nil); v != 7 {
		t.Fatalf("backlog %v, want the oldest source's 7", v)
	}
	errs, _ := Value("unigate_metrics_source_errors_total", map[string]string{"source": "test"})
	fail = true
	if _, ok := Value("unigate_test_backlog", nil); ok {
		t.Fatal("a failed source reported")
	}
	// (This scrape fails the source too, and may count it first.)
	if now, _ := Value("unigate_metrics_source_errors_total", map[string]string{"source": "test"}); now < errs+1 {
		t.Fatalf("source errors %v, want at least %v", now, errs+1)
	}
	fail = false
	removeA()
	if v, _ := Value("unigate_test_backlog", nil); v != 9 {
		t.Fatalf("backlog %v after removing the first source, want 9", v)
	}
	removeB()
	if _, ok := Value("unigate_test_backlog", nil); ok {
		t.Fatal("a value after every source was removed")
	}
}
