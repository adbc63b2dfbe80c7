// Package fxsim is an FX rate provider simulator (`unigate fxsim`): several
// liquidity providers quoting bid and ask for a set of currency pairs, as
// the FX service's feeds (services/fx/feed) would receive them from real
// providers.
//
// Each pair has a market price that follows a log-normal random walk (a
// few basis points per tick, drifting slowly back to the configured mid)
// with occasional jumps of tens of basis points. Each provider quotes it
// with a small offset of its own, its own noise and its own spread, so the
// providers disagree slightly. Now and then, as configured, a provider
// sends a stale quote, a crossed quote or a garbage row, or goes silent
// for a while (an outage). A run is repeatable: the same Seed and the same
// step times give the same rows.
//
// The simulator serves the rates over gRPC (unigate.simulator.v1
// RateFeedService) and as JSON over HTTP (GET /rates?provider=NAME, a
// feed.Sheet).
package fxsim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// Row is one row a provider sent, exactly as it sent it: a garbage row
// too.
type Row struct {
	Base, Quote string
	// Bid and Ask are decimal strings, units of Quote per one unit of
	// Base (or garbage).
	Bid, Ask string
	// SourceTime is when the provider says it priced the pair; the zero
	// time if it sent none.
	SourceTime time.Time
}

// Batch is what one provider sent in one tick.
type Batch struct {
	Provider string
	Rows     []Row
}

// Sim is a simulated market and its providers. Its methods are safe for
// concurrent use.
type Sim struct {
	cfg Config

	mu        sync.Mutex
	rng       *rand.Rand // the market's
	market    []market
	providers []*provider
	byName    map[string]*provider
	stopped   chan struct{} // closed when Run returns
	stopOnce  sync.Once
}

// market is the market price of one pair.
type market struct {
	logMid float64 // log of the current market mid
	anchor float64 // log of the configured mid, which the walk drifts back to
	vol    float64 // per-tick standard deviation of log moves
}

// provider is one simulated provider.
type provider struct {
	name   string
	rng    *rand.Rand
	quotes []quote // per pair, in Config.Pairs order

	nextOutage time.Time // zero until the first step
	outageEnd  time.Time // zero unless in an outage
	latest     Batch     // last batch sent
	subs       map[chan Batch]struct{}
}

// quote is one provider's way of quoting one pair.
type quote struct {
	offset     float64 // the provider's constant bias, log units
	noise      float64 // the provider's own mean-reverting deviation, log units
	halfSpread float64 // half of the provider's spread, as a fraction of the mid
}

// Constants of the walk.
const (
	// marketReversion pulls the market back towards its configured mid:
	// each tick closes this fraction of the gap. With 2 bps of volatility
	// the market stays within about ±60 bps of its mid.
	marketReversion = 0.0005
	// noiseVolBps and noiseReversion shape a provider's own deviation from
	// the market: about ±1 bp, gone in a few seconds.
	noiseVolBps    = 0.5
	noiseReversion = 0.1
	// maxOffsetBps bounds a provider's constant bias on a pair.
	maxOffsetBps = 3
	// staleMin and staleMax bound the lag of a stale quote's source time.
	staleMin, staleMax = 30 * time.Second, 120 * time.Second
)

const bp = 1e-4

// New returns a simulator of cfg, which must be valid (Validate).
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Providers, cfg.Pairs = slices.Clone(cfg.Providers), slices.Clone(cfg.Pairs)
	s := &Sim{cfg: cfg, byName: make(map[string]*provider), stopped: make(chan struct{})}
	// The market has its own random source, and so has each provider
	// (seeded by its name too), so that adding a provider does not change
	// what the others quote.
	s.rng = rand.New(rand.NewPCG(uint64(cfg.Seed), 0))
	for _, p := range cfg.Pairs {
		mid, _ := strconv.ParseFloat(p.Mid.String(), 64)
		s.market = append(s.market, market{logMid: math.Log(mid), anchor: math.Log(mid),
			vol: cfg.VolBps * bp * (0.5 + s.rng.Float64())})
	}
	for _, name := range cfg.Providers {
		h := fnv.New64a()
		h.Write([]byte(name))
		p := &provider{name: name, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), h.Sum64())),
			latest: Batch{Provider: name}, subs: make(map[chan Batch]struct{})}
		for _, pair := range cfg.Pairs {
			p.quotes = append(p.quotes, quote{
				offset:     (2*p.rng.Float64() - 1) * maxOffsetBps * bp,
				halfSpread: float64(pair.SpreadBps) * (0.8 + 0.6*p.rng.Float64()) * bp / 2,
			})
		}
		s.providers = append(s.providers, p)
		s.byName[name] = p
	}
	return s, nil
}

