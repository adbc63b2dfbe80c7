package election

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
)

var (
	leaderGauge = metrics.With.NewGaugeVec(prometheus.GaugeOpts{
		Name: "unigate_leader",
		Help: "1 while this process leads the singleton (election), 0 while it stands by.",
	}, []string{"singleton"})
	electionsWon = metrics.With.NewCounterVec(prometheus.CounterOpts{
		Name: "unigate_elections_won_total",
		Help: "Terms this process won in the singleton's election.",
	}, []string{"singleton"})
)

// standing makes a candidate's series exist (at 0) from its first
// campaign, so that a standby reports that it does not lead.
func standing(name string) {
	leaderGauge.WithLabelValues(name)
	electionsWon.WithLabelValues(name)
}

// leading counts a won term and reports this process leading until end
// is called. The gauge is added to, not set, so that two candidates of
// one election in one process (tests) cannot clear each other's term.
func leading(name string) (end func()) {
	electionsWon.WithLabelValues(name).Inc()
	g := leaderGauge.WithLabelValues(name)
	g.Inc()
	return g.Dec
}
