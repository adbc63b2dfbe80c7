package grpcx

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// panicky is a health server whose Check panics.
type panicky struct {
	healthpb.UnimplementedHealthServer
}

func (panicky) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("boom")
}

func TestServerLifecycle(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(log)
	lis, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, time.Second) }()
	conn, err := Dial(lis.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never SERVING: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &Server{log: log}
	s.Server = grpc.NewServer(grpc.ChainUnaryInterceptor(s.unaryErrors))
	healthpb.RegisterHealthServer(s.Server, panicky{})
	lis, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Server.Serve(lis)
	defer s.Server.Stop()
	conn, err := Dial(lis.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error" {
		t.Fatalf("got %v, want a masked INTERNAL", err)
	}
}

func TestDialSetsADeadline(t *testing.T) {
	var got time.Duration
	inv := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		d, ok := ctx.Deadline()
		if !ok {
			t.Fatal("no deadline")
		}
		got = time.Until(d)
		return nil
	}
	if err := deadline(250*time.Millisecond)(context.Background(), "/x", nil, nil, nil, inv); err != nil {
		t.Fatal(err)
	}
	if got <= 0 || got > 250*time.Millisecond {
		t.Fatalf("deadline in %v, want within 250ms", got)
	}
	// A caller's own, shorter deadline is kept.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := deadline(time.Hour)(ctx, "/x", nil, nil, nil, inv); err != nil {
		t.Fatal(err)
	}
	if got > 50*time.Millisecond {
		t.Fatalf("caller's deadline replaced: %v", got)
	}
	// A caller's longer deadline is cut to the call timeout.
	long, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	if err := deadline(100*time.Millisecond)(long, "/x", nil, nil, nil, inv); err != nil {
		t.Fatal(err)
	}
	if got > 100*time.Millisecond {
		t.Fatalf("call not bounded by the call timeout: %v", got)
	}
}
