package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/unigate/unigate/pkg/metrics"
)

// TestInstrument: an instrumented handle's pool is in the metrics,
// labelled with its service and database, until stopped; two handles
// with the same labels are added up.
func TestInstrument(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	var stops []func()
	for range 2 {
		db, err := Open(ctx, "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		stops = append(stops, db.Instrument(ctx, "metrics-test"))
	}
	labels := map[string]string{"service": "metrics-test", "db": "ledger"}
	if v, ok := metrics.Value("go_sql_max_open_connections", labels); !ok || v != 2 {
		t.Fatalf("max open connections %v (found %v), want 2: one per SQLite handle", v, ok)
	}
	if v, ok := metrics.Value("go_sql_open_connections", labels); !ok || v < 1 {
		t.Fatalf("open connections %v (found %v)", v, ok)
	}
	for _, stop := range stops {
		stop()
	}
	if _, ok := metrics.Value("go_sql_open_connections", labels); ok {
		t.Fatal("still reported once stopped")
	}
}
