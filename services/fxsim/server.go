package fxsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/services/fx/feed"
)

// Run steps the simulator every Tick, at the wall clock's time, until ctx
// ends; then it ends every open StreamRates (UNAVAILABLE) and returns nil.
// A Sim runs once: after Run, StreamRates fails at once.
func (s *Sim) Run(ctx context.Context) error {
	defer s.stopOnce.Do(func() { close(s.stopped) })
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.Step(now)
		}
	}
}

// Latest returns the last batch provider sent (no rows before its first
// tick), and whether there is such a provider. The batch is shared: do not
// modify it.
func (s *Sim) Latest(provider string) (Batch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byName[provider]
	if !ok {
		return Batch{}, false
	}
	return p.latest, true
}

// subscribe returns a channel that receives provider's batches from the
// next tick on, and the function that ends the subscription.
func (s *Sim) subscribe(provider string) (<-chan Batch, func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byName[provider]
	if !ok {
		return nil, nil, false
	}
	ch := make(chan Batch, 16)
	p.subs[ch] = struct{}{}
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(p.subs, ch)
	}, true
}

// RegisterGRPC registers the simulator's RateFeedService on srv.
func (s *Sim) RegisterGRPC(srv grpc.ServiceRegistrar) {
	simulatorv1.RegisterRateFeedServiceServer(srv, rateFeed{sim: s})
}

// rateFeed is the gRPC face of a Sim.
type rateFeed struct {
	simulatorv1.UnimplementedRateFeedServiceServer
	sim *Sim
}

func unknownProvider(name string) error {
	return status.Errorf(codes.NotFound, "fxsim: no provider %q", name)
}

// StreamRates sends the provider's batches until the caller leaves or the
// simulator stops (UNAVAILABLE).
func (h rateFeed) StreamRates(req *simulatorv1.StreamRatesRequest, stream grpc.ServerStreamingServer[simulatorv1.RateBatch]) error {
	ch, cancel, ok := h.sim.subscribe(req.GetProvider())
	if !ok {
		return unknownProvider(req.GetProvider())
	}
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-h.sim.stopped:
			return status.Error(codes.Unavailable, "fxsim: simulator stopped")
		case b := <-ch:
			if err := stream.Send(b.proto()); err != nil {
				return err
			}
		}
	}
}

// GetRates returns the provider's last batch.
func (h rateFeed) GetRates(_ context.Context, req *simulatorv1.GetRatesRequest) (*simulatorv1.RateBatch, error) {
	b, ok := h.sim.Latest(req.GetProvider())
	if !ok {
		return nil, unknownProvider(req.GetProvider())
	}
	return b.proto(), nil
}

// proto converts b to its gRPC form; a row without a source time has
// none.
func (b Batch) proto() *simulatorv1.RateBatch {
	out := &simulatorv1.RateBatch{Provider: b.Provider, Rates: make([]*simulatorv1.ProviderRate, len(b.Rows))}
	for i, r := range b.Rows {
		out.Rates[i] = &simulatorv1.ProviderRate{BaseCurrency: r.Base, QuoteCurrency: r.Quote, Bid: r.Bid, Ask: r.Ask}
		if !r.SourceTime.IsZero() {
			out.Rates[i].SourceTime = timestamppb.New(r.SourceTime)
		}
	}
	return out
}

// Sheet converts b to the JSON form that feed.HTTPFeed and feed.FileFeed
// read; a row without a source time has an empty one.
func (b Batch) Sheet() feed.Sheet {
	out := feed.Sheet{Provider: b.Provider, Rates: make([]feed.SheetRate, len(b.Rows))}
	for i, r := range b.Rows {
		out.Rates[i] = feed.SheetRate{Base: r.Base, Quote: r.Quote, Bid: r.Bid, Ask: r.Ask}
		if !r.SourceTime.IsZero() {
			out.Rates[i].SourceTime = feed.FormatSourceTime(r.SourceTime)
		}
	}
	return out
}

// HTTPHandler serves GET /rates?provider=NAME: the provider's last batch
// as a feed.Sheet (404 for an unknown provider).
func (s *Sim) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rates", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("provider")
		b, ok := s.Latest(name)
		if !ok {
			http.Error(w, fmt.Sprintf("no provider %q", name), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(b.Sheet())
	})
	return mux
}

// ServeConfig says where and how Serve serves a simulator.
type ServeConfig struct {
	// GRPCAddr is the gRPC listen address ("127.0.0.1:7090"; port 0 picks
	// one).
	GRPCAddr string
	// HTTPAddr is the HTTP listen address; empty: no HTTP.
	HTTPAddr string
	// ServerOptions are added to the gRPC server's own (transport
	// credentials, an authorization interceptor). None: plaintext.
	ServerOptions []grpc.ServerOption
	// Log receives the gRPC server's errors; nil: slog.Default().
	Log *slog.Logger
	// Ready, if set, is called with the addresses listened on once both
	// listeners are open ("" for no HTTP).
	Ready func(grpcAddr, httpAddr string)
}

// shutdownGrace bounds the graceful stop of the servers.
const shutdownGrace = 5 * time.Second

// Serve runs the simulator (Run) and serves it, over gRPC with health and
// reflection and, if sc.HTTPAddr is set, over HTTP, until ctx ends; then
// it stops them all and returns nil, or returns the first error that
// stopped one of them.
func (s *Sim) Serve(ctx context.Context, sc ServeConfig) error {
	log := sc.Log
	if log == nil {
		log = slog.Default()
	}
	glis, err := grpcx.Listen(sc.GRPCAddr)
	if err != nil {
		return err
	}
	var hlis net.Listener
	if sc.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", sc.HTTPAddr); err != nil {
			glis.Close()
			return fmt.Errorf("fxsim: listen %s: %w", sc.HTTPAddr, err)
		}
	}
	gsrv := grpcx.NewServer(log, sc.ServerOptions...)
	s.RegisterGRPC(gsrv)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(ctx) })
	g.Go(func() error { return gsrv.Serve(ctx, glis, shutdownGrace) })
	httpAddr := ""
	if hlis != nil {
		httpAddr = hlis.Addr().String()
		hsrv := &http.Server{Handler: s.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := hsrv.Serve(hlis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
			defer cancel()
			return hsrv.Shutdown(sctx)
		})
	}
	if sc.Ready != nil {
		sc.Ready(glis.Addr().String(), httpAddr)
	}
	return g.Wait()
}
