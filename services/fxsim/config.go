package fxsim

import (
	"errors"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
)

// Pair is a currency pair the providers quote.
type Pair struct {
	// Base and Quote are ISO 4217 codes; prices are units of Quote per one
	// unit of Base.
	Base, Quote string
	// Mid is where the market starts and what it drifts back to.
	Mid money.Rate
	// SpreadBps is the pair's typical spread (ask − bid) in basis points of
	// the mid; each provider quotes between 0.8 and 1.4 times it.
	SpreadBps int
}

// Config is a simulated market and its providers.
type Config struct {
	// Providers are the providers' names ("alpha"); each quotes every pair.
	Providers []string
	// Pairs are the currency pairs quoted.
	Pairs []Pair
	// Tick is how often every provider sends a batch.
	Tick time.Duration
	// Seed makes a run repeatable: the same seed and the same step times
	// give the same rates.
	Seed int64
	// VolBps is the typical standard deviation of a pair's per-tick move,
	// in basis points; each pair's own is drawn between 0.5 and 1.5 times
	// it.
	VolBps float64
	// JumpProb is the chance, per pair and tick, that the market jumps by
	// JumpMinBps to JumpMaxBps, up or down, for every provider at once.
	JumpProb               float64
	JumpMinBps, JumpMaxBps float64
	// StaleProb is the chance, per row, that a provider sends a stale
	// quote: a source time 30 to 120 s in the past.
	StaleProb float64
	// CrossedProb is the chance, per row, of a crossed quote: bid above ask.
	CrossedProb float64
	// GarbageProb is the chance, per row, of a row no feed should accept:
	// an unknown currency (XXQ), an empty, non-numeric, negative or
	// exponent bid or ask, or no source time.
	GarbageProb float64
	// OutageEvery is how often, roughly (0.5 to 1.5 times it, at random),
	// each provider goes silent for OutageFor. 0: never.
	OutageEvery, OutageFor time.Duration
	// Digits is the number of significant digits of every bid and ask.
	Digits int
}

// DefaultConfig is three providers quoting eleven pairs four times a
// second, with now and then a stale, crossed or garbage row, a jump, and
// an outage of 10 s about every 5 minutes per provider.
func DefaultConfig() Config {
	return Config{
		Providers: []string{"alpha", "beta", "gamma"},
		Pairs: []Pair{
			{Base: "USD", Quote: "CNY", Mid: money.MustRate("7.10"), SpreadBps: 4},
			{Base: "USD", Quote: "MNT", Mid: money.MustRate("3390"), SpreadBps: 30},
			{Base: "USD", Quote: "VND", Mid: money.MustRate("25380"), SpreadBps: 20},
			{Base: "USD", Quote: "SGD", Mid: money.MustRate("1.342"), SpreadBps: 3},
			{Base: "USD", Quote: "HKD", Mid: money.MustRate("7.79"), SpreadBps: 2},
			{Base: "USD", Quote: "JPY", Mid: money.MustRate("149.8"), SpreadBps: 2},
			{Base: "USD", Quote: "KRW", Mid: money.MustRate("1392"), SpreadBps: 6},
			{Base: "USD", Quote: "KWD", Mid: money.MustRate("0.3075"), SpreadBps: 8},
			{Base: "USD", Quote: "BHD", Mid: money.MustRate("0.376"), SpreadBps: 8},
			{Base: "CNY", Quote: "MNT", Mid: money.MustRate("477.5"), SpreadBps: 40},
			{Base: "CNY", Quote: "HKD", Mid: money.MustRate("1.097"), SpreadBps: 6},
		},
		Tick:        250 * time.Millisecond,
		Seed:        1,
		VolBps:      2,
		JumpProb:    0.0002,
		JumpMinBps:  20,
		JumpMaxBps:  80,
		StaleProb:   0.002,
		CrossedProb: 0.001,
		GarbageProb: 0.001,
		OutageEvery: 5 * time.Minute,
		OutageFor:   10 * time.Second,
		Digits:      6,
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if len(c.Providers) == 0 {
		return errors.New("fxsim: no providers")
	}
	seen := make(map[string]bool)
	for _, p := range c.Providers {
		if p == "" || seen[p] {
			return fmt.Errorf("fxsim: provider %q is empty or repeated", p)
		}
		seen[p] = true
	}
	if len(c.Pairs) == 0 {
		return errors.New("fxsim: no pairs")
	}
	for _, p := range c.Pairs {
		for _, code := range []string{p.Base, p.Quote} {
			if _, err := money.LookupCurrency(code); err != nil {
				return fmt.Errorf("fxsim: pair %s/%s: %w", p.Base, p.Quote, err)
			}
		}
		name := p.Base + "/" + p.Quote
		if p.Base == p.Quote || seen[name] {
			return fmt.Errorf("fxsim: pair %s is of one currency or repeated", name)
		}
		seen[name] = true
		if p.Mid.IsZero() {
			return fmt.Errorf("fxsim: pair %s has no mid", name)
		}
		if p.SpreadBps < 1 || p.SpreadBps > 1000 {
			return fmt.Errorf("fxsim: pair %s: spread %d bps is not in 1–1000", name, p.SpreadBps)
		}
	}
	if c.Tick <= 0 {
		return fmt.Errorf("fxsim: tick %v is not positive", c.Tick)
	}
	if c.VolBps < 0 || c.VolBps > 100 {
		return fmt.Errorf("fxsim: volatility %v bps is not in 0–100", c.VolBps)
	}
	if c.JumpMinBps < 0 || c.JumpMaxBps < c.JumpMinBps || c.JumpMaxBps > 5000 {
		return fmt.Errorf("fxsim: jumps of %v–%v bps are not in 0–5000", c.JumpMinBps, c.JumpMaxBps)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"jump", c.JumpProb}, {"stale", c.StaleProb}, {"crossed", c.CrossedProb}, {"garbage", c.GarbageProb}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("fxsim: %s probability %v is not in 0–1", p.name, p.v)
		}
	}
	if sum := c.StaleProb + c.CrossedProb + c.GarbageProb; sum > 1 {
		return fmt.Errorf("fxsim: stale, crossed and garbage probabilities add up to %v, above 1", sum)
	}
	if c.OutageEvery < 0 || c.OutageFor < 0 || (c.OutageEvery > 0 && c.OutageFor == 0) {
		return fmt.Errorf("fxsim: outages of %v every %v: both must be positive, or every 0", c.OutageFor, c.OutageEvery)
	}
	if c.Digits < 3 || c.Digits > 20 {
		return fmt.Errorf("fxsim: %d significant digits is not in 3–20", c.Digits)
	}
	return nil
}
