package feed_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/fx/feed"
	"github.com/unigate/unigate/services/fxsim"
)

// TestAgainstSimulator reads the provider simulator over real loopback
// connections, with garbage in one row of ten: every rate delivered is
// sane, every garbage row is rejected for one of the reasons garbage
// earns.
func TestAgainstSimulator(t *testing.T) {
	cfg := fxsim.DefaultConfig()
	cfg.Tick = 5 * time.Millisecond
	cfg.GarbageProb, cfg.CrossedProb, cfg.StaleProb = 0.1, 0.1, 0.1
	cfg.OutageEvery = 0
	sim, err := fxsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ready := make(chan [2]string, 1)
	go func() {
		errc <- sim.Serve(ctx, fxsim.ServeConfig{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			Ready: func(g, h string) { ready <- [2]string{g, h} }})
	}()
	var addrs [2]string
	select {
	case addrs = <-ready:
	case err := <-errc:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	garbage := []string{feed.ReasonUnknownCurrency, feed.ReasonBadBid, feed.ReasonBadAsk, feed.ReasonMissingSourceTime}
	feeds := map[string]feed.Feed{
		"grpc": feed.NewGRPCFeed(dial(t, addrs[0]), "beta"),
		"http": feed.NewHTTPFeed(nil, "http://"+addrs[1]+"/rates?provider=beta", "beta", 5*time.Millisecond),
	}
	for name, f := range feeds {
		t.Run(name, func(t *testing.T) {
			c := newCollector()
			stop := run(t, f, c)
			c.waitFor(t, "20 batches", func(b [][]feed.Rate, _ []string) bool { return len(b) >= 20 })
			stop()
			batches, rejects := c.snapshot()
			if len(rejects) == 0 {
				t.Fatal("no garbage rejected")
			}
			for _, r := range rejects {
				if !slices.Contains(garbage, r) {
					t.Fatalf("rejected %q, not a reason for the simulator's garbage", r)
				}
			}
			var crossed int
			for _, b := range batches {
				for _, r := range b {
					if r.Provider != "beta" || r.SourceTime.IsZero() || r.ReceiveTime.Before(r.SourceTime) {
						t.Fatalf("delivered %+v", r)
					}
					for _, code := range []string{r.Base, r.Quote} {
						if _, err := money.LookupCurrency(code); err != nil {
							t.Fatalf("delivered %+v: %v", r, err)
						}
					}
					if _, err := money.ParseRate(r.Bid.String()); err != nil {
						t.Fatalf("delivered %+v: %v", r, err)
					}
					if _, err := money.ParseRate(r.Ask.String()); err != nil {
						t.Fatalf("delivered %+v: %v", r, err)
					}
					if isAbove(t, r.Bid.String(), r.Ask.String()) {
						crossed++
					}
				}
			}
			if crossed == 0 {
				t.Error("no crossed quote delivered")
			}
		})
	}
}

// isAbove reports whether decimal a is above decimal b.
func isAbove(t *testing.T, a, b string) bool {
	t.Helper()
	x, _, errA := apd.NewFromString(a)
	y, _, errB := apd.NewFromString(b)
	if errA != nil || errB != nil {
		t.Fatalf("%q, %q: not decimals", a, b)
	}
	return x.Cmp(y) > 0
}
