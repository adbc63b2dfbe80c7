package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/grpcx"
)

// TestLiveness: a standby follows a replica of its own service — verified
// by its identity, not by the address's name — and sees it go; a process
// of another service is not taken for one.
func TestLiveness(t *testing.T) {
	dir := t.TempDir()
	if _, err := DevPKI(dir); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	serve := func(service string) (addr string, stop func()) {
		t.Helper()
		c := Common{Listen: "127.0.0.1:0", Log: log, PKI: dir}
		srv, err := newServer(c, service, acquirerPolicy)
		if err != nil {
			t.Fatal(err)
		}
		lis, err := grpcx.Listen(c.Listen)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = srv.Serve(ctx, lis, time.Second); close(done) }()
		return lis.Addr().String(), func() { srv.Stop(); cancel(); <-done }
	}
	standby := Common{Log: log, PKI: dir}.liveness("acquirer")

	addr, kill := serve("acquirer")
	gone := make(chan error, 1)
	go func() { gone <- standby(context.Background(), addr) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-gone:
		t.Fatalf("liveness returned while the peer was there: %v", err)
	default:
	}
	began := time.Now()
	kill()
	select {
	case err := <-gone:
		if err != nil {
			t.Fatalf("liveness on the peer's going: %v, want nil", err)
		}
		t.Logf("seen gone after %v", time.Since(began))
	case <-time.After(3 * time.Second):
		t.Fatal("liveness did not see the peer go")
	}

	other, stopOther := serve("router")
	defer stopOther()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := standby(ctx, other); err == nil {
		t.Fatal("a router's process was followed as an acquirer")
	}
}
