package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

func TestAudit(t *testing.T) {
	for _, b := range sqlstoretest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			db, err := sqlstore.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx, audit.Migrations); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
			for i := 1; i <= 5; i++ {
				e := audit.Entry{ID: fmt.Sprintf("e%d", i), Time: at.Add(time.Duration(i) * time.Second), Actor: "operator:alice",
					Action: "routing.put_partner", Subject: "hipay", Outcome: "ok", After: json.RawMessage(`{"disabled":false}`)}
				if err := audit.Append(ctx, db, e); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := audit.Chain(ctx, db, 10); err != nil {
				t.Fatal(err)
			}

			out, code, err := ctl(t, "audit", "verify", "--dsn", dsn)
			if code != 0 || err != nil || out != "audit log intact: 5 entries\n" {
				t.Fatalf("verify: %d %v %q", code, err, out)
			}

			out, code, err = ctl(t, "audit", "list", "--dsn", dsn, "--after", "1", "--limit", "3", "-o", "json")
			if code != 0 || err != nil {
				t.Fatalf("list: %d %v", code, err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("list printed %d lines, want 3: %q", len(lines), out)
			}
			for k, l := range lines {
				var e audit.Entry
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				if e.Seq != int64(k+2) || e.ID != fmt.Sprintf("e%d", k+2) || len(e.Hash) != 64 || string(e.After) != `{"disabled":false}` {
					t.Fatalf("line %d: %+v", k, e)
				}
			}

			if _, err := db.ExecContext(ctx, `UPDATE audit_log SET outcome = 'refused:DENIED' WHERE seq = 3`); err != nil {
				t.Fatal(err)
			}
			out, code, err = ctl(t, "audit", "verify", "--dsn", dsn)
			if code != 1 || err == nil || out != "audit log broken at entry 3: hash mismatch\n" {
				t.Fatalf("verify after tampering: %d %v %q", code, err, out)
			}

			out, code, err = ctl(t, "audit", "list", "--dsn", dsn, "--limit", "2")
			if code != 0 || err != nil || !strings.HasPrefix(out, "SEQ") || !strings.Contains(out, "routing.put_partner") ||
				strings.Count(out, "\n") != 3 {
				t.Fatalf("list as a table: %d %v %q", code, err, out)
			}
			out, code, err = ctl(t, "audit", "list", "--dsn", dsn, "--limit", "1", "-o", "yaml")
			if code != 0 || err != nil || !strings.Contains(out, "action: routing.put_partner") {
				t.Fatalf("list as YAML: %d %v %q", code, err, out)
			}

			// Usage errors exit 2.
			for _, tc := range []struct {
				name string
				args []string
				want string
			}{
				{"no dsn", []string{"audit", "verify"}, "--dsn is required"},
				{"stray argument", []string{"audit", "list", "--dsn", dsn, "extra"}, `unknown command "extra"`},
				{"list flag on verify", []string{"audit", "verify", "--dsn", dsn, "--limit", "3"}, "unknown flag: --limit"},
				{"bad output", []string{"audit", "list", "--dsn", dsn, "-o", "csv"}, "want table, json, yaml"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Setenv("UNIGATE_DSN", "")
					_, code, err := ctl(t, tc.args...)
					if code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("got %d %v, want 2 and an error with %q", code, err, tc.want)
					}
				})
			}
		})
	}
}
