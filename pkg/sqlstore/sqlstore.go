// Package sqlstore opens Unigate's SQL back ends and runs transactions on
// them with the retry rules each one needs.
//
// Two back ends share one code path through database/sql:
//
//   - PostgreSQL wire protocol (CockroachDB in production, PostgreSQL in
//     development and CI) through pgx, at SERIALIZABLE isolation. Every
//     retry of a transaction is a fresh transaction (cockroach-go's
//     ExecuteCtx around BEGIN…COMMIT), serialization failures (40001) and
//     deadlocks (40P01) are retried with jittered back-off.
//   - An embedded, pure-Go SQLite (modernc.org/sqlite) for the no-setup
//     default: WAL, one writer connection, BEGIN IMMEDIATE.
//
// Queries are written once with PostgreSQL placeholders ($1, $2, …) in the
// SQL subset that PostgreSQL, CockroachDB and SQLite all accept; the SQLite
// back end rewrites the placeholders. DDL differs, so each component keeps
// one migration set per dialect (see Migrations).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL dialect of a back end.
type Dialect int

const (
	// Postgres is PostgreSQL.
	Postgres Dialect = iota + 1
	// Cockroach is CockroachDB: the Postgres dialect plus its own DDL.
	Cockroach
	// SQLite is the embedded store.
	SQLite
)

func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case Cockroach:
		return "cockroach"
	case SQLite:
		return "sqlite"
	}
	return "unknown"
}

// DB is an open back end.
type DB struct {
	db           *sql.DB
	dialect      Dialect
	serializable bool     // single statements run SERIALIZABLE too
	queries      sync.Map // PostgreSQL query text -> dialect's query text
}

// Option configures Open.
type Option func(*options)

type options struct {
	serializable, genericPlans bool
	maxConns                   int
}

// SerializableStatements makes every statement run at SERIALIZABLE, not
// only those inside InTx: a store can then do a read-check-write in one
// statement (one round trip) instead of a transaction of several, and run
// it with Retry. (SQLite and CockroachDB are serializable anyway.)
func SerializableStatements() Option { return func(o *options) { o.serializable = true } }

// MaxConns bounds the connections the handle opens to PostgreSQL or
// CockroachDB (DefaultMaxConns without it). Every replica of every
// service has its own pool, and the server's connection limit counts them
// all: on one PostgreSQL, the sum must stay under max_connections.
func MaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// DefaultMaxConns is a handle's connection bound without MaxConns.
const DefaultMaxConns = 32

// GenericPlans plans each prepared statement once per connection
// (plan_cache_mode = force_generic_plan, on PostgreSQL and CockroachDB),
// where PostgreSQL would otherwise plan some statements again at every
// execution because their parameters are arrays: the risk decision's
// batch statement spent more in planning than in executing. Only for a
// database whose queries use no partial index that a parameter's value
// decides (a generic plan cannot use an index on x restricted to non-empty
// values for "x = $1", not knowing that $1 is not empty).
func GenericPlans() Option { return func(o *options) { o.genericPlans = true } }

// SerializableStatements reports whether single statements run at
// SERIALIZABLE on this back end.
func (db *DB) SerializableStatements() bool { return db.serializable || db.dialect != Postgres }

// Open opens a back end from a DSN:
//
//	postgres://user@host:5432/db?sslmode=disable   PostgreSQL or CockroachDB
//	sqlite:///var/lib/unigate/unigate.db           embedded SQLite file
//	sqlite::memory:                                in-memory SQLite (tests)
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, o)
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//"))
	}
	return nil, fmt.Errorf("sqlstore: DSN must start with postgres:// or sqlite:, got %q", redact(dsn))
}

func redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
	}
	return dsn
}

