package settlement

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// TestCheckInvariants: a healthy ledger of payments, refunds, a cancel and
// closed cycles breaks no invariant; each hand-made corruption is reported.
func TestCheckInvariants(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		clk := &clock{t: t0}
		svc := testLedger(t, db, clk)
		cancelled := payment("p-cancelled", 3000, "")
		mustPost(t, svc, payment("p-1", 1000, ""), payment("p-2", 2000, ""), cancelled, payment("p-2", 500, "refund-1"))
		mustHold(t, svc, "p-cancelled", true, "")
		mustPost(t, svc, cancelOf(cancelled))
		clk.set(t0.Add(time.Minute))
		c1, sts, err := svc.CloseCycle(ctx, clk.now(), nil)
		if err != nil || c1.Postings != 5 || len(sts) != 1 || sts[0].NetReceivable.Minor != 1000+2000-500 {
			t.Fatalf("cycle %+v, statements %+v, %v", c1, sts, err)
		}
		mustPost(t, svc, payment("p-open", 700, ""))
		mustHoldInvariants(t, svc)

		open, err := svc.ListPostings(ctx, "p-open")
		if err != nil || len(open) != 1 {
			t.Fatal(open, err)
		}
		settled, err := svc.ListPostings(ctx, "p-1")
		if err != nil || len(settled) != 1 {
			t.Fatal(settled, err)
		}
		for _, tc := range []struct {
			name    string
			corrupt []string
			args    []any
			want    []string
		}{
			{"an unbalanced entry", []string{`INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units)
				VALUES ($1, 99, 'fx_revenue', 'C', 'MNT', 1)`}, []any{settled[0].ID()},
				[]string{"posting " + settled[0].ID() + " does not balance in MNT: debits 1000, credits 1001"}},
			{"a statement that is not its cycle's sum", []string{`UPDATE settlement_statements SET net_minor = net_minor + 1 WHERE statement_id = $1`},
				[]any{sts[0].ID}, []string{"statement " + sts[0].ID + " nets 2501 over 5 postings, but its cycle's receivable entries net 2500 over 5 postings"}},
			{"a cycle's posting count", []string{`UPDATE settlement_cycles SET postings = 9 WHERE cycle_id = $1`},
				[]any{c1.ID}, []string{"cycle " + c1.ID + " records 9 postings but has 5 members"}},
			{"a membership of no cycle", []string{`INSERT INTO settlement_cycle_postings (posting_id, cycle_id) VALUES ($1, 'cycle-missing')`},
				[]any{open[0].ID()}, []string{"membership of posting " + open[0].ID() + " in cycle cycle-missing names no cycle",
					"cycle cycle-missing has entries on partner_receivable:hipay in MNT but no statement"}},
			{"a posting of one entry", []string{`INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time) VALUES ('lonely', 'p-lonely', 'payment', $1)`,
				`INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units) VALUES ('lonely', 0, 'fx_revenue', 'D', 'MNT', 5)`},
				[]any{t0}, []string{"posting lonely has 1 entries, fewer than two", "posting lonely does not balance in MNT: debits 5, credits 0"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for i, q := range tc.corrupt {
					var args []any
					if i == 0 {
						args = tc.args
					}
					sqlstoretest.MustExec(t, db, q, args...)
				}
				vs, err := svc.CheckInvariants(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range tc.want {
					found := false
					for _, v := range vs {
						found = found || v == want
					}
					if !found {
						t.Errorf("violations %q lack %q", vs, want)
					}
				}
			})
		}
	})
}

// TestMigrationMovesCycleMembership: a ledger whose postings carried their
// cycle (migrations 0001-0002) keeps every membership after 0003-0004, and
// its postings lose the column; 0006-0008 name each posting's partner and
// network and give each closed cycle its network statements.
func TestMigrationMovesCycleMembership(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		old := fstest.MapFS{}
		for _, dialect := range []string{"postgres", "sqlite"} {
			for _, name := range []string{"0001_ledger.sql", "0002_cycles.sql"} {
				p := "migrations/" + dialect + "/" + name
				body, err := fs.ReadFile(migrationsFS, p)
				if err != nil {
					t.Fatal(err)
				}
				old[p] = &fstest.MapFile{Data: body}
			}
		}
		if err := db.Migrate(ctx, sqlstore.Migrations{Component: Migrations.Component, FS: old, Dir: "migrations"}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		for _, q := range []string{
			`INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time, cycle_id) VALUES
				('a', 'p-a', 'payment', $1, 'cycle-1'), ('b', 'p-b', 'payment', $1, NULL)`,
			`INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units) VALUES
				('a', 0, 'partner_receivable:hipay', 'D', 'MNT', 100), ('a', 1, 'merchant_payable:cnsim', 'C', 'MNT', 100),
				('b', 0, 'partner_receivable:hipay', 'D', 'MNT', 200), ('b', 1, 'fx_revenue', 'C', 'MNT', 200)`,
			`INSERT INTO settlement_cycles (cycle_id, cutoff, close_time, postings) VALUES ('cycle-1', $1, $1, 1)`,
			`INSERT INTO settlement_statements (statement_id, sequence, cycle_id, partner_id, currency, net_minor, postings, cutoff)
				VALUES ('cycle-1/hipay/MNT', 1, 'cycle-1', 'hipay', 'MNT', 100, 1, $1)`,
		} {
			args := []any{t0}
			if !strings.Contains(q, "$1") {
				args = nil
			}
			sqlstoretest.MustExec(t, db, q, args...)
		}
		clk := &clock{t: t0.Add(time.Hour)}
		svc := testLedger(t, db, clk)
		mustCycle(t, svc, "p-a", "cycle-1")
		mustCycle(t, svc, "p-b", "")
		mustHoldInvariants(t, svc)
		// 0007 names each posting's partner and network, and gives the
		// closed cycle its network statement.
		if nets, err := svc.NetworkStatements(ctx, "cycle-1"); err != nil || len(nets) != 1 || nets[0].NetworkID != "cnsim" ||
			nets[0].NetPayable.Minor != 100 || nets[0].Postings != 1 {
			t.Fatalf("cycle-1's network statements: %+v %v", nets, err)
		}
		var partner, network string
		if err := db.QueryRowContext(ctx, `SELECT partner_id, network_id FROM ledger_postings WHERE posting_id = 'a'`).Scan(&partner, &network); err != nil ||
			partner != "hipay" || network != "cnsim" {
			t.Fatalf("posting a: partner %q network %q %v", partner, network, err)
		}
		if _, err := db.ExecContext(ctx, `SELECT cycle_id FROM ledger_postings`); err == nil {
			t.Fatal("ledger_postings still has cycle_id")
		}
		c, sts, err := svc.CloseCycle(ctx, clk.now(), nil)
		if err != nil || c.Postings != 1 || len(sts) != 1 || sts[0].NetReceivable.Minor != 200 || sts[0].Sequence != 2 {
			t.Fatalf("cycle %+v, statements %+v, %v; want p-b alone", c, sts, err)
		}
		mustCycle(t, svc, "p-b", c.ID)
		mustHoldInvariants(t, svc)
	})
}
