package fxsim

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/unigate/unigate/pkg/money"
)

var start = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// steps runs n ticks of s from start and returns every batch with the
// time of its tick.
func steps(t *testing.T, s *Sim, n int) (times []time.Time, batches [][]Batch) {
	t.Helper()
	for i := range n {
		now := start.Add(time.Duration(i) * s.cfg.Tick)
		times = append(times, now)
		batches = append(batches, s.Step(now))
	}
	return times, batches
}

func newSim(t *testing.T, cfg Config) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed = 42
	cfg.GarbageProb, cfg.CrossedProb, cfg.StaleProb, cfg.JumpProb = 0.01, 0.01, 0.01, 0.01
	cfg.OutageEvery, cfg.OutageFor = 20*time.Second, 3*time.Second
	_, a := steps(t, newSim(t, cfg), 2000)
	_, b := steps(t, newSim(t, cfg), 2000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two simulators with the same seed and step times sent different batches")
	}
	cfg.Seed = 43
	_, c := steps(t, newSim(t, cfg), 2000)
	if reflect.DeepEqual(a, c) {
		t.Fatal("two seeds gave the same batches")
	}
	// A provider's quotes do not depend on which other providers there are.
	cfg.Seed = 42
	cfg.Providers = []string{"beta"}
	_, d := steps(t, newSim(t, cfg), 2000)
	for i := range d {
		var want []Batch
		for _, b := range a[i] {
			if b.Provider == "beta" {
				want = append(want, b)
			}
		}
		if !reflect.DeepEqual(d[i], want) {
			t.Fatalf("tick %d: beta alone sent %v, beside alpha and gamma %v", i, d[i], want)
		}
	}
}

// kind classifies a row as the feeds would see it.
type kind struct {
	garbage, crossed, stale bool
	bid, ask                *apd.Decimal
}

func classify(t *testing.T, r Row, now time.Time, digits int) kind {
	t.Helper()
	var k kind
	_, errB := money.LookupCurrency(r.Base)
	_, errQ := money.LookupCurrency(r.Quote)
	_, errBid := money.ParseRate(r.Bid)
	_, errAsk := money.ParseRate(r.Ask)
	if errB != nil || errQ != nil || errBid != nil || errAsk != nil || r.SourceTime.IsZero() {
		k.garbage = true
		return k
	}
	for _, s := range []string{r.Bid, r.Ask} {
		if strings.ContainsAny(s, "eE") {
			t.Fatalf("%+v: price with an exponent", r)
		}
		d, _, _ := apd.NewFromString(s)
		var red apd.Decimal
		red.Reduce(d)
		if int(red.NumDigits()) > digits {
			t.Fatalf("%+v: %s has more than %d significant digits", r, s, digits)
		}
	}
	k.bid, _, _ = apd.NewFromString(r.Bid)
	k.ask, _, _ = apd.NewFromString(r.Ask)
	k.crossed = k.bid.Cmp(k.ask) > 0
	if r.SourceTime.After(now) {
		t.Fatalf("%+v: source time after the tick %v", r, now)
	}
	if lag := now.Sub(r.SourceTime); lag != 0 {
		if lag < staleMin || lag > staleMax {
			t.Fatalf("%+v: lags %v, want 0 or %v–%v", r, lag, staleMin, staleMax)
		}
		k.stale = true
	}
	return k
}

