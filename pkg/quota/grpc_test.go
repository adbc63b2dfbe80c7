package quota

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// health is the test service: Check answers at once, or for the service
// "block" only once unblock is closed; Watch sends SERVING and then stays
// open until its caller goes away.
type health struct {
	healthpb.UnimplementedHealthServer
	ran     atomic.Int64  // handlers entered
	entered chan struct{} // one per blocking Check entered
	unblock chan struct{}
}

func (h *health) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.ran.Add(1)
	if req.GetService() == "block" {
		h.entered <- struct{}{}
		select {
		case <-h.unblock:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *health) Watch(_ *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	h.ran.Add(1)
	if err := ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	<-ss.Context().Done()
	return nil
}

// callerKey is the metadata key by which test clients name themselves; in
// production the caller comes from the client certificate.
const callerKey = "test-caller"

func callerOf(ctx context.Context) (string, bool) {
	v := metadata.ValueFromIncomingContext(ctx, callerKey)
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

func as(ctx context.Context, caller string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, callerKey, caller)
}

// testServer is a real gRPC server on loopback.
type testServer struct {
	addr   string
	health *health
	// ended receives the method of each call or stream once the whole
	// interceptor chain is done with it, so its quota is released.
	ended chan string
}

// serve starts a server whose interceptors are, outermost first: rpcerr's
// mapping as grpcx does it, a marker of ended calls, then quota's (if l is
// not nil).
func serve(t *testing.T, l *Limiter, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	ts := &testServer{
		health: &health{entered: make(chan struct{}, 16), unblock: make(chan struct{})},
		ended:  make(chan string, 64),
	}
	unary := []grpc.UnaryServerInterceptor{
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if err != nil {
				err = rpcerr.ToStatus(err).Err()
			}
			return resp, err
		},
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			defer func() { ts.ended <- info.FullMethod }()
			return h(ctx, req)
		},
	}
	stream := []grpc.StreamServerInterceptor{
		func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := h(srv, ss); err != nil {
				return rpcerr.ToStatus(err).Err()
			}
			return nil
		},
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			defer func() { ts.ended <- info.FullMethod }()
			return h(srv, ss)
		},
	}
	if l != nil {
		unary = append(unary, UnaryServerInterceptor(l, callerOf))
		stream = append(stream, StreamServerInterceptor(l, callerOf))
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, ts.health)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	ts.addr = lis.Addr().String()
	return ts
}

// client returns a new connection (its own HTTP/2 connection) to ts.
func (ts *testServer) client(t *testing.T) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// waitEnded waits for n calls or streams to be done with on the server.
func (ts *testServer) waitEnded(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-ts.ended:
		case <-time.After(10 * time.Second):
			t.Fatal("server did not finish a call")
		}
	}
}

func check(ctx context.Context, c healthpb.HealthClient, caller string) error {
	if caller != "" {
		ctx = as(ctx, caller)
	}
	_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// watch opens a stream and waits until its handler runs (its first
// message arrives), returning the error that refused it if it was.
func watch(ctx context.Context, c healthpb.HealthClient, caller string) error {
	if caller != "" {
		ctx = as(ctx, caller)
	}
	s, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

// wantRefused checks that err is QUOTA_EXCEEDED as a partner sees it:
// RESOURCE_EXHAUSTED with ErrorInfo, QuotaFailure and RetryInfo.
func wantRefused(t *testing.T, err error, caller string, budget Budget, retry time.Duration) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	var info *errdetails.ErrorInfo
	var quota *errdetails.QuotaFailure
	var ri *errdetails.RetryInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.QuotaFailure:
			quota = d
		case *errdetails.RetryInfo:
			ri = d
		}
	}
	if info.GetDomain() != rpcerr.Domain || info.GetReason() != string(rpcerr.QuotaExceeded) {
		t.Errorf("ErrorInfo = %v", info)
	}
	if v := quota.GetViolations(); len(v) != 1 || v[0].GetSubject() != caller || v[0].GetDescription() != string(budget) {
		t.Errorf("QuotaFailure = %v, want subject %q description %q", quota, caller, budget)
	}
	if ri == nil || ri.GetRetryDelay().AsDuration() != retry {
		t.Errorf("RetryInfo = %v, want %v", ri, retry)
	}
	if !strings.Contains(st.Message(), string(budget)) {
		t.Errorf("message %q does not name the %s quota", st.Message(), budget)
	}
	if rpcerr.ReasonOf(err) != rpcerr.QuotaExceeded {
		t.Errorf("ReasonOf = %v", rpcerr.ReasonOf(err))
	}
}