// Config returns the simulator's configuration.
func (s *Sim) Config() Config { return s.cfg }

// Step advances the market by one tick at time now and returns the
// batches the providers sent (none from a provider in an outage). Run
// calls it every Tick; a test calls it directly with simulated times.
func (s *Sim) Step(now time.Time) []Batch {
	now = now.UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.market {
		s.market[i].step(s.cfg, s.rng)
	}
	var out []Batch
	for _, p := range s.providers {
		for i := range p.quotes {
			q := &p.quotes[i]
			q.noise += -noiseReversion*q.noise + noiseVolBps*bp*p.rng.NormFloat64()
		}
		if p.down(now, s.cfg) {
			continue
		}
		b := Batch{Provider: p.name, Rows: make([]Row, len(s.cfg.Pairs))}
		for i, pair := range s.cfg.Pairs {
			b.Rows[i] = p.row(now, pair, s.market[i], p.quotes[i], s.cfg)
		}
		p.latest = b
		for ch := range p.subs {
			select {
			case ch <- b:
			default: // a subscriber that does not keep up misses a batch
			}
		}
		out = append(out, b)
	}
	return out
}

// step moves the market one tick.
func (m *market) step(cfg Config, rng *rand.Rand) {
	m.logMid += -marketReversion*(m.logMid-m.anchor) + m.vol*rng.NormFloat64()
	if cfg.JumpProb > 0 && rng.Float64() < cfg.JumpProb {
		jump := (cfg.JumpMinBps + (cfg.JumpMaxBps-cfg.JumpMinBps)*rng.Float64()) * bp
		if rng.IntN(2) == 0 {
			jump = -jump
		}
		m.logMid += jump
	}
}

// down says whether p is in an outage at now, starting and ending
// outages as their times come.
func (p *provider) down(now time.Time, cfg Config) bool {
	if cfg.OutageEvery <= 0 {
		return false
	}
	every := func() time.Duration {
		return time.Duration((0.5 + p.rng.Float64()) * float64(cfg.OutageEvery))
	}
	switch {
	case p.nextOutage.IsZero():
		p.nextOutage = now.Add(every())
	case !p.outageEnd.IsZero() && now.Before(p.outageEnd):
		return true
	case !p.outageEnd.IsZero():
		p.outageEnd = time.Time{}
		p.nextOutage = now.Add(every())
	}
	if now.Before(p.nextOutage) {
		return false
	}
	p.outageEnd = now.Add(cfg.OutageFor)
	return true
}

// row is what p sends for pair at now: usually a sane quote, sometimes
// a stale, crossed or garbage one.
func (p *provider) row(now time.Time, pair Pair, m market, q quote, cfg Config) Row {
	mid := math.Exp(m.logMid + q.offset + q.noise)
	r := Row{Base: pair.Base, Quote: pair.Quote, SourceTime: now,
		Bid: decimal(mid*(1-q.halfSpread), cfg.Digits, apd.RoundDown),
		Ask: decimal(mid*(1+q.halfSpread), cfg.Digits, apd.RoundCeiling)}
	switch u := p.rng.Float64(); {
	case u < cfg.GarbageProb:
		p.garble(&r)
	case u < cfg.GarbageProb+cfg.CrossedProb:
		r.Bid, r.Ask = r.Ask, r.Bid
	case u < cfg.GarbageProb+cfg.CrossedProb+cfg.StaleProb:
		lag := staleMin + time.Duration(p.rng.Int64N(int64(staleMax-staleMin)))
		r.SourceTime = now.Add(-lag).Truncate(time.Millisecond)
	}
	return r
}

// garble spoils r in one of the ways a real feed has been seen to.
func (p *provider) garble(r *Row) {
	switch p.rng.IntN(6) {
	case 0:
		r.Base = "XXQ" // not ISO 4217
	case 1:
		r.Bid = ""
	case 2:
		r.Ask = "abc"
	case 3:
		r.Bid = "-" + r.Bid
	case 4:
		r.Ask += "e0"
	default:
		r.SourceTime = time.Time{}
	}
}

// decimal formats the positive number x as a plain decimal of at most
// digits significant digits, rounded by rounding: never an exponent.
func decimal(x float64, digits int, rounding apd.Rounder) string {
	var d apd.Decimal
	if _, err := d.SetFloat64(x); err != nil {
		panic(err) // x is finite: the walk stays near its mid
	}
	ctx := apd.BaseContext.WithPrecision(uint32(digits))
	ctx.Rounding = rounding
	if _, err := ctx.Round(&d, &d); err != nil {
		panic(err)
	}
	var reduced apd.Decimal
	reduced.Reduce(&d)
	return reduced.Text('f')
}
