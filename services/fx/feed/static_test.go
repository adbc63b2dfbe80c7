package feed_test

import (
	"slices"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/fx/feed"
)

func TestStaticFeed(t *testing.T) {
	f, err := feed.NewStaticFeed("demo", []feed.StaticRate{
		{Base: "USD", Quote: "CNY", Mid: money.MustRate("7.10"), SpreadBps: 15},
		{Base: "CNY", Quote: "MNT", Mid: money.MustRate("477.5"), SpreadBps: 40},
		{Base: "USD", Quote: "JPY", Mid: money.MustRate("149.8"), SpreadBps: 0},
	}, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	f.Now = fixedClock
	if f.Provider() != "demo" {
		t.Fatalf("Provider() = %q", f.Provider())
	}
	c := newCollector()
	stop := run(t, f, c)
	c.waitFor(t, "two batches", func(b [][]feed.Rate, _ []string) bool { return len(b) >= 2 })
	stop()
	batches, rejects := c.snapshot()
	if len(rejects) != 0 {
		t.Fatalf("rejected %q", rejects)
	}
	// 7.10 × (1 ∓ 0.00075); 477.5 × (1 ∓ 0.002).
	want := []string{"USD/CNY 7.094675 7.105325", "CNY/MNT 476.545 478.455", "USD/JPY 149.8 149.8"}
	for _, b := range batches {
		if got := pairs(b); !slices.Equal(got, want) {
			t.Fatalf("emitted %q, want %q", got, want)
		}
		for _, r := range b {
			if r.Provider != "demo" || !r.SourceTime.Equal(t0) || !r.ReceiveTime.Equal(t0) {
				t.Fatalf("%+v: want provider demo, priced and received at %v", r, t0)
			}
		}
	}
}

func TestNewStaticFeedRefuses(t *testing.T) {
	mid := money.MustRate("7.10")
	for _, tt := range []struct {
		name string
		rate feed.StaticRate
	}{
		{"unknown base", feed.StaticRate{Base: "XXQ", Quote: "CNY", Mid: mid, SpreadBps: 10}},
		{"unknown quote", feed.StaticRate{Base: "USD", Quote: "cny", Mid: mid, SpreadBps: 10}},
		{"same currency", feed.StaticRate{Base: "USD", Quote: "USD", Mid: mid, SpreadBps: 10}},
		{"no mid", feed.StaticRate{Base: "USD", Quote: "CNY", SpreadBps: 10}},
		{"negative spread", feed.StaticRate{Base: "USD", Quote: "CNY", Mid: mid, SpreadBps: -1}},
		{"spread of 200%", feed.StaticRate{Base: "USD", Quote: "CNY", Mid: mid, SpreadBps: 20000}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := feed.NewStaticFeed("demo", []feed.StaticRate{tt.rate}, time.Second); err == nil {
				t.Fatal("NewStaticFeed accepted it")
			}
		})
	}
}
