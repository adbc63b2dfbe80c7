package settlement

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
)

var cyclesClosed = metrics.With.NewCounterVec(prometheus.CounterOpts{
	Name: "unigate_settlement_cycles_closed_total",
	Help: `Settlement cycles closed by this process, by partner ("all" for a cycle of every partner) and trigger (schedule: the elected cutoff writer; operator: CloseCycle).`,
}, []string{"partner", "trigger"})

type closeKey struct{ partner, trigger string }

var closeCounts = metrics.NewCounters(cyclesClosed, func(k closeKey) []string { return []string{k.partner, k.trigger} })

// countClose counts a cycle that a close made (not one it found made).
func countClose(c Cycle, now time.Time, fence *Fence) {
	if c.CloseTime.Before(now.Add(-time.Second)) {
		return // closed before: the cutoff was closed already
	}
	k := closeKey{partner: c.PartnerID, trigger: "operator"}
	if k.partner == "" {
		k.partner = "all"
	}
	if fence != nil {
		k.trigger = "schedule"
	}
	closeCounts.Inc(k)
}

// The latest cutoff of each partner's cycles, read from the database at
// each scrape.
var (
	lastCutoffDesc = prometheus.NewDesc("unigate_settlement_last_cutoff_timestamp_seconds",
		`Cutoff of the newest closed settlement cycle, by partner ("all" for cycles of every partner), as a Unix time.`,
		[]string{"partner"}, nil)
	cutoffs = metrics.NewSources("settlement_cutoffs", lastCutoffDesc)
)

// ReportCutoffs makes each scrape of the process's metrics read the
// latest cutoffs from st, until stop is called.
func ReportCutoffs(st *SQLStore) (stop func()) {
	return cutoffs.Add(func(ctx context.Context) ([]prometheus.Metric, error) {
		rows, err := st.db.QueryContext(ctx, `SELECT c.partner_id, c.cutoff FROM settlement_cycles c
			WHERE NOT EXISTS (SELECT 1 FROM settlement_cycles d WHERE d.partner_id = c.partner_id AND d.cutoff > c.cutoff)`)
		if err != nil {
			return nil, fmt.Errorf("settlement: latest cutoffs: %w", err)
		}
		defer rows.Close()
		var out []prometheus.Metric
		seen := map[string]bool{}
		for rows.Next() {
			var partner string
			var cutoff time.Time
			if err := rows.Scan(&partner, &cutoff); err != nil {
				return nil, fmt.Errorf("settlement: latest cutoffs: %w", err)
			}
			if partner == "" {
				partner = "all"
			}
			if seen[partner] { // two cycles at one cutoff
				continue
			}
			seen[partner] = true
			out = append(out, prometheus.MustNewConstMetric(lastCutoffDesc, prometheus.GaugeValue, float64(cutoff.Unix()), partner))
		}
		return out, rows.Err()
	})
}
