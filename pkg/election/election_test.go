package election

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/unigate/unigate/pkg/etcdx"
)

// TestFailoverAndHandover runs two candidates in one process on separate
// clients: the first leads, stops (resign: fast handover), the second
// leads with a higher fencing revision; and a leader whose lease is
// revoked out from under it has its work cancelled.
func TestFailoverAndHandover(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := etcdx.StartEmbedded(ctx, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	terms := make(chan Term, 10)
	start := func(id string) (context.CancelFunc, *sync.WaitGroup) {
		cli, err := etcdx.Connect([]string{e.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		cctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cli.Close()
			_ = Run(cctx, cli, Config{Name: "test", Candidate: id, TTL: 1, Log: log}, func(ctx context.Context, term Term) error {
				terms <- term
				<-ctx.Done()
				return nil
			})
		}()
		return stop, &wg
	}
	stopA, wgA := start("a")
	first := <-terms
	if first.Candidate != "a" {
		t.Fatalf("first leader %s", first.Candidate)
	}
	stopB, wgB := start("b")
	defer func() { stopB(); wgB.Wait() }()
	select {
	case term := <-terms:
		t.Fatalf("two leaders at once: %v", term)
	case <-time.After(300 * time.Millisecond):
	}

	began := time.Now()
	stopA()
	wgA.Wait()
	second := <-terms
	handover := time.Since(began)
	if second.Candidate != "b" || second.Revision <= first.Revision {
		t.Fatalf("second term %+v after %+v", second, first)
	}
	if handover > 500*time.Millisecond {
		t.Fatalf("graceful handover took %v", handover)
	}
	cli, err := etcdx.Connect([]string{e.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	who, rev, ok, err := Leader(ctx, cli, "test")
	if err != nil || !ok || who != "b" || rev != second.Revision {
		t.Fatalf("Leader = %s %d %v %v", who, rev, ok, err)
	}
	all, err := Leaders(ctx, cli)
	if err != nil || len(all) != 1 || all[0] != (LeaderInfo{Election: "test", Candidate: "b", Revision: second.Revision}) {
		t.Fatalf("Leaders = %+v, %v", all, err)
	}
}

// TestCrashedLeaderIsReplaced cuts a leader's etcd connection (as a crash
// would: no resign, no revoke); its work must be cancelled and another
// candidate must lead once the lease expires.
func TestCrashedLeaderIsReplaced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := etcdx.StartEmbedded(ctx, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	led := make(chan Term, 4)
	ended := make(chan string, 4)
	run := func(id string) (*clientv3.Client, *sync.WaitGroup) {
		cli, err := etcdx.Connect([]string{e.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = Run(ctx, cli, Config{Name: "crash", Candidate: id, TTL: 1, Log: log}, func(ctx context.Context, term Term) error {
				led <- term
				<-ctx.Done()
				ended <- id
				return nil
			})
		}()
		return cli, &wg
	}
	cliC, wgC := run("c")
	first := <-led
	if first.Candidate != "c" {
		t.Fatalf("first leader %s", first.Candidate)
	}
	cliD, wgD := run("d")
	defer func() { cancel(); wgD.Wait(); wgC.Wait(); cliD.Close() }()
	crashed := time.Now()
	cliC.Close() // keepalives stop; nothing is revoked
	select {
	case id := <-ended:
		if id != "c" {
			t.Fatalf("%s's term ended", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cut-off leader kept leading")
	}
	select {
	case second := <-led:
		if second.Candidate != "d" || second.Revision <= first.Revision {
			t.Fatalf("second term %+v after %+v", second, first)
		}
		t.Logf("replaced %v after the crash", time.Since(crashed))
	case <-time.After(5 * time.Second):
		t.Fatal("no new leader within 5s of the crash")
	}
}

// TestStandbySeesLeaderGo: a standby that follows the leader's process
// (Liveness) revokes its lease the moment the process goes, well before
// the lease would expire.
func TestStandbySeesLeaderGo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := etcdx.StartEmbedded(ctx, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The leader's "process": a listener; its death closes what it accepted.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	die := func() {
		lis.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	// Liveness: connected, then blocked until the connection drops.
	liveness := func(ctx context.Context, addr string) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			return err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		_, _ = c.Read(make([]byte, 1))
		c.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}

	led := make(chan Term, 4)
	var runs sync.WaitGroup
	defer func() { cancel(); runs.Wait(); die() }()
	run := func(cfg Config) *clientv3.Client {
		cli, err := etcdx.Connect([]string{e.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		runs.Add(1)
		go func() {
			defer runs.Done()
			_ = Run(ctx, cli, cfg, func(ctx context.Context, term Term) error {
				led <- term
				<-ctx.Done()
				return nil
			})
		}()
		return cli
	}
	cliA := run(Config{Name: "fast", Candidate: "a", TTL: 1, Log: log, Address: lis.Addr().String(), Liveness: liveness})
	first := <-led
	cliB := run(Config{Name: "fast", Candidate: "b", TTL: 1, Log: log, Address: "127.0.0.1:1", Liveness: liveness})
	defer cliB.Close()
	if who, _, ok, err := Leader(ctx, cliB, "fast"); err != nil || !ok || who != "a" {
		t.Fatalf("Leader = %q %v %v", who, ok, err)
	}
	time.Sleep(300 * time.Millisecond) // b is following a
	crashed := time.Now()
	die()
	cliA.Close() // no resign, no revoke: as a kill -9
	select {
	case second := <-led:
		took := time.Since(crashed)
		if second.Candidate != "b" || second.Revision <= first.Revision {
			t.Fatalf("second term %+v after %+v", second, first)
		}
		// The lease alone would take over a second.
		if took > 500*time.Millisecond {
			t.Fatalf("replaced after %v: the standby did not act on the leader's going", took)
		}
		t.Logf("replaced %v after the crash", took)
	case <-time.After(5 * time.Second):
		t.Fatal("no new leader within 5s of the crash")
	}
}
