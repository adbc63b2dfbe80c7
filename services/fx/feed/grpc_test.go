package feed_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/services/fx/feed"
)

// scriptServer is a RateFeedService whose streams send what the test
// hands it.
type scriptServer struct {
	simulatorv1.UnimplementedRateFeedServiceServer
	batches chan *simulatorv1.RateBatch
}

func (s *scriptServer) StreamRates(req *simulatorv1.StreamRatesRequest, stream grpc.ServerStreamingServer[simulatorv1.RateBatch]) error {
	if req.GetProvider() != "alpha" {
		return status.Errorf(codes.NotFound, "no provider %q", req.GetProvider())
	}
	for {
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case b := <-s.batches:
			if err := stream.Send(b); err != nil {
				return err
			}
		}
	}
}

// send hands b to whichever stream is open, waiting for one.
func (s *scriptServer) send(t *testing.T, b *simulatorv1.RateBatch) {
	t.Helper()
	select {
	case s.batches <- b:
	case <-time.After(10 * time.Second):
		t.Fatal("no stream took the batch within 10 s")
	}
}

// startScript serves a scriptServer on addr (a real loopback listener)
// until the test ends or the returned server is stopped.
func startScript(t *testing.T, addr string, s *scriptServer) *grpc.Server {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	simulatorv1.RegisterRateFeedServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return srv
}

// dial connects to addr, trying a lost connection again within 100 ms.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond,
			Multiplier: 1.6, MaxDelay: 100 * time.Millisecond}, MinConnectTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func protoBatch(provider string, rows []testRow) *simulatorv1.RateBatch {
	b := &simulatorv1.RateBatch{Provider: provider}
	for _, r := range rows {
		pr := &simulatorv1.ProviderRate{BaseCurrency: r.base, QuoteCurrency: r.quote, Bid: r.bid, Ask: r.ask}
		if !r.noTime {
			pr.SourceTime = timestamppb.New(t0.Add(r.at))
		}
		b.Rates = append(b.Rates, pr)
	}
	return b
}

func TestGRPCFeed(t *testing.T) {
	script := &scriptServer{batches: make(chan *simulatorv1.RateBatch)}
	addr := freeAddr(t)
	srv := startScript(t, addr, script)
	f := feed.NewGRPCFeed(dial(t, addr), "alpha")
	f.Now = fixedClock
	if f.Provider() != "alpha" {
		t.Fatalf("Provider() = %q", f.Provider())
	}
	c := newCollector()
	run(t, f, c)

	script.send(t, protoBatch("alpha", mixedRows))
	c.waitFor(t, "the mixed batch", func(b [][]feed.Rate, r []string) bool {
		return len(b) == 1 && len(r) == len(wantRejected())
	})
	batches, rejects := c.snapshot()
	checkMixed(t, "alpha", batches[0])
	if want := wantRejected(); !slices.Equal(rejects, want) {
		t.Fatalf("rejected %q, want %q", rejects, want)
	}

	t.Run("wrong provider", func(t *testing.T) {
		script.send(t, protoBatch("beta", mixedRows[:1]))
		c.waitFor(t, "a wrong-provider reject", func(_ [][]feed.Rate, r []string) bool {
			return r[len(r)-1] == feed.ReasonWrongProvider
		})
	})

	t.Run("invalid and zero timestamps", func(t *testing.T) {
		b := protoBatch("alpha", mixedRows[:1])
		bad := protoBatch("alpha", mixedRows[:1]).Rates[0]
		bad.SourceTime = &timestamppb.Timestamp{Seconds: t0.Unix(), Nanos: 2_000_000_000}
		zero := protoBatch("alpha", mixedRows[:1]).Rates[0]
		zero.SourceTime = &timestamppb.Timestamp{}
		b.Rates = append(b.Rates, bad, zero)
		_, before := c.snapshot()
		script.send(t, b)
		c.waitFor(t, "two rejects", func(_ [][]feed.Rate, r []string) bool { return len(r) == len(before)+2 })
		_, after := c.snapshot()
		if got, want := after[len(before):], []string{feed.ReasonBadSourceTime, feed.ReasonMissingSourceTime}; !slices.Equal(got, want) {
			t.Fatalf("rejected %q, want %q", got, want)
		}
	})

	t.Run("reconnects after a restart", func(t *testing.T) {
		srv.Stop()
		c.waitFor(t, "an unavailable reject", func(_ [][]feed.Rate, r []string) bool {
			return slices.Contains(r, feed.ReasonUnavailable)
		})
		startScript(t, addr, script)
		before, _ := c.snapshot()
		// A handler of the stopped server may still take a batch: send
		// until one arrives.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if b, _ := c.snapshot(); len(b) > len(before) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no batch from the restarted server within 10 s")
			}
			select {
			case script.batches <- protoBatch("alpha", mixedRows[:1]):
			case <-time.After(100 * time.Millisecond):
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestGRPCFeedUnknownProvider(t *testing.T) {
	addr := freeAddr(t)
	startScript(t, addr, &scriptServer{batches: make(chan *simulatorv1.RateBatch)})
	f := feed.NewGRPCFeed(dial(t, addr), "omega")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.Run(ctx, func([]feed.Rate) { t.Error("emitted") }, nil)
	if status.Code(err) != codes.NotFound || ctx.Err() != nil {
		t.Fatalf("Run = %v, want NOT_FOUND at once", err)
	}
}

func TestGRPCFeedStopsWhileRetrying(t *testing.T) {
	// No server at all: the feed retries until its context ends.
	f := feed.NewGRPCFeed(dial(t, freeAddr(t)), "alpha")
	c := newCollector()
	stop := run(t, f, c)
	c.waitFor(t, "three unavailable rejects", func(_ [][]feed.Rate, r []string) bool { return len(r) >= 3 })
	start := time.Now()
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Run took %v to return after its context ended", d)
	}
	_, rejects := c.snapshot()
	for _, r := range rejects {
		if r != feed.ReasonUnavailable {
			t.Fatalf("rejected %q, want only %q", r, feed.ReasonUnavailable)
		}
	}
}
