package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Counters finds the counters of a CounterVec by a comparable key (a
// struct of the label values) with one map read and no allocation, for
// hot paths: the vector itself hashes its label values on every lookup.
// Keys must be few (bounded label values), as the counters are kept.
type Counters[K comparable] struct {
	vec    *prometheus.CounterVec
	labels func(K) []string
	mu     sync.RWMutex
	m      map[K]prometheus.Counter
}

// NewCounters returns the counters of vec, whose label values for a key
// are labels(key), in vec's label order.
func NewCounters[K comparable](vec *prometheus.CounterVec, labels func(K) []string) *Counters[K] {
	return &Counters[K]{vec: vec, labels: labels, m: map[K]prometheus.Counter{}}
}

// Get returns the counter of k, creating it at its first use.
func (c *Counters[K]) Get(k K) prometheus.Counter {
	c.mu.RLock()
	ctr, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return ctr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctr, ok = c.m[k]; !ok {
		ctr = c.vec.WithLabelValues(c.labels(k)...)
		c.m[k] = ctr
	}
	return ctr
}

// Inc adds one to the counter of k.
func (c *Counters[K]) Inc(k K) { c.Get(k).Inc() }
