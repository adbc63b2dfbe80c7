package fx

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/fx/feed"
)

// Pair is a currency pair: Quote units per one Base unit.
type Pair struct{ Base, Quote string }

// String formats the pair as "USD/CNY".
func (p Pair) String() string { return p.Base + "/" + p.Quote }

// ParsePair parses "USD/CNY".
func ParsePair(s string) (Pair, error) {
	b, q, ok := strings.Cut(s, "/")
	if !ok {
		return Pair{}, fmt.Errorf("pair %q: want BASE/QUOTE", s)
	}
	for _, c := range []string{b, q} {
		if _, err := money.LookupCurrency(c); err != nil {
			return Pair{}, fmt.Errorf("pair %q: %w", s, err)
		}
	}
	if b == q {
		return Pair{}, fmt.Errorf("pair %q: the same currency twice", s)
	}
	return Pair{Base: b, Quote: q}, nil
}

// Verdict is what best execution makes of a provider's latest rate.
type Verdict string

// Verdicts.
const (
	Chosen  Verdict = "CHOSEN"
	Usable  Verdict = "USABLE"
	Stale   Verdict = "STALE"
	Crossed Verdict = "CROSSED"
	Outlier Verdict = "OUTLIER"
)

// Judged is a provider's latest rate for a pair with its verdict.
type Judged struct {
	feed.Rate
	Mid     money.Rate
	Age     time.Duration
	Verdict Verdict
}

// BookConfig is how rates are judged.
type BookConfig struct {
	// Staleness is the age (from the provider's source time) beyond which
	// a rate is never used.
	Staleness time.Duration
	// OutlierBandBps rejects a rate whose mid is further than this from
	// the median mid of the other fresh providers of its pair (when there
	// are at least two others to judge by).
	OutlierBandBps int64
	// Reference is the currency a cross goes through where no direct pair
	// has a usable rate ("USD").
	Reference string
}

// Book holds every provider's latest rate per pair, as the replica last
// received it, and prices conversions from them. It is safe for
// concurrent use; reads do not touch the database.
type Book struct {
	cfg   BookConfig
	mu    sync.RWMutex
	rates map[Pair]map[string]feed.Rate
}

// NewBook returns an empty book.
func NewBook(cfg BookConfig) *Book {
	return &Book{cfg: cfg, rates: map[Pair]map[string]feed.Rate{}}
}

// Config returns how the book judges rates.
func (b *Book) Config() BookConfig { return b.cfg }

// Replace sets a provider's latest rates: every pair it names is replaced;
// pairs it does not name keep their previous rate (which ages out).
func (b *Book) Replace(provider string, rates []feed.Rate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range rates {
		p := Pair{r.Base, r.Quote}
		m := b.rates[p]
		if m == nil {
			m = map[string]feed.Rate{}
			b.rates[p] = m
		}
		if old, ok := m[provider]; ok && old.SourceTime.After(r.SourceTime) {
			continue // never go back in time
		}
		r.Provider = provider
		m[provider] = r
	}
}

