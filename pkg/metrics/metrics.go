// Package metrics holds the process's Prometheus registry and serves it
// over HTTP at /metrics.
//
// A process has one registry, Registry, whatever services it runs (one in
// production; all of them in a Stack, in tests). Each package declares its
// metrics once, as package-level variables registered in Registry (With
// gives the factory), so starting a service twice in one process (tests,
// replicas side by side) never registers a metric twice. Metrics read from
// a running service's state — a database queried on scrape, a pool's
// statistics — are Sources the service adds while it runs and removes when
// it stops.
//
// Every metric Unigate exports is documented in docs/metrics.md, and the
// alerting rules in deploy/prometheus are checked against that document.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is the process's registry: the Go runtime's and the process's
// collectors, and every metric declared through With.
var Registry = newRegistry()

func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// With is the factory of metrics registered in Registry.
var With = promauto.With(Registry)

// Handler serves Registry in the Prometheus text (or OpenMetrics) format.
// A collector that fails is left out of the answer rather than failing
// the whole scrape.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: scrapeTimeout})
}

// scrapeTimeout bounds one answer; sources bound their own queries
// (SourceTimeout) well within it.
const scrapeTimeout = 10 * time.Second

// Serve serves Handler at /metrics on lis until ctx ends, then shuts the
// server down, letting a scrape in progress finish for up to a second.
func Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, false)
}

// ServeWithProfiles is Serve with Go's runtime profiles (net/http/pprof)
// at /debug/pprof/ too: CPU (/debug/pprof/profile?seconds=N), heap,
// goroutines, mutex and block profiles, and execution traces.
func ServeWithProfiles(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, true)
}

func serve(ctx context.Context, lis net.Listener, profiles bool) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler())
	if profiles {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Value returns the value of the counter or gauge name whose labels
// include labels (of a histogram, its sample count), summed over the
// series that match, and whether any matched: for tests and tools.
func Value(name string, labels map[string]string) (float64, bool) {
	mfs, err := Registry.Gather()
	if err != nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
	}
	return sum, found
}