// fixedDelay is rpcerr's delay for QUOTA_EXCEEDED, which concurrency and
// streams refusals carry.
var fixedDelay = rpcerr.New(rpcerr.QuotaExceeded, "").GRPCStatus().Details()[1].(*errdetails.RetryInfo).GetRetryDelay().AsDuration()

func TestRateExceeded(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := NewLimiter(c.Now)
	l.SetDefault(Limits{RatePerSecond: 4, Burst: 2})
	ts := serve(t, l)
	cl := ts.client(t)
	for i := range 2 {
		if err := check(ctx, cl, "partner:a"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := check(ctx, cl, "partner:a")
	wantRefused(t, err, "partner:a", Rate, 250*time.Millisecond)
	c.Advance(100 * time.Millisecond)
	wantRefused(t, check(ctx, cl, "partner:a"), "partner:a", Rate, 150*time.Millisecond)
	// A stream opening takes a token too.
	wantRefused(t, watch(ctx, cl, "partner:a"), "partner:a", Rate, 150*time.Millisecond)
	if n := ts.health.ran.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want only for the 2 admitted calls", n)
	}
	c.Advance(150 * time.Millisecond)
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatalf("after the retry delay: %v", err)
	}
}

func TestConcurrencyExceeded(t *testing.T) {
	ctx := t.Context()
	l := NewLimiter(nil)
	l.SetDefault(Limits{MaxConcurrent: 1})
	ts := serve(t, l)
	cl := ts.client(t)
	blocked := make(chan error, 1)
	go func() {
		_, err := cl.Check(as(ctx, "partner:a"), &healthpb.HealthCheckRequest{Service: "block"})
		blocked <- err
	}()
	<-ts.health.entered
	wantRefused(t, check(ctx, cl, "partner:a"), "partner:a", Concurrency, fixedDelay)
	// Streams have their own budget.
	if err := watch(ctx, ts.client(t), "partner:a"); err != nil {
		t.Fatalf("stream while a call is in flight: %v", err)
	}
	close(ts.health.unblock)
	if err := <-blocked; err != nil {
		t.Fatalf("blocked call: %v", err)
	}
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatalf("after the call in flight ended: %v", err)
	}
}

func TestStreamsExceeded(t *testing.T) {
	ctx := t.Context()
	l := NewLimiter(nil)
	l.SetDefault(Limits{MaxStreams: 2})
	ts := serve(t, l)
	cl := ts.client(t)
	first, cancelFirst := context.WithCancel(ctx)
	defer cancelFirst()
	for range 2 {
		if err := watch(first, cl, "partner:a"); err != nil {
			t.Fatal(err)
		}
	}
	// The budget is the caller's across connections.
	wantRefused(t, watch(ctx, ts.client(t), "partner:a"), "partner:a", Streams, fixedDelay)
	ts.waitEnded(t, 1)
	// Unary calls have their own budget.
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatalf("unary call with streams open: %v", err)
	}
	ts.waitEnded(t, 1)
	cancelFirst()
	ts.waitEnded(t, 2)
	if err := watch(ctx, cl, "partner:a"); err != nil {
		t.Fatalf("after the streams closed: %v", err)
	}
}

func TestLiveLimits(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := NewLimiter(c.Now)
	l.SetDefault(Limits{RatePerSecond: 1, Burst: 1, MaxConcurrent: 1})
	ts := serve(t, l)
	cl := ts.client(t)

	// Rate: the new rate sets the next call's delay; the empty bucket stays empty.
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, check(ctx, cl, "partner:a"), "partner:a", Rate, time.Second)
	l.SetLimits("partner:a", Limits{RatePerSecond: 10, Burst: 10, MaxConcurrent: 1})
	wantRefused(t, check(ctx, cl, "partner:a"), "partner:a", Rate, 100*time.Millisecond)
	c.Advance(100 * time.Millisecond)
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatalf("at the new rate: %v", err)
	}

	// Concurrency: raising the maximum admits the call refused before.
	blocked := make(chan error, 2)
	block := func() {
		_, err := cl.Check(as(ctx, "partner:a"), &healthpb.HealthCheckRequest{Service: "block"})
		blocked <- err
	}
	c.Advance(time.Second)
	go block()
	<-ts.health.entered
	wantRefused(t, check(ctx, cl, "partner:a"), "partner:a", Concurrency, fixedDelay)
	l.SetLimits("partner:a", Limits{RatePerSecond: 10, Burst: 10, MaxConcurrent: 2})
	go block()
	<-ts.health.entered
	close(ts.health.unblock)
	for range 2 {
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
	}

	// Back to the default: one token a second again.
	l.ClearLimits("partner:a")
	c.Advance(time.Hour)
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, check(ctx, cl, "partner:a"), "partner:a", Rate, time.Second)
	// Lifting every limit lets the caller through at once.
	l.SetDefault(Limits{})
	for range 5 {
		if err := check(ctx, cl, "partner:a"); err != nil {
			t.Fatalf("unlimited: %v", err)
		}
	}
}

