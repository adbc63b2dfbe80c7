package election

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unigate/unigate/pkg/etcdx"
)

// TestLeaderMetrics: unigate_leader is 1 for the singleton while this
// process leads it and 0 once the term ended; each won term is counted.
func TestLeaderMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := etcdx.StartEmbedded(ctx, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := etcdx.Connect([]string{e.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const name = "metrics-test"
	gauge, won := leaderGauge.WithLabelValues(name), electionsWon.WithLabelValues(name)
	wonBefore := testutil.ToFloat64(won)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inTerm, release := make(chan float64), make(chan struct{})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, cli, Config{Name: name, Candidate: "a", TTL: 1, Log: log}, func(ctx context.Context, term Term) error {
			inTerm <- testutil.ToFloat64(gauge)
			<-release
			return nil // the term ends; Run campaigns again
		})
	}()
	select {
	case v := <-inTerm:
		if v != 1 {
			t.Fatalf("unigate_leader during the term = %v, want 1", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never elected")
	}
	if got := testutil.ToFloat64(won) - wonBefore; got != 1 {
		t.Fatalf("elections won went up by %v, want 1", got)
	}
	stop()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(gauge); v != 0 {
		t.Fatalf("unigate_leader after the term = %v, want 0", v)
	}
}
