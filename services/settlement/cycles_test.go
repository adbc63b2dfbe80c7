package settlement

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// TestCycles: a cycle takes the postings made before its cutoff, each
// partner's statement equals the sum of its receivable entries in them,
// closing again changes nothing, and later postings wait for the next.
func TestCycles(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		svc := NewService(NewSQLStore(db), func() time.Time { return now })
		post := func(id, partner string, wallet, cost, merchant int64, reversal string) {
			t.Helper()
			if _, err := svc.PostPayment(ctx, PaymentFacts{PaymentID: id, PartnerID: partner, NetworkID: "cnsim",
				WalletAmount: money.Amount{Currency: "MNT", Minor: wallet}, CostAmount: money.Amount{Currency: "MNT", Minor: cost},
				MerchantAmount: money.Amount{Currency: "CNY", Minor: merchant}, ReversalID: reversal}); err != nil {
				t.Fatal(err)
			}
		}
		post("p1", "hipay", 1000, 990, 2, "")
		post("p2", "hipay", 500, 495, 1, "")
		post("p2", "hipay", 250, 247, 1, "refund-1") // half of p2 refunded
		post("p3", "other", 700, 690, 1, "")
		now = now.Add(time.Minute)
		cutoff := now
		now = now.Add(time.Second)
		post("p4", "hipay", 9999, 9900, 20, "") // after the cutoff

		asOperator := authn.WithIdentity(ctx, authn.Identity{Kind: authn.Operator, ID: "alice", Role: authn.OperatorRole})
		c, sts, err := svc.CloseCycle(asOperator, cutoff, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Postings != 4 || len(sts) != 2 {
			t.Fatalf("cycle %+v, statements %+v", c, sts)
		}
		want := map[string]int64{"hipay": 1000 + 500 - 250, "other": 700}
		for _, st := range sts {
			if st.NetReceivable.Minor != want[st.PartnerID] || st.NetReceivable.Currency != "MNT" || st.CycleID != c.ID {
				t.Errorf("statement %+v, want net %d", st, want[st.PartnerID])
			}
		}
		again, sts2, err := svc.CloseCycle(ctx, cutoff, nil)
		if err != nil || again != c || len(sts2) != len(sts) || sts2[0].ID != sts[0].ID {
			t.Fatalf("closing again: %+v %+v %v", again, sts2, err)
		}
		// The close is audited once, by its operator, in its transaction;
		// closing again changes nothing and records nothing.
		var actor, after string
		var entries int
		if err := db.QueryRowContext(ctx, `SELECT count(*), MIN(actor), MIN(after_json) FROM audit_log WHERE action = 'cycle.close' AND subject = $1`,
			c.ID).Scan(&entries, &actor, &after); err != nil {
			t.Fatal(err)
		}
		if entries != 1 || actor != "operator:alice" || !strings.Contains(after, `"partner_id":"hipay","currency":"MNT","net_minor":1250`) {
			t.Errorf("audit of the close: %d entries, actor %q, after %s", entries, actor, after)
		}
		if cyc, err := svc.PaymentCycle(ctx, "p1"); err != nil || cyc != c.ID {
			t.Fatalf("p1 settled in %q, %v", cyc, err)
		}
		if cyc, err := svc.PaymentCycle(ctx, "p4"); err != nil || cyc != "" {
			t.Fatalf("p4 settled in %q, %v", cyc, err)
		}
		listed, err := svc.ListStatements(ctx, sts[0].Sequence, 10)
		if err != nil || len(listed) != 1 || listed[0].ID != sts[1].ID {
			t.Fatalf("ListStatements after the first: %+v %v", listed, err)
		}
		if _, _, err := svc.CloseCycle(ctx, now.Add(time.Hour), nil); err == nil {
			t.Fatal("a cutoff in the future was accepted")
		}
		now = now.Add(time.Second)
		next, _, err := svc.CloseCycle(ctx, now, nil)
		if err != nil || next.Postings != 1 {
			t.Fatalf("next cycle %+v %v", next, err)
		}
		// Out of order: a cutoff between the two closed ones is refused,
		// writing nothing; the closed ones still answer as before.
		if _, _, err := svc.CloseCycle(ctx, cutoff.Add(time.Millisecond), nil); rpcerr.ReasonOf(err) != rpcerr.CutoffOutOfOrder {
			t.Fatalf("a cutoff before the newest: %v", err)
		}
		if again, _, err := svc.CloseCycle(ctx, cutoff, nil); err != nil || again != c {
			t.Fatalf("closing the first cutoff again: %+v %v", again, err)
		}
		// Newest first, and paged by cutoff.
		if cs, err := svc.ListCycles(ctx, time.Time{}, 10); err != nil || len(cs) != 2 || cs[0] != next || cs[1] != c {
			t.Fatalf("ListCycles = %+v, %v; want %+v then %+v", cs, err, next, c)
		}
		if cs, err := svc.ListCycles(ctx, next.Cutoff, 10); err != nil || len(cs) != 1 || cs[0] != c {
			t.Fatalf("ListCycles before %s = %+v, %v", next.Cutoff, cs, err)
		}
	})
}
