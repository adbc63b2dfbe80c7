package metrics

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SourceTimeout bounds what one scrape waits for a source: a database
// that does not answer within it leaves the source's metrics out of that
// scrape.
const SourceTimeout = time.Second

// A Source reads metrics on scrape, typically with a query on a service's
// database (prometheus.MustNewConstMetric builds them); ctx carries
// SourceTimeout.
type Source func(ctx context.Context) ([]prometheus.Metric, error)

// Sources is a collector of metrics read from the running services of a
// kind at each scrape. Only the oldest source still added is read: the
// replicas of one service in one process (in tests) share their database
// and would report the same series twice.
type Sources struct {
	descs  []*prometheus.Desc
	failed prometheus.Counter
	mu     sync.Mutex
	srcs   []*Source // oldest first
}

// sourceErrors counts the scrapes a source failed, by source.
var sourceErrors = With.NewCounterVec(prometheus.CounterOpts{
	Name: "unigate_metrics_source_errors_total",
	Help: "Scrapes in which a source of metrics read on scrape (a database query) failed or timed out; its metrics were left out.",
}, []string{"source"})

// NewSources returns an empty collector, named name in
// unigate_metrics_source_errors_total, of the metrics descs, registered in
// Registry.
func NewSources(name string, descs ...*prometheus.Desc) *Sources {
	s := &Sources{descs: descs, failed: sourceErrors.WithLabelValues(name)}
	Registry.MustRegister(s)
	return s
}

// Add adds src until remove is called.
func (s *Sources) Add(src Source) (remove func()) {
	p := &src
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srcs = append(s.srcs, p)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.srcs = slices.DeleteFunc(s.srcs, func(q *Source) bool { return q == p })
	}
}

// Describe implements prometheus.Collector.
func (s *Sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the oldest source.
// A source that fails reports nothing in this scrape.
func (s *Sources) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	var src Source
	if len(s.srcs) > 0 {
		src = *s.srcs[0]
	}
	s.mu.Unlock()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), SourceTimeout)
	defer cancel()
	got, err := src(ctx)
	if err != nil {
		s.failed.Inc()
		return
	}
	for _, m := range got {
		ch <- m
	}
}
