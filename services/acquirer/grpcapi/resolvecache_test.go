package grpcapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// countingRouter answers ResolveCode from its fields and counts the calls.
type countingRouter struct {
	acquirer.Router
	calls int
	err   error
	name  string
}

func (r *countingRouter) ResolveCode(_ context.Context, partnerID, code string) (acquirer.Resolution, error) {
	r.calls++
	if r.err != nil {
		return acquirer.Resolution{}, r.err
	}
	a := money.Amount{Currency: "CNY", Minor: 100}
	return acquirer.Resolution{Merchant: acquirer.Merchant{ID: code, Name: r.name}, Amount: &a,
		Partner: acquirer.Partner{ID: partnerID}, Warnings: []string{"w"}}, nil
}

func TestCachedRouter(t *testing.T) {
	ctx := context.Background()
	next := &countingRouter{name: "Erenhot Dumpling House"}
	rev := int64(7)
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	suspended := map[string]bool{}
	c := CachedRouter(next, func() int64 { return rev }, func(id string) bool { return !suspended[id] }, ResolveTTL).(*cachedRouter)
	c.now = func() time.Time { return now }

	resolve := func() acquirer.Resolution {
		t.Helper()
		res, err := c.ResolveCode(ctx, "hipay", "M1")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := resolve()
	second := resolve()
	if next.calls != 1 {
		t.Fatalf("two resolutions of one code made %d router calls, want 1", next.calls)
	}
	// A caller changing its answer changes nothing cached.
	second.Amount.Minor, second.Warnings[0] = 1, "changed"
	if third := resolve(); third.Amount.Minor != 100 || third.Warnings[0] != "w" || first.Merchant.Name != third.Merchant.Name {
		t.Errorf("the cached answer changed under a caller: %+v", third)
	}
	// A payment's resolution asks the router, whatever is cached.
	if _, err := c.ResolveCode(acquirer.Fresh(ctx), "hipay", "M1"); err != nil || next.calls != 2 {
		t.Errorf("a payment's resolution: %v, %d calls, want 2", err, next.calls)
	}
	next.calls--

	// Another partner's resolution of the same code is its own.
	if _, err := c.ResolveCode(ctx, "zalopay", "M1"); err != nil || next.calls != 2 {
		t.Errorf("another partner: %v, %d calls, want 2", err, next.calls)
	}

	// A new routing table (a partner suspended, a range moved) is asked
	// about at once.
	rev++
	next.name = "renamed"
	if res := resolve(); next.calls != 3 || res.Merchant.Name != "renamed" {
		t.Errorf("after a new revision: %d calls, merchant %q; want the router's new answer", next.calls, res.Merchant.Name)
	}
	// So is an answer older than the TTL.
	now = now.Add(ResolveTTL)
	resolve()
	if next.calls != 4 {
		t.Errorf("after the TTL: %d calls, want 4", next.calls)
	}

	// A partner this process sees suspended is asked about every time,
	// even if the router, a moment behind, still answers for it.
	suspended["hipay"] = true // (a suspension is a new revision, which this test leaves out)
	calls := next.calls
	resolve()
	resolve()
	if next.calls != calls+2 {
		t.Errorf("a suspended partner's resolutions made %d router calls, want 2", next.calls-calls)
	}
	suspended["hipay"] = false
	rev++
	resolve()
	resolve()
	if next.calls != calls+3 {
		t.Errorf("resumed: %d more router calls, want 1", next.calls-calls-2)
	}

	// Refusals are never kept.
	next.err = rpcerr.New(rpcerr.PartnerDisabled, "suspended")
	for range 2 {
		if _, err := c.ResolveCode(ctx, "cnbank", "M2"); rpcerr.ReasonOf(err) != rpcerr.PartnerDisabled {
			t.Fatalf("refusal: %v", err)
		}
	}
	if next.calls != 9 {
		t.Errorf("two refused resolutions made %d calls in all, want 9", next.calls)
	}
	next.err = errors.New("unavailable")
	if _, err := c.ResolveCode(ctx, "hipay", "M1"); err != nil {
		t.Errorf("a fresh cached answer is served while the router fails: %v", err)
	}
}

// A full cache starts again rather than grow without bound.
func TestCachedRouterBounded(t *testing.T) {
	next := &countingRouter{}
	c := CachedRouter(next, func() int64 { return 1 }, func(string) bool { return true }, time.Hour).(*cachedRouter)
	for i := range resolveCacheMax + 10 {
		if _, err := c.ResolveCode(context.Background(), "hipay", string(rune('a'+i%26))+time.Duration(i).String()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.entries); n > resolveCacheMax {
		t.Errorf("%d entries, want at most %d", n, resolveCacheMax)
	}
}
