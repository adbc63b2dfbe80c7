package fx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/fx/feed"
)

// TestIngestionFailover runs two ingesting replicas and a third that only
// watches. The leader's process is killed (its etcd client closed, so its
// lease runs out as a crashed process's would); the standby takes over,
// and the watcher's rates never get older than the staleness limit. The
// deposed leader's fenced writes are refused.
func TestIngestionFailover(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		e, err := etcdx.StartEmbedded(ctx, t.TempDir(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg := BookConfig{Staleness: 3 * time.Second, OutlierBandBps: 100, Reference: "USD"}
		store := NewSQLStore(db)

		terms := make(chan election.Term, 4)
		type replica struct {
			cli  *clientv3.Client
			stop context.CancelFunc
			wg   sync.WaitGroup
		}
		start := func(name string) *replica {
			cli, err := etcdx.Connect([]string{e.Endpoint})
			if err != nil {
				t.Fatal(err)
			}
			f, err := feed.NewStaticFeed("alpha", []feed.StaticRate{{Base: "USD", Quote: "CNY", Mid: money.MustRate("7.1"), SpreadBps: 10}}, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			in := &Ingestor{Feeds: []feed.Feed{f}, Store: store, Etcd: cli, Book: cfg, Log: log, Candidate: name, Flush: 50 * time.Millisecond}
			rctx, stop := context.WithCancel(ctx)
			r := &replica{cli: cli, stop: stop}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				_ = election.Run(rctx, cli, election.Config{Name: IngestElection, Candidate: name, TTL: 1, Log: log},
					func(ctx context.Context, term election.Term) error {
						terms <- term
						return in.Lead(ctx, term)
					})
			}()
			return r
		}
		a := start("a")
		first := <-terms
		b := start("b")

		wcli, err := etcdx.Connect([]string{e.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		defer wcli.Close()
		book := NewBook(cfg)
		w := NewWatcher(wcli, book, log)
		go w.Run(ctx)

		// newest is the age of the freshest USD/CNY rate the watcher holds.
		newest := func() (time.Duration, bool) {
			js := book.Judge(Pair{"USD", "CNY"}, time.Now())
			if len(js) == 0 {
				return 0, false
			}
			return js[0].Age, true
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if age, ok := newest(); ok && age < time.Second {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the watcher never got a fresh rate")
			}
			time.Sleep(20 * time.Millisecond)
		}

		// Kill the leader: its connection to etcd goes, its lease expires.
		killed := time.Now()
		a.cli.Close()
		var (
			second   election.Term
			took     time.Duration
			worst    time.Duration
			observed time.Time // until when to keep watching after the takeover
		)
		for observed.IsZero() || time.Now().Before(observed) {
			select {
			case second = <-terms:
				took = time.Since(killed)
				observed = time.Now().Add(time.Second) // and the new leader's first publications
			default:
			}
			if age, ok := newest(); ok && age > worst {
				worst = age
			}
			if time.Since(killed) > 15*time.Second {
				t.Fatalf("no standby took over (worst age %s)", worst)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if second.Candidate != "b" || second.Revision <= first.Revision {
			t.Fatalf("second term %+v after %+v", second, first)
		}
		if worst >= cfg.Staleness {
			t.Fatalf("rates were %s old during the failover, beyond the %s limit", worst, cfg.Staleness)
		}
		t.Logf("failover: takeover after %s, worst rate age %s", took.Round(time.Millisecond), worst.Round(time.Millisecond))
		if age, _ := newest(); age > time.Second {
			t.Fatalf("the new leader is not publishing: newest rate %s old", age)
		}

		// The deposed leader's writes are refused by both fences.
		old := &Ingestor{Store: store, Etcd: wcli}
		if err := old.publish(ctx, first.Revision, nil, map[string]bool{"alpha": true}); !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed leader published: %v", err)
		}
		if err := store.AppendHistory(ctx, first.Revision, []HistoricRate{{Rate: rate("alpha", "USD", "CNY", "1", "1", 0)}}); !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed leader wrote history: %v", err)
		}
		hs, err := store.History(ctx, Pair{"USD", "CNY"}, time.Now().Add(-time.Minute), 10000)
		if err != nil || len(hs) < 10 {
			t.Fatalf("history: %d rows, %v", len(hs), err)
		}
		a.stop()
		b.stop()
		b.wg.Wait()
		a.wg.Wait()
	})
}
