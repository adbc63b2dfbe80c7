package grpcx

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// replica is one server of a replicated service, whose connections can
// be paused: open, but silent, as a stopped process's are.
type replica struct {
	testgrpc.UnimplementedTestServiceServer
	srv    *Server
	addr   string
	calls  atomic.Int64
	cancel context.CancelFunc
	done   chan error
	lis    *pausable
}

func (r *replica) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	r.calls.Add(1)
	return &testgrpc.Empty{}, nil
}

func startReplica(t *testing.T) *replica {
	t.Helper()
	lis, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{srv: NewServer(slog.New(slog.NewTextHandler(io.Discard, nil))), addr: lis.Addr().String(),
		done: make(chan error, 1), lis: &pausable{Listener: lis}}
	r.lis.cond = sync.NewCond(&r.lis.mu)
	testgrpc.RegisterTestServiceServer(r.srv, r)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.srv.Serve(ctx, r.lis, 2*time.Second) }()
	t.Cleanup(func() { r.lis.resume(); r.srv.Stop(); cancel() })
	return r
}

// pausable hands out connections that block reads and writes while the
// listener is paused.
type pausable struct {
	net.Listener
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
}

func (p *pausable) Accept() (net.Conn, error) {
	c, err := p.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &pausableConn{Conn: c, p: p}, nil
}

func (p *pausable) wait() {
	p.mu.Lock()
	for p.paused {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

func (p *pausable) pause()  { p.mu.Lock(); p.paused = true; p.mu.Unlock() }
func (p *pausable) resume() { p.mu.Lock(); p.paused = false; p.cond.Broadcast(); p.mu.Unlock() }

type pausableConn struct {
	net.Conn
	p *pausable
}

func (c *pausableConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.p.wait() // what was read is not acted on while paused
	return n, err
}

func (c *pausableConn) Write(b []byte) (int, error) {
	c.p.wait()
	return c.Conn.Write(b)
}

// load calls the service continuously from 4 callers until stop is
// closed and returns how many calls failed and how many were made.
func load(conn *grpc.ClientConn, stop <-chan struct{}) (failed, total *atomic.Int64, wait func()) {
	failed, total = &atomic.Int64{}, &atomic.Int64{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testgrpc.NewTestServiceClient(conn)
			for {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				if _, err := c.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
					failed.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return failed, total, wg.Wait
}

func TestReplicas(t *testing.T) {
	a, b := startReplica(t), startReplica(t)
	conn, err := Dial(a.addr+","+b.addr, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := testgrpc.NewTestServiceClient(conn)
	for range 200 {
		if _, err := c.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	if a.calls.Load() < 50 || b.calls.Load() < 50 {
		t.Fatalf("calls not spread: %d and %d", a.calls.Load(), b.calls.Load())
	}

	t.Run("a replica stopping gracefully costs no call", func(t *testing.T) {
		stop := make(chan struct{})
		failed, total, wait := load(conn, stop)
		time.Sleep(100 * time.Millisecond)
		a.cancel() // NOT_SERVING, drain, stop
		<-a.done
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wait()
		if failed.Load() != 0 {
			t.Fatalf("%d of %d calls failed", failed.Load(), total.Load())
		}
	})

	c2 := startReplica(t)
	conn2, err := Dial(b.addr+","+c2.addr, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	t.Run("a replica killed costs no call", func(t *testing.T) {
		stop := make(chan struct{})
		failed, total, wait := load(conn2, stop)
		time.Sleep(100 * time.Millisecond)
		c2.srv.Stop() // connections closed at once, calls in flight fail UNAVAILABLE
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wait()
		if failed.Load() != 0 {
			t.Fatalf("%d of %d calls failed", failed.Load(), total.Load())
		}
	})

	d := startReplica(t)
	conn3, err := Dial(b.addr+","+d.addr, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close()
	t.Run("a silent replica is taken out within a second", func(t *testing.T) {
		for range 20 { // both connected
			if _, err := testgrpc.NewTestServiceClient(conn3).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
				t.Fatal(err)
			}
		}
		d.lis.pause()
		paused := time.Now()
		time.Sleep(time.Duration(ProbeMisses+1)*(ProbeInterval+ProbeTimeout) - time.Since(paused))
		stop := make(chan struct{})
		failed, total, wait := load(conn3, stop)
		time.Sleep(500 * time.Millisecond)
		close(stop)
		wait()
		if failed.Load() != 0 || total.Load() < 50 {
			t.Fatalf("after the probes' window: %d of %d calls failed", failed.Load(), total.Load())
		}
		d.lis.resume()
	})
}

// TestDNSReplicas: a dns:/// target's addresses are its replicas.
func TestDNSReplicas(t *testing.T) {
	a := startReplica(t)
	_, port, _ := net.SplitHostPort(a.addr)
	conn, err := Dial("dns:///localhost:"+port, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 20 {
		if _, err := testgrpc.NewTestServiceClient(conn).EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	if a.calls.Load() != 20 {
		t.Fatalf("calls reached the replica: %d", a.calls.Load())
	}
	if _, err := Dial("dns:///no-port", time.Second); err == nil {
		t.Fatal("a dns target without a port was accepted")
	}
}
