package feed

import (
	"context"
	"io"
	"net/http"
	"time"
)

// HTTPFeed polls a URL that answers a Sheet (GET, 200, JSON). A response
// that is not 200 or not a Sheet is rejected as malformed, a request that
// gets no response as unavailable; either way the feed tries again at the
// next interval. Every poll's rows are delivered, even when their source
// times have not changed since the last poll: the FX service deduplicates.
type HTTPFeed struct {
	// Now is the receive clock; nil means time.Now. Set it before Run.
	Now func() time.Time

	client   *http.Client
	url      string
	provider string
	interval time.Duration
}

var _ Feed = (*HTTPFeed)(nil)

// NewHTTPFeed returns a feed of provider's rates that GETs url every
// interval (DefaultInterval if it is not positive) with client, which
// carries the caller's TLS and timeouts (nil: http.DefaultClient).
func NewHTTPFeed(client *http.Client, url, provider string, interval time.Duration) *HTTPFeed {
	if client == nil {
		client = http.DefaultClient
	}
	return &HTTPFeed{client: client, url: url, provider: provider, interval: intervalOrDefault(interval)}
}

// Provider names the provider.
func (f *HTTPFeed) Provider() string { return f.provider }

// Run polls until ctx ends and returns ctx.Err(); see Feed.
func (f *HTTPFeed) Run(ctx context.Context, emit func([]Rate), reject func(reason string)) error {
	reject, now := orNop(reject), clock(f.Now)
	return ticks(ctx, f.interval, func() {
		data, reason := f.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		if reason != "" {
			reject(reason)
			return
		}
		sentBy, rows, err := decodeSheet(data)
		if err != nil {
			reject(ReasonMalformed)
			return
		}
		deliver(f.provider, sentBy, rows, now(), emit, reject)
	})
}

// fetch GETs the sheet, or says why it could not.
func (f *HTTPFeed) fetch(ctx context.Context) ([]byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, ReasonUnavailable
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, ReasonUnavailable
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSheetBytes+1))
	switch {
	case resp.StatusCode != http.StatusOK:
		return nil, ReasonMalformed
	case err != nil:
		return nil, ReasonUnavailable
	case len(data) > maxSheetBytes:
		return nil, ReasonMalformed
	}
	return data, ""
}
