package feed

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"
)

// GRPCFeed streams one provider's rates from a RateFeedService
// (unigate.simulator.v1, as `unigate fxsim` serves it). When the stream
// fails or ends it is opened again after a backoff (100 ms doubling to
// 2 s, reset by every batch received), each failure rejected as
// unavailable. The feed gives up only when the server says it will never
// serve the provider: NOT_FOUND, INVALID_ARGUMENT or UNIMPLEMENTED.
type GRPCFeed struct {
	// Now is the receive clock; nil means time.Now. Set it before Run.
	Now func() time.Time

	client   simulatorv1.RateFeedServiceClient
	provider string
}

var _ Feed = (*GRPCFeed)(nil)

// NewGRPCFeed returns a feed of provider's rates over conn, which the
// caller dials (with its TLS, keepalives and reconnection) and closes.
func NewGRPCFeed(conn grpc.ClientConnInterface, provider string) *GRPCFeed {
	return &GRPCFeed{client: simulatorv1.NewRateFeedServiceClient(conn), provider: provider}
}

// Provider names the provider.
func (f *GRPCFeed) Provider() string { return f.provider }

// Run streams until ctx ends and returns ctx.Err(), or returns an error
// wrapping the server's status if it refuses the provider; see Feed.
func (f *GRPCFeed) Run(ctx context.Context, emit func([]Rate), reject func(reason string)) error {
	reject = orNop(reject)
	var b backoff
	for {
		err := f.stream(ctx, emit, reject, &b)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch status.Code(err) {
		case codes.NotFound, codes.InvalidArgument, codes.Unimplemented:
			return fmt.Errorf("feed: provider %s: %w", f.provider, err)
		}
		reject(ReasonUnavailable)
		if err := b.wait(ctx); err != nil {
			return err
		}
	}
}

// stream reads one stream until it fails, delivering its batches.
func (f *GRPCFeed) stream(ctx context.Context, emit func([]Rate), reject func(string), b *backoff) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.client.StreamRates(ctx, &simulatorv1.StreamRatesRequest{Provider: f.provider})
	if err != nil {
		return err
	}
	now := clock(f.Now)
	for {
		batch, err := stream.Recv()
		if err != nil {
			return err // io.EOF included: the server ended the stream
		}
		b.reset()
		rows := make([]row, len(batch.GetRates()))
		for i, r := range batch.GetRates() {
			rows[i] = row{base: r.GetBaseCurrency(), quote: r.GetQuoteCurrency(), bid: r.GetBid(), ask: r.GetAsk()}
			// An unset or all-zero timestamp is a missing source time, not
			// a rate priced in 1970.
			if ts := r.GetSourceTime(); ts != nil && (ts.GetSeconds() != 0 || ts.GetNanos() != 0) {
				rows[i].sourceTime, rows[i].badTime = ts.AsTime(), ts.CheckValid() != nil
			}
		}
		deliver(f.provider, batch.GetProvider(), rows, now(), emit, reject)
	}
}
