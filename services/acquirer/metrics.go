package acquirer

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
)

// Results as the metrics name them: the partner API's S, F and U.
const (
	resultS = "S"
	resultF = "F"
	resultU = "U"
)

var payments = metrics.With.NewCounterVec(prometheus.CounterOpts{
	Name: "unigate_payments_total",
	Help: "Payments that reached a result, by partner, mode (MPM/CPM) and result: S and F when recorded, U when the request path left the payment to the resolver (it is counted again with its S or F when resolved).",
}, []string{"partner", "mode", "result"})

type paymentKey struct {
	partner string
	mode    Mode
	result  string
}

// paymentCounts are the counters by key: partners are few, modes two,
// results three.
var paymentCounts = metrics.NewCounters(payments, func(k paymentKey) []string {
	return []string{k.partner, string(k.mode), k.result}
})

// counted records that p reached result.
func counted(p Payment, result string) {
	paymentCounts.Inc(paymentKey{partner: p.PartnerID, mode: p.Mode, result: result})
}

// The backlog, read from the acquirer's database at each scrape.
var (
	processingDesc = prometheus.NewDesc("unigate_payments_processing",
		"Payments in PROCESSING: in flight, or U and the resolver's to finish.", nil, nil)
	oldestDesc = prometheus.NewDesc("unigate_payments_processing_oldest_age_seconds",
		"Age of the oldest payment in PROCESSING (0 when none).", nil, nil)
	unpostedDesc = prometheus.NewDesc("unigate_payments_unposted",
		"Finished payments that still owe the ledger their postings.", nil, nil)
	backlogs = metrics.NewSources("acquirer_backlog", processingDesc, oldestDesc, unpostedDesc)
)

// Backlog is the acquirer's work outstanding.
type Backlog struct {
	// Processing counts the payments in PROCESSING: in flight, or U and
	// the resolver's to finish.
	Processing int64
	// Oldest is the creation time of the oldest of them (zero when none).
	Oldest time.Time
	// Unposted counts the finished payments that still owe the ledger
	// their postings (the poster's queue, without the rows set aside).
	Unposted int64
}

// ReportBacklog makes each scrape of the process's metrics read the
// backlog with read (bounded by metrics.SourceTimeout), until stop is
// called.
func ReportBacklog(read func(ctx context.Context) (Backlog, error)) (stop func()) {
	return backlogs.Add(func(ctx context.Context) ([]prometheus.Metric, error) {
		b, err := read(ctx)
		if err != nil {
			return nil, err
		}
		age := 0.0
		if !b.Oldest.IsZero() {
			age = max(time.Since(b.Oldest).Seconds(), 0)
		}
		return []prometheus.Metric{
			prometheus.MustNewConstMetric(processingDesc, prometheus.GaugeValue, float64(b.Processing)),
			prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age),
			prometheus.MustNewConstMetric(unpostedDesc, prometheus.GaugeValue, float64(b.Unposted)),
		}, nil
	})
}