func TestEveryKindOfRowOccurs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.GarbageProb, cfg.CrossedProb, cfg.StaleProb, cfg.JumpProb = 0.05, 0.05, 0.05, 0.01
	cfg.OutageEvery, cfg.OutageFor = 30*time.Second, 5*time.Second
	s := newSim(t, cfg)
	times, batches := steps(t, s, 4000) // 1000 s simulated
	var garbage, crossed, stale, good, outageTicks int
	mids := make(map[string]Pair)
	for _, p := range cfg.Pairs {
		mids[p.Base+"/"+p.Quote] = p
	}
	for i, bs := range batches {
		if len(bs) < len(cfg.Providers) {
			outageTicks++
		}
		for _, b := range bs {
			if len(b.Rows) != len(cfg.Pairs) {
				t.Fatalf("%s sent %d rows, want one per pair", b.Provider, len(b.Rows))
			}
			for _, r := range b.Rows {
				k := classify(t, r, times[i], cfg.Digits)
				switch {
				case k.garbage:
					garbage++
					continue
				case k.crossed:
					crossed++
				default:
					good++
					if k.bid.Cmp(k.ask) >= 0 {
						t.Fatalf("%+v: bid not below ask", r)
					}
				}
				if k.stale {
					stale++
				}
				// Sane: within 5% of the configured mid.
				mid, _, _ := apd.NewFromString(mids[r.Base+"/"+r.Quote].Mid.String())
				lo, hi := new(apd.Decimal), new(apd.Decimal)
				apd.BaseContext.Mul(lo, mid, apd.New(95, -2))
				apd.BaseContext.Mul(hi, mid, apd.New(105, -2))
				if k.bid.Cmp(lo) < 0 || k.bid.Cmp(hi) > 0 || k.ask.Cmp(lo) < 0 || k.ask.Cmp(hi) > 0 {
					t.Fatalf("%+v: far from the mid %s", r, mid.Text('f'))
				}
			}
		}
	}
	t.Logf("good %d garbage %d crossed %d stale %d, ticks with an outage %d", good, garbage, crossed, stale, outageTicks)
	if garbage == 0 || crossed == 0 || stale == 0 || outageTicks == 0 {
		t.Fatalf("good %d garbage %d crossed %d stale %d, ticks with an outage %d: each kind should occur",
			good, garbage, crossed, stale, outageTicks)
	}
	if good < garbage*5 {
		t.Fatalf("only %d good rows beside %d garbage", good, garbage)
	}
}

func TestOutage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Providers = []string{"alpha"}
	cfg.OutageEvery, cfg.OutageFor = 10*time.Second, 2*time.Second
	s := newSim(t, cfg)
	var outages int
	var lastSent time.Time
	down := false
	for i := range 2000 { // 500 s
		now := start.Add(time.Duration(i) * cfg.Tick)
		sent := len(s.Step(now)) == 1
		latest, ok := s.Latest("alpha")
		if !ok {
			t.Fatal("no alpha")
		}
		switch {
		case sent:
			if down {
				if gap := now.Sub(lastSent); gap < cfg.OutageFor {
					t.Fatalf("outage of %v, want at least %v", gap, cfg.OutageFor)
				}
				down = false
			}
			lastSent = now
			if got := latest.Rows[0].SourceTime; !got.Equal(now) && now.Sub(got) < staleMin {
				t.Fatalf("latest batch priced at %v, want the tick's time %v", got, now)
			}
		case !down:
			down = true
			outages++
			fallthrough
		default:
			// GetRates/HTTP keep answering the last batch sent before the
			// outage.
			if !reflect.DeepEqual(latest, s.lastSentFor(t, "alpha", lastSent)) {
				t.Fatalf("%v: latest batch changed during an outage", now)
			}
		}
	}
	// Every 5 to 15 s, plus 2 s each: between 500/17 and 500/7 outages.
	if outages < 500/17 || outages > 500/7+1 {
		t.Fatalf("%d outages in 500 s, want one about every 10 s", outages)
	}
}

// lastSentFor checks that the latest batch of provider was priced at
// sent and returns it.
func (s *Sim) lastSentFor(t *testing.T, provider string, sent time.Time) Batch {
	t.Helper()
	b, _ := s.Latest(provider)
	for _, r := range b.Rows {
		if !r.SourceTime.IsZero() && r.SourceTime.After(sent) {
			t.Fatalf("latest batch priced at %v, after the last tick sent %v", r.SourceTime, sent)
		}
	}
	return b
}

