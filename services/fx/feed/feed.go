// Package feed is the one interface behind which every FX rate provider
// sits, and its implementations: a gRPC stream (GRPCFeed), an HTTP JSON poll
// (HTTPFeed), an operator's rate sheet on disk (FileFeed) and a fixed list
// of rates (StaticFeed).
//
// A feed turns what a provider sends into Rates and checks each row on its
// own: a row with an unknown currency, a malformed price or a source time in
// the future is not delivered but reported to the caller's reject function
// with a short, stable reason (the Reason constants), and the rest of its
// batch is delivered. A feed does not judge prices against each other (a
// crossed quote, a stale one, a jump): that is the FX service's job.
//
// The HTTP and file feeds read a Sheet, JSON such as
//
//	{"provider":"alpha","rates":[{"base":"USD","quote":"CNY","bid":"7.10","ask":"7.11","source_time":"2026-12-02T10:00:00.123Z"}]}
package feed

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/unigate/unigate/pkg/money"
)

// Rate is one provider's price for one currency pair, as received.
// Bid and Ask are units of Quote per one unit of Base.
type Rate struct {
	Provider    string
	Base, Quote string     // ISO 4217 codes
	Bid, Ask    money.Rate // github.com/unigate/unigate/pkg/money
	SourceTime  time.Time  // when the provider priced it (UTC)
	ReceiveTime time.Time  // when Unigate received it (UTC)
}

// Feed is one provider's source of rates.
type Feed interface {
	// Provider names the provider ("alpha").
	Provider() string
	// Run delivers batches of rates to emit until ctx ends (then it returns ctx.Err()) or the source fails
	// beyond recovery. It reconnects/retries on its own with backoff (capped ~2s) while ctx lives.
	// A row that cannot be parsed or is not a sane rate is not delivered: reject is called with a reason
	// (stable short strings: "unknown currency", "same currency", "bad bid", "bad ask", "missing source time",
	// "source time in the future", "wrong provider", "malformed", ...) and the rest of the batch is delivered.
	// Crossed quotes (bid > ask) ARE delivered: judging them is the FX service's job.
	Run(ctx context.Context, emit func([]Rate), reject func(reason string)) error
}

// The reasons a feed passes to reject. They are stable: the FX service
// counts rejects by reason, and docs/fxsim.md lists them.
const (
	// ReasonUnknownCurrency: the base or quote is not an ISO 4217 code.
	ReasonUnknownCurrency = "unknown currency"
	// ReasonSameCurrency: the base and the quote are the same currency.
	ReasonSameCurrency = "same currency"
	// ReasonBadBid: the bid is not a plain positive decimal of at most 20
	// significant digits (money.ParseRate).
	ReasonBadBid = "bad bid"
	// ReasonBadAsk: the ask is not a plain positive decimal of at most 20
	// significant digits.
	ReasonBadAsk = "bad ask"
	// ReasonMissingSourceTime: the row has no source time.
	ReasonMissingSourceTime = "missing source time"
	// ReasonBadSourceTime: the source time is not a valid timestamp
	// (RFC 3339 with a zone in JSON).
	ReasonBadSourceTime = "bad source time"
	// ReasonFutureSourceTime: the source time is more than MaxClockSkew
	// ahead of the receive clock.
	ReasonFutureSourceTime = "source time in the future"
	// ReasonWrongProvider: a batch names another provider than the feed's.
	// It is reported once for the whole batch, none of whose rows is
	// delivered.
	ReasonWrongProvider = "wrong provider"
	// ReasonMalformed: a row that is not a JSON object of strings, or a
	// whole response or sheet that is not a Sheet (then reported once), or
	// an HTTP status other than 200.
	ReasonMalformed = "malformed"
	// ReasonUnavailable: the source could not be reached or read (a gRPC
	// stream that failed, an HTTP request that got no response, a missing
	// file). The feed tries again.
	ReasonUnavailable = "unavailable"
)

// MaxClockSkew is how far ahead of the receive clock a source time may be
// before the row is rejected (ReasonFutureSourceTime).
const MaxClockSkew = 5 * time.Second

// DefaultInterval is the poll interval of an HTTP, file or static feed
// built with a non-positive interval.
const DefaultInterval = time.Second

// row is a rate as a provider sent it, before any check.
type row struct {
	base, quote, bid, ask string
	// sourceTime is the zero time when the provider sent none.
	sourceTime time.Time
	// badTime says the provider sent a source time that is not one.
	badTime bool
	// malformed says the row could not be decoded at all.
	malformed bool
}

// check turns r into a Rate from provider received at now, or says why
// it cannot.
func check(provider string, r row, now time.Time) (Rate, string) {
	if r.malformed {
		return Rate{}, ReasonMalformed
	}
	if _, err := money.LookupCurrency(r.base); err != nil {
		return Rate{}, ReasonUnknownCurrency
	}
	if _, err := money.LookupCurrency(r.quote); err != nil {
		return Rate{}, ReasonUnknownCurrency
	}
	if r.base == r.quote {
		return Rate{}, ReasonSameCurrency
	}
	bid, err := money.ParseRate(r.bid)
	if err != nil {
		return Rate{}, ReasonBadBid
	}
	ask, err := money.ParseRate(r.ask)
	if err != nil {
		return Rate{}, ReasonBadAsk
	}
	if r.badTime {
		return Rate{}, ReasonBadSourceTime
	}
	if r.sourceTime.IsZero() {
		return Rate{}, ReasonMissingSourceTime
	}
	if r.sourceTime.After(now.Add(MaxClockSkew)) {
		return Rate{}, ReasonFutureSourceTime
	}
	return Rate{Provider: provider, Base: r.base, Quote: r.quote, Bid: bid, Ask: ask,
		SourceTime: r.sourceTime.UTC(), ReceiveTime: now}, ""
}

// deliver checks a batch that names sentBy and was received at now: it
// emits the rows that pass (if any) and rejects the others.
func deliver(provider, sentBy string, rows []row, now time.Time, emit func([]Rate), reject func(string)) {
	if sentBy != provider {
		reject(ReasonWrongProvider)
		return
	}
	rates := make([]Rate, 0, len(rows))
	for _, r := range rows {
		rate, reason := check(provider, r, now)
		if reason != "" {
			reject(reason)
			continue
		}
		rates = append(rates, rate)
	}
	if len(rates) > 0 {
		emit(rates)
	}
}

// clock returns now, or time.Now if now is nil, as a UTC reader.
func clock(now func() time.Time) func() time.Time {
	if now == nil {
		now = time.Now
	}
	return func() time.Time { return now().UTC() }
}

// orNop returns reject, or a function that ignores reasons if it is nil.
func orNop(reject func(string)) func(string) {
	if reject == nil {
		return func(string) {}
	}
	return reject
}

// intervalOrDefault returns d, or DefaultInterval if d is not positive.
func intervalOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultInterval
	}
	return d
}

// Retry waits: from minBackoff, doubling, up to maxBackoff, each wait
// jittered to between half and all of it.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// backoff is the wait before the next attempt to reach a source.
type backoff struct{ next time.Duration }

// wait sleeps for the next backoff, or until ctx ends (then it returns
// ctx.Err()).
func (b *backoff) wait(ctx context.Context) error {
	d := max(b.next, minBackoff)
	b.next = min(2*d, maxBackoff)
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reset starts the backoff again from its minimum, after a success.
func (b *backoff) reset() { b.next = 0 }

// ticks calls poll at once and then every d until ctx ends, and returns
// ctx.Err().
func ticks(ctx context.Context, d time.Duration, poll func()) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		poll()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
