package grpcx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/unigate/unigate/pkg/metrics"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// echo is a hand-written service: Say answers OK, Fail a mapped error.
var echo = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Say", Handler: echoHandler(nil)},
		{MethodName: "Fail", Handler: echoHandler(rpcerr.New(rpcerr.QuoteExpired, "quote expired"))},
	},
}

func echoHandler(fail error) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req any) (any, error) {
			if fail != nil {
				return nil, fail
			}
			return &emptypb.Empty{}, nil
		}
		method := "/test.Echo/Say"
		if fail != nil {
			method = "/test.Echo/Fail"
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, h)
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveEcho serves echo on a new server logging to out at level, and
// returns a connection to it.
func serveEcho(t *testing.T, out *syncBuffer, level slog.Level) (*Server, *grpc.ClientConn) {
	t.Helper()
	srv := NewServer(slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level})))
	srv.RegisterService(&echo, struct{}{})
	lis, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, time.Second) }()
	conn, err := Dial(lis.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv, conn
}

// TestRequestLog: one info line per call with method, code, duration and
// peer, none of the call's metadata; health checks at debug only.
func TestRequestLog(t *testing.T) {
	var out syncBuffer
	_, conn := serveEcho(t, &out, slog.LevelInfo)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer secret-token-123", "x-user-code", "289912345678901234")
	if err := conn.Invoke(ctx, "/test.Echo/Say", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Invoke(ctx, "/test.Echo/Fail", &emptypb.Empty{}, &emptypb.Empty{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Fail answered %v", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	var reqs []map[string]any
	for _, l := range out.lines() {
		if l["msg"] == "request" {
			reqs = append(reqs, l)
		}
	}
	if len(reqs) != 2 {
		t.Fatalf("%d request lines at info, want 2 (the health check at debug): %s", len(reqs), out.String())
	}
	for i, want := range []struct{ method, code string }{{"/test.Echo/Say", "OK"}, {"/test.Echo/Fail", "FailedPrecondition"}} {
		l := reqs[i]
		if l["level"] != "INFO" || l["method"] != want.method || l["code"] != want.code {
			t.Errorf("line %d: %v, want INFO %s %s", i, l, want.method, want.code)
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 || d > 5000 {
			t.Errorf("line %d: duration_ms %v", i, l["duration_ms"])
		}
		if p, _ := l["peer"].(string); !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("line %d: peer %v", i, l["peer"])
		}
		if _, ok := l["caller"]; !ok {
			t.Errorf("line %d: no caller field", i)
		}
	}
	if s := out.String(); strings.Contains(s, "secret-token") || strings.Contains(s, "289912345678901234") || strings.Contains(s, "authorization") {
		t.Fatalf("metadata in the log: %s", s)
	}

	// At debug, the health check has its line too.
	var dbg syncBuffer
	_, conn2 := serveEcho(t, &dbg, slog.LevelDebug)
	if _, err := healthpb.NewHealthClient(conn2).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	lines := dbg.lines()
	if len(lines) == 0 || lines[len(lines)-1]["level"] != "DEBUG" || lines[len(lines)-1]["method"] != "/grpc.health.v1.Health/Check" {
		t.Fatalf("health check not logged at debug: %s", dbg.String())
	}
}

// TestRPCMetrics: the server and client RED counters and histograms count
// each call with its final code (the error as rpcerr mapped it).
func TestRPCMetrics(t *testing.T) {
	var out syncBuffer
	_, conn := serveEcho(t, &out, slog.LevelInfo)
	value := func(name, method, code string) float64 {
		l := map[string]string{"grpc_service": "test.Echo", "grpc_method": method, "grpc_type": "unary"}
		if code != "" {
			l["grpc_code"] = code
		}
		v, _ := metrics.Value(name, l)
		return v
	}
	type sample struct{ name, method, code string }
	samples := []sample{
		{"grpc_server_handled_total", "Say", "OK"},
		{"grpc_server_handled_total", "Fail", "FailedPrecondition"},
		{"grpc_server_handling_seconds", "Say", ""},
		{"grpc_client_handled_total", "Say", "OK"},
		{"grpc_client_handled_total", "Fail", "FailedPrecondition"},
		{"grpc_client_handling_seconds", "Say", ""},
	}
	before := map[sample]float64{}
	for _, s := range samples {
		before[s] = value(s.name, s.method, s.code)
	}
	for range 3 {
		if err := conn.Invoke(context.Background(), "/test.Echo/Say", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Invoke(context.Background(), "/test.Echo/Fail", &emptypb.Empty{}, &emptypb.Empty{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Fail answered %v", err)
	}
	for _, s := range samples {
		want := 3.0
		if s.method == "Fail" {
			want = 1
		}
		if got := value(s.name, s.method, s.code) - before[s]; got != want {
			t.Errorf("%s %s %s went up by %v, want %v", s.name, s.method, s.code, got, want)
		}
	}
	if _, ok := metrics.Value("go_goroutines", nil); !ok {
		t.Error("no Go runtime metrics in the registry")
	}
}

// TestServeHealth: the plaintext health server answers the main server's
// status: SERVING while it serves, NOT_SERVING once it stops.
func TestServeHealth(t *testing.T) {
	var out syncBuffer
	srv := NewServer(slog.New(slog.NewJSONHandler(&out, nil)))
	lis, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopMain := context.WithCancel(context.Background())
	hctx, stopHealth := context.WithCancel(context.Background())
	mainDone, healthDone := make(chan error, 1), make(chan error, 1)
	go func() { healthDone <- srv.ServeHealth(hctx, hlis) }()
	// A plain client, as a probe is: Dial's connections avoid replicas
	// that are not SERVING.
	conn, err := grpc.NewClient(hlis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before serving: %v", got)
	}
	go func() { mainDone <- srv.Serve(ctx, lis, time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for check() != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("never SERVING on the health port")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopMain()
	if err := <-mainDone; err != nil {
		t.Fatal(err)
	}
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after the main server stopped: %v", got)
	}
	stopHealth()
	if err := <-healthDone; err != nil {
		t.Fatal(err)
	}
}

// TestInternalErrorLogMasksCodes: the cause of an INTERNAL, logged, has
// any payment code a downstream echoed into it masked.
func TestInternalErrorLogMasksCodes(t *testing.T) {
	var out syncBuffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&out, nil))}
	err := s.mapError(context.Background(), "/x", errors.New("wallet refused code 289912345678901234"))
	if status.Code(err) != codes.Internal {
		t.Fatalf("mapped to %v", err)
	}
	if strings.Contains(out.String(), "289912345678901234") || !strings.Contains(out.String(), "wallet refused code") {
		t.Fatalf("log: %s", out.String())
	}
}