func openPostgres(ctx context.Context, dsn string, o options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", redact(dsn), err)
	}
	if o.serializable {
		cfg.RuntimeParams["default_transaction_isolation"] = "serializable"
	}
	if o.genericPlans {
		cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	cfg.Tracer = queryTracer{}
	db := stdlib.OpenDB(*cfg)
	n := DefaultMaxConns
	if o.maxConns > 0 {
		n = o.maxConns
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect %s: %w", redact(dsn), err)
	}
	d := Postgres
	if strings.Contains(version, "CockroachDB") {
		d = Cockroach
	}
	return &DB{db: db, dialect: d, serializable: o.serializable}, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	params := "_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate&_time_format=sqlite"
	name := "file:" + path + "?" + params
	if path == ":memory:" {
		// A private in-memory database; one connection keeps it alive.
		name = "file::memory:?" + params
	}
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single connection
	// makes BEGIN IMMEDIATE never wait on itself.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite %s: %w", path, err)
	}
	return &DB{db: db, dialect: SQLite}, nil
}

// Dialect returns the back end's dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the back end.
func (db *DB) Close() error { return db.db.Close() }

// Ping checks the back end is reachable.
func (db *DB) Ping(ctx context.Context) error { return db.db.PingContext(ctx) }

// rewrite turns PostgreSQL placeholders into SQLite's numbered ones ($3 ->
// ?3). Queries never contain a literal '$'.
func (db *DB) rewrite(query string) string {
	if db.dialect != SQLite {
		return query
	}
	if q, ok := db.queries.Load(query); ok {
		return q.(string)
	}
	q := strings.ReplaceAll(query, "$", "?")
	db.queries.Store(query, q)
	return q
}

// Querier runs statements; both *Tx and *DB (autocommit) are Queriers.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a transaction in progress.
type Tx struct {
	tx *sql.Tx
	db *DB
}

// Dialect is the back end's dialect.
func (t *Tx) Dialect() Dialect { return t.db.dialect }

// ExecContext runs a statement in the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.rewrite(query), args...)
}

// QueryContext runs a query in the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.rewrite(query), args...)
}

// QueryRowContext runs a one-row query in the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.rewrite(query), args...)
}

// ExecContext runs one statement in its own transaction.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.db.ExecContext(ctx, db.rewrite(query), args...)
}

// QueryContext runs a query outside a transaction.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.db.QueryContext(ctx, db.rewrite(query), args...)
}

// QueryRowContext runs a one-row query outside a transaction.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.db.QueryRowContext(ctx, db.rewrite(query), args...)
}

// retryable wraps a deadlock so that cockroach-go retries it like a
// serialization failure.
type retryable struct{ err error }

func (r retryable) Error() string    { return r.err.Error() }
func (r retryable) Unwrap() error    { return r.err }
func (r retryable) SQLState() string { return "40001" }

// InTx runs fn in a SERIALIZABLE transaction and commits it, retrying the
// whole transaction (a fresh BEGIN each time) on serialization failures,
// deadlocks and SQLite BUSY, with jittered exponential back-off. fn must
// have no effects outside the database: it may run more than once.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return db.Retry(ctx, func(ctx context.Context) error { return db.runTx(ctx, fn) })
}

// Retry runs fn — typically one statement outside a transaction — again on
// serialization failures, deadlocks and SQLite BUSY, with the same
// back-off as InTx. fn must have no effects outside the database.
func (db *DB) Retry(ctx context.Context, fn func(ctx context.Context) error) error {
	attempt := 0
	return crdb.ExecuteCtx(ctx, func(ctx context.Context, _ ...any) error {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		attempt++
		err := fn(ctx)
		if err != nil && db.isTransient(err) {
			return retryable{err}
		}
		return err
	})
}

func (db *DB) runTx(ctx context.Context, fn func(context.Context, *Tx) error) (err error) {
	opts := &sql.TxOptions{Isolation: sql.LevelSerializable}
	if db.dialect == SQLite {
		opts = nil // SQLite is serializable; _txlock=immediate takes the write lock at BEGIN.
	}
	sqlTx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	tx := &Tx{tx: sqlTx, db: db}
	defer func() {
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	return sqlTx.Commit()
}

func (db *DB) isTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40P01" || pgErr.Code == "40001"
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		code := sqliteErr.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

func backoff(attempt int) time.Duration {
	base := time.Millisecond << min(attempt, 8) // 2 ms … 256 ms
	return base/2 + rand.N(base/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsUniqueViolation reports whether err is a unique or primary-key
// constraint violation on either back end.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		c := sqliteErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
