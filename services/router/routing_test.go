package router

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/etcdx"
)

func TestBuildTableSkipsBadRecords(t *testing.T) {
	kvs := map[string][]byte{
		Prefix + "partners/hipay":     []byte(`{"id":"hipay","name":"HiPay","currency":"MNT"}`),
		Prefix + "partners/broken":    []byte(`{not json`),
		Prefix + "partners/badcur":    []byte(`{"id":"badcur","currency":"XXXX"}`),
		Prefix + "partners/mismatch":  []byte(`{"id":"other","currency":"MNT"}`),
		Prefix + "networks/cnsim":     []byte(`{"id":"cnsim","endpoint":"127.0.0.1:1","guids":["CN.SIM"],"currency":"CNY"}`),
		Prefix + "networks/dupguid":   []byte(`{"id":"dupguid","endpoint":"127.0.0.1:2","guids":["cn.sim"],"currency":"CNY"}`),
		Prefix + "networks/noguid":    []byte(`{"id":"noguid","endpoint":"127.0.0.1:3","currency":"CNY"}`),
		Prefix + "somethingelse/x":    []byte(`{}`),
		Prefix + "partners/UPPERCASE": []byte(`{"id":"UPPERCASE","currency":"MNT"}`),
	}
	tb := buildTable(7, kvs)
	if tb.Revision != 7 || len(tb.Partners) != 1 || len(tb.Networks) != 1 {
		t.Fatalf("partners %v networks %v", tb.Partners, tb.Networks)
	}
	if n, ok := tb.NetworkByGUID("cn.SIM"); !ok || n.ID != "cnsim" {
		t.Fatalf("GUID lookup is not case-insensitive: %v %v", n, ok)
	}
	if len(tb.Problems) != 7 {
		t.Fatalf("problems %d: %s", len(tb.Problems), strings.Join(tb.Problems, "\n"))
	}
}

func TestWatcherAppliesChanges(t *testing.T) {
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
	if err := PutPartner(ctx, cli, Partner{ID: "hipay", Name: "HiPay", Currency: "MNT"}); err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(cli, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Table().Partners["hipay"]; !ok {
		t.Fatal("initial load missed hipay")
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if err := PutNetwork(ctx, cli, Network{ID: "cnsim", Endpoint: "127.0.0.1:1", GUIDs: []string{"CN.SIM"}, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, Prefix+"partners/hipay"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tb := w.Table()
		if _, gone := tb.Partners["hipay"]; !gone && len(tb.Networks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not apply: %+v", tb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := PutPartner(ctx, cli, Partner{ID: "Bad ID", Currency: "MNT"}); err == nil {
		t.Fatal("PutPartner accepted an invalid id")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWatcherStartsFromCache: a watcher that read the table keeps it on
// disk; with etcd gone, a new watcher starts on it; without a cache it
// cannot start.
func TestWatcherStartsFromCache(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := etcdx.StartEmbedded(ctx, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := etcdx.Connect([]string{e.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := PutPartner(ctx, cli, Partner{ID: "hipay", Name: "HiPay", Currency: "MNT"}); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache", "routing.json")
	w := NewWatcher(cli, log)
	w.CacheFile = cache
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rev := w.Table().Revision
	e.Close() // etcd is gone

	later := NewWatcher(cli, log)
	later.CacheFile = cache
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if err := later.Start(sctx); err != nil {
		t.Fatalf("start with etcd down and a cache: %v", err)
	}
	if p, ok := later.Table().Partners["hipay"]; !ok || p.Currency != "MNT" || later.Table().Revision != rev {
		t.Fatalf("cached table: %+v", later.Table())
	}
	none := NewWatcher(cli, log)
	none.CacheFile = filepath.Join(t.TempDir(), "missing.json")
	sctx2, scancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer scancel2()
	if err := none.Start(sctx2); err == nil {
		t.Fatal("started with etcd down and no cache")
	}
}
