package velocity

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
)

// replica is one risk replica's velocity half on a loopback gRPC server.
type replica struct {
	c    *Counter
	s    *Sharer
	addr string
	srv  *grpc.Server
}

func startReplica(t *testing.T, name string, lis net.Listener) *replica {
	t.Helper()
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	c := New()
	r := &replica{c: c, s: NewSharer(c, name, nil), addr: lis.Addr().String(), srv: grpc.NewServer()}
	riskv1.RegisterRiskPeerServiceServer(r.srv, r.s)
	go func() { _ = r.srv.Serve(lis) }()
	t.Cleanup(r.srv.Stop)
	return r
}

func dialPeer(ctx context.Context, addr string) (riskv1.RiskPeerServiceClient, io.Closer, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return riskv1.NewRiskPeerServiceClient(conn), conn, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// TestBurstAcrossReplicas: a user's burst decided half on one replica and
// half on the other is seen whole by both; a peer that was down gets what
// it missed once it is back.
func TestBurstAcrossReplicas(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := startReplica(t, "a", nil), startReplica(t, "b", nil)
	var wg sync.WaitGroup
	for _, r := range []struct{ self, other *replica }{{a, b}, {b, a}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.self.s.Run(ctx, 2*time.Millisecond, func() []string { return []string{r.other.addr} }, dialPeer)
		}()
	}
	now := time.Now()
	for i := range 6 {
		r := a
		if i%2 == 1 {
			r = b
		}
		r.s.Record([]string{"user:hipay/u1", "merchant:cnsim/M1"}, 100, now)
	}
	for _, r := range []*replica{a, b} {
		waitFor(t, "the burst seen whole", func() bool {
			return r.c.Get("user:hipay/u1", now).Count1m == 6 && r.c.Get("merchant:cnsim/M1", now).Sum1m == 600
		})
	}

	// A replica is down while another decides; it gets the events once it
	// listens. (One Run per sharer: the sender here is a new replica d.)
	d := startReplica(t, "d", nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	late := lis.Addr().String()
	lis.Close()
	ctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.s.Run(ctx2, 2*time.Millisecond, func() []string { return []string{late} }, dialPeer)
	}()
	d.s.Record([]string{"user:hipay/u2"}, 7, now)
	time.Sleep(50 * time.Millisecond)
	lis, err = net.Listen("tcp", late)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	c := startReplica(t, "c", lis)
	waitFor(t, "the late replica catching up", func() bool { return c.c.Get("user:hipay/u2", now).Sum24h == 7 })
	if c.s.Received() != 1 || d.s.Dropped() != 0 {
		t.Fatalf("received %d, dropped %d", c.s.Received(), d.s.Dropped())
	}
	cancel2()
	<-done
	cancel()
	wg.Wait()
}
