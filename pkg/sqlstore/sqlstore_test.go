package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

var testMigrations = sqlstore.Migrations{Component: "test", FS: fstest.MapFS{
	"postgres/0001_counter.sql": {Data: []byte("CREATE TABLE counter (id TEXT PRIMARY KEY, n INT8 NOT NULL, at TIMESTAMPTZ NOT NULL);\nCREATE TABLE uniq (k TEXT PRIMARY KEY);\n")},
	"sqlite/0001_counter.sql":   {Data: []byte("CREATE TABLE counter (id TEXT PRIMARY KEY, n INT8 NOT NULL, at TIMESTAMP NOT NULL);\nCREATE TABLE uniq (k TEXT PRIMARY KEY);\n")},
}}

func TestConformance(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, testMigrations); err != nil {
			t.Fatal(err)
		}
		// Migrating again is a no-op.
		if err := db.Migrate(ctx, testMigrations); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}

		t.Run("time round trip", func(t *testing.T) {
			at := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
			sqlstoretest.MustExec(t, db, `INSERT INTO counter (id, n, at) VALUES ($1, $2, $3)`, "t", 1, at)
			var got time.Time
			if err := db.QueryRowContext(ctx, `SELECT at FROM counter WHERE id = $1`, "t").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !got.Equal(at) {
				t.Fatalf("got %v, want %v", got, at)
			}
		})

		t.Run("unique violation", func(t *testing.T) {
			sqlstoretest.MustExec(t, db, `INSERT INTO uniq (k) VALUES ($1)`, "a")
			_, err := db.ExecContext(ctx, `INSERT INTO uniq (k) VALUES ($1)`, "a")
			if !sqlstore.IsUniqueViolation(err) {
				t.Fatalf("got %v, want a unique violation", err)
			}
		})

		t.Run("rollback on error", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO uniq (k) VALUES ($1)`, "rolled-back"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("got %v, want boom", err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM uniq WHERE k = $1`, "rolled-back").Scan(&n); err != nil || n != 0 {
				t.Fatalf("rolled-back row visible: n=%d err=%v", n, err)
			}
		})

		t.Run("concurrent increments are serializable", func(t *testing.T) {
			sqlstoretest.MustExec(t, db, `INSERT INTO counter (id, n, at) VALUES ($1, 0, $2)`, "c", time.Now())
			const workers, each = 8, 10
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						errs <- db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
							var n int64
							if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = $1`, "c").Scan(&n); err != nil {
								return err
							}
							_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1 WHERE id = $2`, n+1, "c")
							return err
						})
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = $1`, "c").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != workers*each {
				t.Fatalf("counter = %d, want %d (lost updates)", n, workers*each)
			}
		})
	})
}

// GenericPlans sets the planner to plan each prepared statement once; the
// default leaves PostgreSQL's own choice.
func TestGenericPlans(t *testing.T) {
	dsn := sqlstoretest.PostgresDSN(t)
	ctx := context.Background()
	for _, c := range []struct {
		opts []sqlstore.Option
		want string
	}{
		{nil, "auto"},
		{[]sqlstore.Option{sqlstore.GenericPlans()}, "force_generic_plan"},
	} {
		db, err := sqlstore.Open(ctx, dsn, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := db.QueryRowContext(ctx, `SHOW plan_cache_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if mode != c.want {
			t.Errorf("plan_cache_mode %q, want %q", mode, c.want)
		}
	}
}
