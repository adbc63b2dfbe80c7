package fx

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
	"github.com/unigate/unigate/pkg/rpcerr"
)

var (
	quotes = metrics.With.NewCounterVec(prometheus.CounterOpts{
		Name: "unigate_fx_quotes_total",
		Help: "Quotes created, by partner.",
	}, []string{"partner"})
	quoteLocks = metrics.With.NewCounterVec(prometheus.CounterOpts{
		Name: "unigate_fx_quote_locks_total",
		Help: "Attempts to lock a quote to a payment, by result: locked (or locked again by the same payment), expired (the quote expired unused before the payment came), already_used, mismatch, not_found, error.",
	}, []string{"result"})
)

// quoteCounts are the quote counters by partner (partners are few).
var quoteCounts = metrics.NewCounters(quotes, func(partner string) []string { return []string{partner} })

// lockResults are the lock counters by result, made at start.
var lockResults = func() map[rpcerr.Reason]prometheus.Counter {
	m := map[rpcerr.Reason]prometheus.Counter{}
	for r, label := range map[rpcerr.Reason]string{
		"":                      "locked",
		rpcerr.QuoteExpired:     "expired",
		rpcerr.QuoteAlreadyUsed: "already_used",
		rpcerr.QuoteMismatch:    "mismatch",
		rpcerr.QuoteNotFound:    "not_found",
		rpcerr.Internal:         "error",
	} {
		m[r] = quoteLocks.WithLabelValues(label)
	}
	return m
}()

// countLock counts a LockQuote that returned err.
func countLock(err error) {
	if err == nil {
		lockResults[""].Inc()
		return
	}
	c, ok := lockResults[rpcerr.ReasonOf(err)]
	if !ok || rpcerr.ReasonOf(err) == "" {
		c = lockResults[rpcerr.Internal]
	}
	c.Inc()
}