func TestProvidersDisagreeSlightly(t *testing.T) {
	cfg := DefaultConfig()
	cfg.GarbageProb, cfg.CrossedProb, cfg.StaleProb, cfg.OutageEvery = 0, 0, 0, 0
	s := newSim(t, cfg)
	_, batches := steps(t, s, 400)
	last := batches[len(batches)-1]
	if len(last) != 3 {
		t.Fatalf("%d batches, want 3", len(last))
	}
	for i := range cfg.Pairs {
		a, b, c := last[0].Rows[i].Bid, last[1].Rows[i].Bid, last[2].Rows[i].Bid
		if a == b && b == c {
			t.Errorf("%s/%s: every provider bids %s", cfg.Pairs[i].Base, cfg.Pairs[i].Quote, a)
		}
		// Within 20 bps of each other.
		x, _, _ := apd.NewFromString(a)
		y, _, _ := apd.NewFromString(c)
		diff, ratio := new(apd.Decimal), new(apd.Decimal)
		apd.BaseContext.Sub(diff, x, y)
		diff.Abs(diff)
		apd.BaseContext.WithPrecision(10).Quo(ratio, diff, x)
		if ratio.Cmp(apd.New(20, -4)) > 0 {
			t.Errorf("%s/%s: alpha bids %s, gamma %s: more than 20 bps apart", cfg.Pairs[i].Base, cfg.Pairs[i].Quote, a, c)
		}
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		x      float64
		digits int
		mode   apd.Rounder
		want   string
	}{
		{7.10123456, 6, apd.RoundDown, "7.10123"},
		{7.10123456, 6, apd.RoundCeiling, "7.10124"},
		{25380.123, 6, apd.RoundDown, "25380.1"},
		{3390, 6, apd.RoundDown, "3390"},
		{123456789, 6, apd.RoundDown, "123456000"},
		{0.0000123456789, 6, apd.RoundDown, "0.0000123456"},
		{0.3075, 6, apd.RoundCeiling, "0.3075"},
		{1e21, 6, apd.RoundDown, "1000000000000000000000"},
	}
	for _, tt := range tests {
		if got := decimal(tt.x, tt.digits, tt.mode); got != tt.want {
			t.Errorf("decimal(%v, %d) = %s, want %s", tt.x, tt.digits, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no providers", func(c *Config) { c.Providers = nil }},
		{"repeated provider", func(c *Config) { c.Providers = []string{"alpha", "alpha"} }},
		{"empty provider", func(c *Config) { c.Providers = []string{""} }},
		{"no pairs", func(c *Config) { c.Pairs = nil }},
		{"unknown currency", func(c *Config) { c.Pairs[0].Quote = "XXQ" }},
		{"same currency", func(c *Config) { c.Pairs[0].Quote = "USD" }},
		{"repeated pair", func(c *Config) { c.Pairs[1] = c.Pairs[0] }},
		{"no mid", func(c *Config) { c.Pairs[0].Mid = money.Rate{} }},
		{"no spread", func(c *Config) { c.Pairs[0].SpreadBps = 0 }},
		{"no tick", func(c *Config) { c.Tick = 0 }},
		{"negative volatility", func(c *Config) { c.VolBps = -1 }},
		{"jumps inverted", func(c *Config) { c.JumpMinBps, c.JumpMaxBps = 80, 20 }},
		{"probability above 1", func(c *Config) { c.StaleProb = 1.5 }},
		{"probability NaN", func(c *Config) { c.GarbageProb = math.NaN() }},
		{"probabilities add above 1", func(c *Config) { c.StaleProb, c.CrossedProb, c.GarbageProb = 0.5, 0.5, 0.5 }},
		{"outage without length", func(c *Config) { c.OutageFor = 0 }},
		{"too few digits", func(c *Config) { c.Digits = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			if err := cfg.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