// Pairs returns the pairs the book has rates for, sorted.
func (b *Book) Pairs() []Pair {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Pair, 0, len(b.rates))
	for p := range b.rates {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Judge returns every provider's latest rate for p with its verdict at
// now, sorted by provider. The best bid and the best ask among the usable
// rates are CHOSEN (one provider or two).
//
// A rate is STALE when older than the staleness limit, CROSSED when its
// bid is above its ask, an OUTLIER when its mid strays more than the band
// from the median mid of the fresh, uncrossed providers of the pair. It
// takes three to judge: with two, nobody can tell which is wrong (the best
// price is then used). The median counts the judged rate too: with three
// providers, the median of the other two would be the mean of a good rate
// and a bad one, and one bad rate would condemn both good ones.
func (b *Book) Judge(p Pair, now time.Time) []Judged {
	b.mu.RLock()
	m := b.rates[p]
	out := make([]Judged, 0, len(m))
	for _, r := range m {
		out = append(out, Judged{Rate: r, Mid: r.Bid.Mid(r.Ask), Age: now.Sub(r.SourceTime)})
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	var sane []int
	for i := range out {
		switch {
		case out[i].Age > b.cfg.Staleness:
			out[i].Verdict = Stale
		case out[i].Bid.Cmp(out[i].Ask) > 0:
			out[i].Verdict = Crossed
		default:
			sane = append(sane, i)
		}
	}
	if len(sane) >= 3 {
		mids := make([]money.Rate, 0, len(sane))
		for _, i := range sane {
			mids = append(mids, out[i].Mid)
		}
		median := money.Median(mids)
		for _, i := range sane {
			if out[i].Mid.DeviationBps(median) > b.cfg.OutlierBandBps {
				out[i].Verdict = Outlier
			}
		}
	}
	bestBid, bestAsk := -1, -1
	for _, i := range sane {
		if out[i].Verdict != "" {
			continue
		}
		out[i].Verdict = Usable
		if bestBid < 0 || out[i].Bid.Cmp(out[bestBid].Bid) > 0 {
			bestBid = i
		}
		if bestAsk < 0 || out[i].Ask.Cmp(out[bestAsk].Ask) < 0 {
			bestAsk = i
		}
	}
	if bestBid >= 0 {
		out[bestBid].Verdict, out[bestAsk].Verdict = Chosen, Chosen
	}
	return out
}

// best returns the usable rate of p with the best bid (sell=true: Unigate
// sells Base) or the best ask (Unigate buys Base), and a description of
// why there is none.
func (b *Book) best(p Pair, now time.Time, sell bool) (Judged, bool, string) {
	js := b.Judge(p, now)
	if len(js) == 0 {
		return Judged{}, false, "no provider quotes " + p.String()
	}
	var (
		best  Judged
		found bool
		why   []string
	)
	for _, j := range js {
		switch j.Verdict {
		case Chosen, Usable:
			if !found || (sell && j.Bid.Cmp(best.Bid) > 0) || (!sell && j.Ask.Cmp(best.Ask) < 0) {
				best, found = j, true
			}
		case Stale:
			why = append(why, fmt.Sprintf("%s stale (%s old, limit %s)", j.Provider, j.Age.Round(time.Millisecond), b.cfg.Staleness))
		default:
			why = append(why, fmt.Sprintf("%s %s", j.Provider, strings.ToLower(string(j.Verdict))))
		}
	}
	return best, found, p.String() + ": " + strings.Join(why, ", ")
}

// Leg is one conversion of a price: a provider's rate for a pair.
type Leg struct {
	Pair     Pair
	Provider string
	Bid, Ask money.Rate
	Source   time.Time
}

// Conversion is the price of one unit of a currency in another.
type Conversion struct {
	// From is the currency delivered (the merchant's), To the currency
	// paid for it.
	From, To string
	// Cost is units of To Unigate pays for one unit of From at the best
	// usable rates; Mid the same at their mids.
	Cost, Mid money.Rate
	Legs      []Leg
}

// Convert prices one unit of from in to at now: the direct pair if a
// provider has a usable rate for it either way round, else a cross through
// the reference currency, else ErrRateNotAvailable saying why.
//
// Rounding: a pair read the other way round is inverted to 20 significant
// digits, and a cross multiplies its legs to 20 significant digits, both
// rounded up for the cost (Unigate never prices below what covering costs
// it) and half-even for the mid.
func (b *Book) Convert(from, to string, now time.Time) (Conversion, error) {
	if from == to {
		return Conversion{From: from, To: to, Cost: money.One, Mid: money.One}, nil
	}
	c, why, ok := b.direct(from, to, now)
	if ok {
		return c, nil
	}
	ref := b.cfg.Reference
	if ref == "" || from == ref || to == ref {
		return Conversion{}, rpcerr.New(rpcerr.RateNotAvailable, "no usable rate for %s to %s: %s", from, to, why)
	}
	first, why1, ok1 := b.direct(from, ref, now)
	second, why2, ok2 := b.direct(ref, to, now)
	if !ok1 || !ok2 {
		var cross []string
		if !ok1 {
			cross = append(cross, why1)
		}
		if !ok2 {
			cross = append(cross, why2)
		}
		return Conversion{}, rpcerr.New(rpcerr.RateNotAvailable, "no usable rate for %s to %s: %s; no cross through %s: %s",
			from, to, why, ref, strings.Join(cross, "; "))
	}
	cost, err := first.Cost.Mul(second.Cost, money.RoundUp)
	if err != nil {
		return Conversion{}, err
	}
	mid, err := first.Mid.Mul(second.Mid, money.RoundHalfEven)
	if err != nil {
		return Conversion{}, err
	}
	return Conversion{From: from, To: to, Cost: cost, Mid: mid, Legs: append(first.Legs, second.Legs...)}, nil
}

// direct prices from in to through the pair from/to or to/from.
func (b *Book) direct(from, to string, now time.Time) (Conversion, string, bool) {
	// from/to: to per from; Unigate buys from (base) and pays the ask.
	j, ok, why1 := b.best(Pair{from, to}, now, false)
	if ok {
		return Conversion{From: from, To: to, Cost: j.Ask, Mid: j.Mid, Legs: []Leg{legOf(j)}}, "", true
	}
	// to/from: from per to; Unigate sells to (base) at the bid, so one
	// from costs 1/bid of to.
	j, ok, why2 := b.best(Pair{to, from}, now, true)
	if ok {
		cost, err1 := j.Bid.Inverse(money.RoundUp)
		mid, err2 := j.Mid.Inverse(money.RoundHalfEven)
		if err1 == nil && err2 == nil {
			return Conversion{From: from, To: to, Cost: cost, Mid: mid, Legs: []Leg{legOf(j)}}, "", true
		}
	}
	var why []string
	for _, w := range []string{why1, why2} {
		if !strings.HasPrefix(w, "no provider quotes") {
			why = append(why, w)
		}
	}
	if len(why) == 0 {
		return Conversion{}, fmt.Sprintf("no provider quotes %s/%s or %s/%s", from, to, to, from), false
	}
	return Conversion{}, strings.Join(why, "; "), false
}

func legOf(j Judged) Leg {
	return Leg{Pair: Pair{j.Base, j.Quote}, Provider: j.Provider, Bid: j.Bid, Ask: j.Ask, Source: j.SourceTime}
}
