package risk

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
)

var decisions = metrics.With.NewCounterVec(prometheus.CounterOpts{
	Name: "unigate_risk_decisions_total",
	Help: "Risk decisions, by check (evaluate: a payment's first evaluation, repeats not counted; name_user: each answer on moving a CPM payment to its named user), outcome (approve, review, decline) and reason (a decline's reason code, empty otherwise).",
}, []string{"check", "outcome", "reason"})

type decisionKey struct{ check, outcome, reason string }

var decisionCounts = metrics.NewCounters(decisions, func(k decisionKey) []string {
	return []string{k.check, k.outcome, k.reason}
})

// outcomeLabels are the outcomes as the metrics name them.
var outcomeLabels = map[string]string{Approve: "approve", Review: "review", Decline: "decline"}

// countDecision counts a decision d of check.
func countDecision(check string, d Decision) {
	k := decisionKey{check: check, outcome: outcomeLabels[d.Outcome]}
	if d.Outcome == Decline {
		k.reason = string(d.Reason)
	}
	decisionCounts.Inc(k)
}
