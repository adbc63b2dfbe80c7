package feed

import (
	"context"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
)

// StaticRate is one pair a StaticFeed quotes: a mid rate (units of Quote
// per one unit of Base) and the spread between bid and ask around it.
type StaticRate struct {
	Base, Quote string // ISO 4217 codes
	Mid         money.Rate
	// SpreadBps is ask − bid in basis points of Mid, 0 to 19999:
	// Bid = Mid × (1 − SpreadBps/20000), Ask = Mid × (1 + SpreadBps/20000).
	SpreadBps int
}

// StaticFeed emits a fixed list of rates every interval, priced now: for
// tests, and for a switch run in one process without a rate provider.
type StaticFeed struct {
	// Now is the clock that prices and receives the rates; nil means
	// time.Now. Set it before Run.
	Now func() time.Time

	provider string
	rates    []Rate // SourceTime and ReceiveTime set per tick
	interval time.Duration
}

var _ Feed = (*StaticFeed)(nil)

// NewStaticFeed returns a feed that emits provider's rates every interval
// (DefaultInterval if it is not positive), each with its bid and ask
// computed exactly from its mid and spread. It fails if a pair has an
// unknown or repeated currency, no mid, or a spread outside 0–19999 bps.
func NewStaticFeed(provider string, rates []StaticRate, interval time.Duration) (*StaticFeed, error) {
	f := &StaticFeed{provider: provider, interval: intervalOrDefault(interval)}
	for _, r := range rates {
		if _, err := money.LookupCurrency(r.Base); err != nil {
			return nil, fmt.Errorf("feed: static %s/%s: %w", r.Base, r.Quote, err)
		}
		if _, err := money.LookupCurrency(r.Quote); err != nil {
			return nil, fmt.Errorf("feed: static %s/%s: %w", r.Base, r.Quote, err)
		}
		if r.Base == r.Quote {
			return nil, fmt.Errorf("feed: static %s/%s: same currency", r.Base, r.Quote)
		}
		if r.SpreadBps < 0 || r.SpreadBps >= 20000 {
			return nil, fmt.Errorf("feed: static %s/%s: spread %d bps is not in 0–19999", r.Base, r.Quote, r.SpreadBps)
		}
		bid, err := r.Mid.Scale(int64(20000-r.SpreadBps), 20000, money.RoundDown)
		if err != nil {
			return nil, fmt.Errorf("feed: static %s/%s: %w", r.Base, r.Quote, err)
		}
		ask, err := r.Mid.Scale(int64(20000+r.SpreadBps), 20000, money.RoundUp)
		if err != nil {
			return nil, fmt.Errorf("feed: static %s/%s: %w", r.Base, r.Quote, err)
		}
		f.rates = append(f.rates, Rate{Provider: provider, Base: r.Base, Quote: r.Quote, Bid: bid, Ask: ask})
	}
	return f, nil
}

// Provider names the provider.
func (f *StaticFeed) Provider() string { return f.provider }

// Run emits the rates at once and then every interval until ctx ends, and
// returns ctx.Err(). It never rejects.
func (f *StaticFeed) Run(ctx context.Context, emit func([]Rate), _ func(reason string)) error {
	now := clock(f.Now)
	return ticks(ctx, f.interval, func() {
		if len(f.rates) == 0 {
			return
		}
		t := now()
		batch := make([]Rate, len(f.rates))
		for i, r := range f.rates {
			r.SourceTime, r.ReceiveTime = t, t
			batch[i] = r
		}
		emit(batch)
	})
}
