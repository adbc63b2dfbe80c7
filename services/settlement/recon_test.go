package settlement

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// reconFile is a counterparty's file in the minimal documented form.
func reconFile(rows ...string) []byte {
	return []byte("type,payment_id,reversal_id,currency,amount,status\n" + strings.Join(rows, "\n") + "\n")
}

// TestReconcile: every kind of break is found and reported per row; the
// same file replays its first report; a file with bad rows imports
// nothing and names each; breaks stay open across runs until a later run
// no longer finds them or an operator resolves them, and a break cleared
// by a run reopens when a later file shows it again.
func TestReconcile(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := authn.WithIdentity(context.Background(), authn.Identity{Kind: authn.Operator, ID: "alice", Role: authn.OperatorRole})
		clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		svc := testLedger(t, db, clk)
		// hipay's cycle: p1 and p2 (half refunded), p5 cancelled.
		p1, p2, p5 := payment("p1", 1000, ""), payment("p2", 500, ""), payment("p5", 800, "")
		mustPost(t, svc, p1, p2, p5)
		clk.set(clk.now().Add(time.Second))
		refund := payment("p2", 250, "refund-1")
		refund.CostAmount.Minor, refund.MerchantAmount.Minor = 247, 1
		mustPost(t, svc, refund, cancelOf(p5))
		clk.set(clk.now().Add(time.Minute))
		_, sts, err := svc.CloseCycle(ctx, clk.now(), nil)
		if err != nil || len(sts) != 1 {
			t.Fatalf("close: %+v %v", sts, err)
		}
		st := sts[0]

		// Unigate's own statement file reconciles with no break.
		var own bytes.Buffer
		if _, err := svc.WriteStatementFile(ctx, st, &own); err != nil {
			t.Fatal(err)
		}
		run, breaks, replayed, err := svc.Reconcile(ctx, st.ID, "own.csv", own.Bytes())
		if err != nil || replayed || len(breaks) != 0 || run.Rows != 5 || run.Matched != 5 {
			t.Fatalf("own file: %+v %+v %v %v", run, breaks, replayed, err)
		}

		first := reconFile(
			"PAYMENT,p1,,MNT,10.00,",         // line 2: matched
			"PAYMENT,p2,,MNT,5.01,SUCCEEDED", // line 3: amount
			"REFUND,p2,refund-1,USD,-2.50,",  // line 4: currency
			"PAYMENT,p5,,MNT,8.00,FAILED",    // line 5: state
			"PAYMENT,p9,,MNT,1.00,",          // line 6: not in Unigate
			// p5's cancel is missing at the counterparty
		)
		clk.set(clk.now().Add(time.Minute))
		run, breaks, replayed, err = svc.Reconcile(ctx, st.ID, "hipay-1.csv", first)
		if err != nil || replayed {
			t.Fatal(replayed, err)
		}
		if run.Rows != 5 || run.Matched != 1 || run.Mismatched != 3 || run.MissingInUnigate != 1 || run.MissingAtCounterparty != 1 ||
			run.Actor != "operator:alice" || run.FileName != "hipay-1.csv" {
			t.Fatalf("run %+v", run)
		}
		want := []struct {
			kind, payment, reversal string
			line                    int64
			detail                  string
		}{
			{BreakAmount, "p2", "", 3, "amount: Unigate 5.00 MNT, counterparty 5.01 MNT"},
			{BreakCurrency, "p2", "refund-1", 4, "currency: Unigate -2.50 MNT, counterparty -2.50 USD"},
			{BreakState, "p5", "", 5, "state: Unigate PAYMENT SUCCEEDED, counterparty PAYMENT FAILED"},
			{BreakMissingUnigate, "p9", "", 6, "PAYMENT of 1.00 MNT is not in statement " + st.ID},
			{BreakMissingThem, "p5", "cancel-p5", 0, "CANCEL of -8.00 MNT posted"},
		}
		if len(breaks) != len(want) {
			t.Fatalf("breaks %+v", breaks)
		}
		ids := map[string]string{}
		for i, w := range want {
			b := breaks[i]
			if b.Kind != w.kind || b.PaymentID != w.payment || b.ReversalID != w.reversal || b.Line != w.line ||
				!strings.HasPrefix(b.Detail, w.detail) || b.FirstRun != run.ID || b.LastRun != run.ID || !b.ResolveTime.IsZero() {
				t.Errorf("break %d = %+v, want %+v", i, b, w)
			}
			ids[w.kind] = b.ID
		}

		// The same file again: the first report, nothing written.
		again, breaks2, replayed, err := svc.Reconcile(ctx, st.ID, "renamed.csv", first)
		if err != nil || !replayed || again != run || len(breaks2) != len(breaks) || breaks2[0].ID != breaks[0].ID {
			t.Fatalf("replay: %+v %v %v", again, replayed, err)
		}

		// Bad rows: each named, nothing imported.
		var runsBefore int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM recon_runs`).Scan(&runsBefore); err != nil {
			t.Fatal(err)
		}
		_, _, _, err = svc.Reconcile(ctx, st.ID, "bad.csv", reconFile(
			"PAYMENT,p1,,MNT,10.001,",
			"TRANSFER,p2,,MNT,5.00,",
			"PAYMENT,p1,,MNT,10.00,",
			"PAYMENT,p1,,MNT,10.00,",
			"REFUND,p2,,XXX,1,",
			"PAYMENT,p3,,MNT",
		))
		if rpcerr.ReasonOf(err) != rpcerr.ReconciliationFileInvalid {
			t.Fatalf("bad file: %v", err)
		}
		var fields []string
		for _, d := range rpcerr.ToStatus(err).Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
		}
		if got := strings.Join(fields, " "); got != "rows[2].amount rows[3].type rows[5].payment_id rows[6].reversal_id rows[6].currency rows[7].csv" {
			t.Errorf("violations: %s", got)
		}
		var runsAfter int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM recon_runs`).Scan(&runsAfter); err != nil || runsAfter != runsBefore {
			t.Fatalf("a bad file wrote runs: %d → %d %v", runsBefore, runsAfter, err)
		}
		if _, _, _, err := svc.Reconcile(ctx, st.ID, "h.csv", []byte("payment_id,amount\np1,1\n")); rpcerr.ReasonOf(err) != rpcerr.ReconciliationFileInvalid ||
			!strings.Contains(err.Error(), "missing column type") {
			t.Fatalf("file without the columns: %v", err)
		}
		if _, _, _, err := svc.Reconcile(ctx, "nope", "x.csv", first); rpcerr.ReasonOf(err) != rpcerr.StatementNotFound {
			t.Fatalf("unknown statement: %v", err)
		}

		// An operator resolves p9's break; a resolved break answers with
		// its first resolution; an unknown one is not found.
		clk.set(clk.now().Add(time.Minute))
		b, err := svc.ResolveBreak(ctx, ids[BreakMissingUnigate], "their test payment, never sent to Unigate")
		if err != nil || b.ResolvedBy != "operator:alice" || b.ResolveTime.IsZero() {
			t.Fatalf("resolve: %+v %v", b, err)
		}
		if b2, err := svc.ResolveBreak(ctx, ids[BreakMissingUnigate], "other"); err != nil || b2.Resolution != b.Resolution {
			t.Fatalf("resolve again: %+v %v", b2, err)
		}
		if _, err := svc.ResolveBreak(ctx, "nope", "x"); rpcerr.ReasonOf(err) != rpcerr.BreakNotFound {
			t.Fatalf("unknown break: %v", err)
		}
		if open, err := svc.ListBreaks(ctx, st.ID, false, 100); err != nil || len(open) != 4 {
			t.Fatalf("open breaks: %+v %v", open, err)
		}

		// A corrected file, still showing p9: every other break clears,
		// p9's resolution stands.
		fixed := reconFile(
			"PAYMENT,p1,,MNT,10.00,",
			"PAYMENT,p2,,MNT,5.00,",
			"REFUND,p2,refund-1,MNT,-2.50,",
			"PAYMENT,p5,,MNT,8.00,",
			"CANCEL,p5,cancel-p5,MNT,-8.00,",
			"PAYMENT,p9,,MNT,1.00,",
		)
		clk.set(clk.now().Add(time.Minute))
		run2, breaks, _, err := svc.Reconcile(ctx, st.ID, "hipay-2.csv", fixed)
		if err != nil || run2.Matched != 5 || run2.MissingInUnigate != 1 || run2.Cleared != 4 || len(breaks) != 1 ||
			breaks[0].ID != ids[BreakMissingUnigate] || breaks[0].Resolution != b.Resolution || breaks[0].LastRun != run2.ID {
			t.Fatalf("corrected file: %+v %+v %v", run2, breaks, err)
		}
		if open, err := svc.ListBreaks(ctx, "", false, 100); err != nil || len(open) != 0 {
			t.Fatalf("open breaks after the corrected file: %+v %v", open, err)
		}
		all, err := svc.ListBreaks(ctx, st.ID, true, 100)
		if err != nil || len(all) != 5 {
			t.Fatalf("all breaks: %+v %v", all, err)
		}
		for _, b := range all {
			if b.ID != ids[BreakMissingUnigate] && (b.ResolvedBy != reconActor || b.Resolution != "cleared by run "+run2.ID) {
				t.Errorf("break %+v not cleared by run 2", b)
			}
		}

		// A third file shows p2's amount wrong again: its break reopens.
		clk.set(clk.now().Add(time.Minute))
		third := bytes.Replace(fixed, []byte("p2,,MNT,5.00"), []byte("p2,,MNT,5.02"), 1)
		run3, breaks, _, err := svc.Reconcile(ctx, st.ID, "hipay-3.csv", third)
		if err != nil || run3.Mismatched != 1 || len(breaks) != 2 {
			t.Fatalf("third file: %+v %+v %v", run3, breaks, err)
		}
		if b := breaks[0]; b.ID != ids[BreakAmount] || b.FirstRun != run.ID || b.LastRun != run3.ID || !b.ResolveTime.IsZero() ||
			!strings.Contains(b.Detail, "5.02") {
			t.Fatalf("reopened break %+v", b)
		}
		var audited int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('reconcile.run', 'reconcile.resolve')`).Scan(&audited); err != nil || audited != 5 {
			t.Fatalf("audit entries: %d %v", audited, err)
		}
	})
}
