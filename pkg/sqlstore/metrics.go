package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
)

// Instrument reports the connection pool of db in the process's metrics
// (the go_sql_* series of docs/metrics.md), labelled service and db (the
// database's name), until stop is called. Handles with the same labels
// in one process (replicas side by side in tests) are reported as one
// pool: their statistics are added up.
func (db *DB) Instrument(ctx context.Context, service string) (stop func()) {
	k := poolKey{service: service, db: db.name(ctx)}
	pools.mu.Lock()
	defer pools.mu.Unlock()
	pools.m[db] = k
	return func() {
		pools.mu.Lock()
		defer pools.mu.Unlock()
		delete(pools.m, db)
	}
}

// name is the database's name: PostgreSQL's current database, or the
// SQLite file's base name without its extension.
func (db *DB) name(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var name string
	switch db.dialect {
	case SQLite:
		var seq int
		var schema string
		if err := db.db.QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &schema, &name); err != nil || name == "" {
			return "memory"
		}
		return strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	default:
		if err := db.db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
			return db.dialect.String()
		}
		return name
	}
}

type poolKey struct{ service, db string }

// pools are the instrumented handles of the process.
var pools = newPoolCollector()

func newPoolCollector() *poolCollector {
	c := &poolCollector{m: map[*DB]poolKey{}, descs: allPoolDescs}
	metrics.Registry.MustRegister(c)
	return c
}

// poolCollector reports sql.DBStats per (service, db), as client_golang's
// collectors.NewDBStatsCollector does per handle.
type poolCollector struct {
	descs []*prometheus.Desc
	mu    sync.Mutex
	m     map[*DB]poolKey
}

var poolLabels = []string{"service", "db"}

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("go_sql_"+name, help, poolLabels, nil)
}

var (
	maxOpenDesc       = poolDesc("max_open_connections", "Maximum number of open connections to the database.")
	openDesc          = poolDesc("open_connections", "The number of established connections both in use and idle.")
	inUseDesc         = poolDesc("in_use_connections", "The number of connections currently in use.")
	idleDesc          = poolDesc("idle_connections", "The number of idle connections.")
	waitCountDesc     = poolDesc("wait_count_total", "The total number of connections waited for.")
	waitDurationDesc  = poolDesc("wait_duration_seconds_total", "The total time blocked waiting for a new connection.")
	maxIdleClosedDesc = poolDesc("max_idle_closed_total", "The total number of connections closed due to SetMaxIdleConns.")
	maxIdleTimeDesc   = poolDesc("max_idle_time_closed_total", "The total number of connections closed due to SetConnMaxIdleTime.")
	maxLifetimeDesc   = poolDesc("max_lifetime_closed_total", "The total number of connections closed due to SetConnMaxLifetime.")
	allPoolDescs      = []*prometheus.Desc{maxOpenDesc, openDesc, inUseDesc, idleDesc, waitCountDesc, waitDurationDesc, maxIdleClosedDesc, maxIdleTimeDesc, maxLifetimeDesc}
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	sums := map[poolKey]sql.DBStats{}
	c.mu.Lock()
	for db, k := range c.m {
		s, t := sums[k], db.db.Stats()
		s.MaxOpenConnections += t.MaxOpenConnections
		s.OpenConnections += t.OpenConnections
		s.InUse += t.InUse
		s.Idle += t.Idle
		s.WaitCount += t.WaitCount
		s.WaitDuration += t.WaitDuration
		s.MaxIdleClosed += t.MaxIdleClosed
		s.MaxIdleTimeClosed += t.MaxIdleTimeClosed
		s.MaxLifetimeClosed += t.MaxLifetimeClosed
		sums[k] = s
	}
	c.mu.Unlock()
	for k, s := range sums {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, k.service, k.db)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, k.service, k.db)
		}
		gauge(maxOpenDesc, float64(s.MaxOpenConnections))
		gauge(openDesc, float64(s.OpenConnections))
		gauge(inUseDesc, float64(s.InUse))
		gauge(idleDesc, float64(s.Idle))
		counter(waitCountDesc, float64(s.WaitCount))
		counter(waitDurationDesc, s.WaitDuration.Seconds())
		counter(maxIdleClosedDesc, float64(s.MaxIdleClosed))
		counter(maxIdleTimeDesc, float64(s.MaxIdleTimeClosed))
		counter(maxLifetimeDesc, float64(s.MaxLifetimeClosed))
	}
}