func TestCallersHaveTheirOwnBudgets(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := NewLimiter(c.Now)
	l.SetDefault(Limits{RatePerSecond: 1, Burst: 1, MaxStreams: 1})
	l.SetLimits("partner:big", Limits{RatePerSecond: 1, Burst: 3, MaxStreams: 1})
	ts := serve(t, l)
	cl := ts.client(t) // one connection shared by all callers
	for _, tc := range []struct {
		caller string
		calls  int
	}{{"partner:a", 1}, {"partner:b", 1}, {"partner:big", 3}} {
		for i := range tc.calls {
			if err := check(ctx, cl, tc.caller); err != nil {
				t.Fatalf("%s call %d: %v", tc.caller, i, err)
			}
		}
		wantRefused(t, check(ctx, cl, tc.caller), tc.caller, Rate, time.Second)
	}
	c.Advance(time.Second)
	streams, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := watch(streams, cl, "partner:a"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	wantRefused(t, watch(ctx, cl, "partner:a"), "partner:a", Streams, fixedDelay)
	if err := watch(streams, cl, "partner:b"); err != nil {
		t.Fatalf("partner:b's stream: %v", err)
	}
}

func TestCallsWithoutCallerAreNotLimited(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	l := NewLimiter(c.Now)
	l.SetDefault(Limits{RatePerSecond: 1, Burst: 1, MaxConcurrent: 1, MaxStreams: 1})
	ts := serve(t, l)
	cl := ts.client(t)
	for i := range 5 {
		if err := check(ctx, cl, ""); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	streams, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range 3 {
		if err := watch(streams, cl, ""); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	// And they take nothing from callers' budgets.
	if err := check(ctx, cl, "partner:a"); err != nil {
		t.Fatal(err)
	}
}

// TestConnStreamLimit: grpc.MaxConcurrentStreams bounds one connection's
// streams; a grpc-go client waits for a free one, other connections are
// not affected.
func TestConnStreamLimit(t *testing.T) {
	ctx := t.Context()
	ts := serve(t, nil, ConnStreamLimit(2))
	cl := ts.client(t)
	var cancels []context.CancelFunc
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	for range 2 {
		sctx, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		if err := watch(sctx, cl, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The third stream on the connection waits; it cannot be admitted
	// while two are open, whatever the timing, so its deadline ends it.
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := watch(wctx, cl, ""); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("third stream on one connection: %v, want DEADLINE_EXCEEDED", err)
	}
	// Unary calls are streams too.
	uctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := check(uctx, cl, ""); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("unary call on a full connection: %v, want DEADLINE_EXCEEDED", err)
	}
	if n := ts.health.ran.Load(); n != 2 {
		t.Fatalf("handlers ran %d times, want 2", n)
	}
	// Another connection has its own streams.
	if err := check(ctx, ts.client(t), ""); err != nil {
		t.Fatalf("another connection: %v", err)
	}
	// Closing a stream frees its place.
	cancels[0]()
	if err := watch(ctx, cl, ""); err != nil {
		t.Fatalf("after a stream closed: %v", err)
	}
}

func TestServerOptions(t *testing.T) {
	if got := ServerOptions(0, 0); len(got) != 0 {
		t.Fatalf("ServerOptions(0, 0) = %d options, want none", len(got))
	}
	if _, ok := ConnStreamLimit(0).(grpc.EmptyServerOption); !ok {
		t.Fatal("ConnStreamLimit(0) is not empty")
	}
	ctx := t.Context()
	ts := serve(t, nil, ServerOptions(1024, 10)...)
	cl := ts.client(t)
	if _, err := cl.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 900)}); err != nil {
		t.Fatalf("request under the bound: %v", err)
	}
	_, err := cl.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 2000)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("request over the bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	if n := ts.health.ran.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// TestConcurrentCallers runs many callers at once; with -race it checks
// the Limiter's locking, and every call is either admitted or refused by
// its concurrency budget.
func TestConcurrentCallers(t *testing.T) {
	l := NewLimiter(nil)
	l.SetDefault(Limits{MaxConcurrent: 3})
	var wg sync.WaitGroup
	var inFlight [4]atomic.Int64
	for g := range 16 {
		wg.Go(func() {
			caller := []string{"a", "b", "c", "d"}[g%4]
			for range 200 {
				release, err := l.AcquireCall(caller)
				if err != nil {
					continue
				}
				if n := inFlight[g%4].Add(1); n > 3 {
					t.Errorf("%s has %d calls in flight", caller, n)
				}
				inFlight[g%4].Add(-1)
				release()
			}
		})
	}
	wg.Wait()
}
