// Package sqlstoretest gives tests a fresh database on every SQL back end,
// so one conformance suite runs against the embedded SQLite store and a
// real PostgreSQL server.
//
// PostgreSQL is reached at $UNIGATE_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); each test
// gets its own database, dropped when the test ends. An unreachable server
// FAILS the test: set UNIGATE_SKIP_POSTGRES=1 to skip the PostgreSQL half
// on a machine without one. Under CI (CI set) the skip is ignored, so a
// missing database always fails there.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// DefaultPostgres is the server tests use when UNIGATE_TEST_POSTGRES is unset.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Backend is one back end to run a suite on.
type Backend struct {
	Name string
	// Open returns a fresh, empty database on the back end, opened with
	// opts; it is closed and removed when t ends.
	Open func(t testing.TB, opts ...sqlstore.Option) *sqlstore.DB
	// DSN returns a fresh, empty database's DSN, for code that opens its own.
	DSN func(t testing.TB) string
}

// Backends returns SQLite and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", DSN: SQLiteDSN, Open: func(t testing.TB, opts ...sqlstore.Option) *sqlstore.DB { return open(t, SQLiteDSN(t), opts...) }},
		{Name: "postgres", DSN: PostgresDSN, Open: func(t testing.TB, opts ...sqlstore.Option) *sqlstore.DB { return open(t, PostgresDSN(t), opts...) }},
	}
}

// Run runs fn as a subtest on every back end, each database opened with opts.
func Run(t *testing.T, fn func(t *testing.T, db *sqlstore.DB), opts ...sqlstore.Option) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t, opts...)) })
	}
}

func open(t testing.TB, dsn string, opts ...sqlstore.Option) *sqlstore.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sqlstore.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SQLiteDSN returns a fresh SQLite file in the test's temporary directory.
func SQLiteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "unigate.db")
}

// PostgresDSN creates a fresh database on the test server and returns its
// DSN; it is dropped when t ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	if os.Getenv("UNIGATE_SKIP_POSTGRES") == "1" && os.Getenv("CI") == "" {
		t.Skip("UNIGATE_SKIP_POSTGRES=1: PostgreSQL half skipped")
	}
	admin := os.Getenv("UNIGATE_TEST_POSTGRES")
	if admin == "" {
		admin = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adminDB, err := sqlstore.Open(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test and is unreachable (set UNIGATE_TEST_POSTGRES, or UNIGATE_SKIP_POSTGRES=1 to skip): %v", err)
	}
	defer adminDB.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "unigate_test_" + hex.EncodeToString(b[:])
	if _, err := adminDB.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db, err := sqlstore.Open(ctx, admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustExec runs a statement or fails the test.
func MustExec(t testing.TB, db *sqlstore.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
