package feed_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/fx/feed"
)

// t0 is the receive clock of the tests that fix it.
var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

// collector gathers what a feed delivers and rejects.
type collector struct {
	mu      sync.Mutex
	batches [][]feed.Rate
	rejects []string
	changed chan struct{} // receives after every emit or reject, if there is room
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

func (c *collector) emit(b []feed.Rate) {
	c.mu.Lock()
	c.batches = append(c.batches, b)
	c.mu.Unlock()
	c.notify()
}

func (c *collector) reject(reason string) {
	c.mu.Lock()
	c.rejects = append(c.rejects, reason)
	c.mu.Unlock()
	c.notify()
}

func (c *collector) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// snapshot returns copies of what was collected.
func (c *collector) snapshot() ([][]feed.Rate, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.batches), slices.Clone(c.rejects)
}

// waitFor waits until cond holds of what was collected, or fails the
// test after 10 s.
func (c *collector) waitFor(t *testing.T, what string, cond func(batches [][]feed.Rate, rejects []string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if b, r := c.snapshot(); cond(b, r) {
			return
		}
		select {
		case <-c.changed:
		case <-deadline:
			b, r := c.snapshot()
			t.Fatalf("timed out waiting for %s: %d batches, rejects %q", what, len(b), r)
		}
	}
}

// run runs f until the test ends and checks that it then returns the
// context's error. The returned function cancels it and waits.
func run(t *testing.T, f feed.Feed, c *collector) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Run(ctx, c.emit, c.reject) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-errc:
			case <-time.After(10 * time.Second):
				result = errors.New("Run did not return within 10 s of its context's end")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return stop
}

// pairs lists a batch as "BASE/QUOTE bid ask" strings.
func pairs(b []feed.Rate) []string {
	out := make([]string, len(b))
	for i, r := range b {
		out[i] = fmt.Sprintf("%s/%s %s %s", r.Base, r.Quote, r.Bid, r.Ask)
	}
	return out
}

// testRow is a row as a test server sends it (JSON or gRPC), with the
// reason a feed rejects it for.
type testRow struct {
	base, quote, bid, ask string
	// at is the source time as an offset from t0; noTime: none.
	at     time.Duration
	noTime bool
	want   string // reject reason; "" for a row delivered
}

var mixedRows = []testRow{
	{base: "USD", quote: "CNY", bid: "7.1012", ask: "7.1030", at: -time.Second},
	{base: "XXQ", quote: "CNY", bid: "7.1", ask: "7.2", want: feed.ReasonUnknownCurrency},
	{base: "USD", quote: "cny", bid: "7.1", ask: "7.2", want: feed.ReasonUnknownCurrency},
	{base: "USD", quote: "USD", bid: "1", ask: "1", want: feed.ReasonSameCurrency},
	{base: "USD", quote: "MNT", bid: "", ask: "3391", want: feed.ReasonBadBid},
	{base: "USD", quote: "MNT", bid: "-3390", ask: "3391", want: feed.ReasonBadBid},
	{base: "USD", quote: "MNT", bid: "0", ask: "3391", want: feed.ReasonBadBid},
	{base: "USD", quote: "MNT", bid: "3390", ask: "abc", want: feed.ReasonBadAsk},
	{base: "USD", quote: "MNT", bid: "3390", ask: "3.391e3", want: feed.ReasonBadAsk},
	{base: "USD", quote: "MNT", bid: "3390", ask: "123456789012345678901", want: feed.ReasonBadAsk},
	{base: "USD", quote: "VND", bid: "25380", ask: "25385", noTime: true, want: feed.ReasonMissingSourceTime},
	{base: "USD", quote: "VND", bid: "25380", ask: "25385", at: 6 * time.Second, want: feed.ReasonFutureSourceTime},
	// Within the allowed skew, and crossed: both delivered.
	{base: "USD", quote: "SGD", bid: "1.342", ask: "1.343", at: 4 * time.Second},
	{base: "USD", quote: "JPY", bid: "149.9", ask: "149.8"},
	// Stale: delivered, the FX service judges it.
	{base: "CNY", quote: "HKD", bid: "1.097", ask: "1.098", at: -2 * time.Minute},
}

// wantDelivered and wantRejected are what a feed makes of mixedRows.
func wantDelivered() []string {
	var out []string
	for _, r := range mixedRows {
		if r.want == "" {
			out = append(out, fmt.Sprintf("%s/%s %s %s", r.base, r.quote, money.MustRate(r.bid), money.MustRate(r.ask)))
		}
	}
	return out
}

func wantRejected() []string {
	var out []string
	for _, r := range mixedRows {
		if r.want != "" {
			out = append(out, r.want)
		}
	}
	return out
}

// checkMixed checks the one batch delivered from mixedRows.
func checkMixed(t *testing.T, provider string, b []feed.Rate) {
	t.Helper()
	if got, want := pairs(b), wantDelivered(); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	for i, r := range b {
		if r.Provider != provider {
			t.Errorf("rate %d: provider %q, want %q", i, r.Provider, provider)
		}
		if !r.ReceiveTime.Equal(t0) || r.ReceiveTime.Location() != time.UTC {
			t.Errorf("rate %d: receive time %v, want %v", i, r.ReceiveTime, t0)
		}
		if r.SourceTime.Location() != time.UTC {
			t.Errorf("rate %d: source time %v is not UTC", i, r.SourceTime)
		}
	}
	if got, want := b[0].SourceTime, t0.Add(-time.Second); !got.Equal(want) {
		t.Errorf("source time %v, want %v", got, want)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}
