package grpcapi

import (
	"context"
	"sync"
	"time"

	"github.com/unigate/unigate/services/acquirer"
)

// A wallet resolves the same code up to three times for one payment
// (DecodeCode, CreateQuote, Pay), and a merchant's static code for every
// user who scans it: each a call to the router, which answers from its
// routing table and its cache of the networks' merchants. CachedRouter
// keeps the router's answers for a short while, tagged with the revision
// of the routing table the acquirer watches, so that a change to a
// partner, a network or a code range (a suspension, say) takes effect here
// as soon as the acquirer sees it, as it does at the router.

// ResolveTTL bounds how long an answer is kept; the router keeps a
// network's merchant six times longer (router.MerchantTTL).
const ResolveTTL = 5 * time.Second

// resolveCacheMax bounds the entries; a full cache starts again empty
// (dynamic codes, one per payment, would otherwise grow it).
const resolveCacheMax = 20_000

// CachedRouter is r with ResolveCode's successful answers cached for ttl
// (a payment's resolution, acquirer.Fresh, always asks r and refreshes the
// cache),
// or until revision (the routing table's, as this process watches it)
// changes. The router may answer from a table a moment older than the one
// this process sees; so that a suspension is never hidden by that, an
// answer is kept and served only while enabled (this process's table)
// says its partner is enabled. Refusals are never cached, and the other
// calls pass through.
func CachedRouter(r acquirer.Router, revision func() int64, enabled func(partnerID string) bool, ttl time.Duration) acquirer.Router {
	return &cachedRouter{Router: r, revision: revision, enabled: enabled, ttl: ttl, now: time.Now, entries: map[resolveKey]resolved{}}
}

type cachedRouter struct {
	acquirer.Router
	revision func() int64
	enabled  func(partnerID string) bool
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	entries map[resolveKey]resolved
}

type resolveKey struct{ partner, code string }

type resolved struct {
	res      acquirer.Resolution
	revision int64
	expires  time.Time
}

func (c *cachedRouter) ResolveCode(ctx context.Context, partnerID, code string) (acquirer.Resolution, error) {
	key, rev, now := resolveKey{partnerID, code}, c.revision(), c.now()
	if !c.enabled(partnerID) {
		return c.Router.ResolveCode(ctx, partnerID, code)
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.revision == rev && now.Before(e.expires) && !acquirer.IsFresh(ctx) {
		return copyResolution(e.res), nil
	}
	res, err := c.Router.ResolveCode(ctx, partnerID, code)
	if err != nil || res.Partner.Disabled {
		return res, err
	}
	c.mu.Lock()
	if len(c.entries) >= resolveCacheMax {
		c.entries = map[resolveKey]resolved{}
	}
	c.entries[key] = resolved{res: copyResolution(res), revision: rev, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return res, nil
}

// copyResolution is a copy that shares nothing a caller may change.
func copyResolution(r acquirer.Resolution) acquirer.Resolution {
	if r.Amount != nil {
		a := *r.Amount
		r.Amount = &a
	}
	r.Warnings = append([]string(nil), r.Warnings...)
	return r
}
