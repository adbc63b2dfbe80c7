package risk

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// TestAlerts: rules over an hour of decisions raise an alert for a
// merchant whose users all look risky and for a user who probed before
// getting through — once each, however often the pass runs — and each
// alert opens a case; quiet subjects raise nothing; bad rules are refused.
func TestAlerts(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)
		n := 0
		decided := func(user, merchant, outcome string, score int64, at time.Time) {
			t.Helper()
			n++
			sqlstoretest.MustExec(t, db, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency, minor_units,
				approved, reason, rule_id, message, released, create_time, outcome, score_bp, reasons, device_ref, merchant, mode)
				VALUES ($1, 'hipay', $2, '2026-12-03', 'CNY', 50000, $3, '', '', '', FALSE, $4, $5, $6, '[]', '', $7, 'MPM')`,
				fmt.Sprintf("a-%d", n), user, outcome != Decline, at, outcome, score, merchant)
		}
		for i := range 6 { // a mule merchant: six users, every payment risky
			decided(fmt.Sprintf("mule-%d", i), "cnsim/M-mule", Review, 8200, now.Add(-10*time.Minute))
		}
		for i := range 6 { // an honest merchant
			decided(fmt.Sprintf("shopper-%d", i), "cnsim/M-ok", Approve, 300, now.Add(-10*time.Minute))
		}
		for range 3 { // a prober, then through
			decided("prober", "cnsim/M-ok", Decline, 4000, now.Add(-20*time.Minute))
		}
		decided("prober", "cnsim/M-ok", Approve, 4000, now.Add(-5*time.Minute))
		for range 3 { // declined three times two hours ago: out of the window
			decided("old-prober", "cnsim/M-ok", Decline, 4000, now.Add(-2*time.Hour))
		}
		decided("old-prober", "cnsim/M-ok", Approve, 4000, now.Add(-5*time.Minute))

		cases := NewCases(db, func() time.Time { return now })
		a, err := NewAlerter(db, cases, DefaultAlerts, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		raised, err := a.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, al := range raised {
			got[al.RuleID] = al.Subject
			if al.CaseID == "" {
				t.Errorf("alert %s opened no case", al.ID)
			}
		}
		want := map[string]string{"collusion.merchant": "cnsim/M-mule", "probe-then-pay.user": "hipay/prober"}
		if len(got) != len(want) || got["collusion.merchant"] != want["collusion.merchant"] || got["probe-then-pay.user"] != want["probe-then-pay.user"] {
			t.Fatalf("raised %v, want %v", got, want)
		}
		if again, err := a.RunOnce(ctx); err != nil || len(again) != 0 {
			t.Fatalf("the second pass raised %+v %v", again, err)
		}
		open, err := cases.List(ctx, CaseOpen, "", 10)
		if err != nil || len(open) != 2 {
			t.Fatalf("cases: %+v %v", open, err)
		}
		for _, c := range open {
			if !strings.HasPrefix(c.PaymentID, "alert:") || len(c.Reasons) != 1 {
				t.Errorf("alert case %+v", c)
			}
		}
		// An alert whose case did not open (the replica died) gets it on the next pass.
		sqlstoretest.MustExec(t, db, `INSERT INTO risk_alerts (alert_id, rule_id, scope, subject, partner_id, detail, window_end, case_id, create_time)
			VALUES ('devices.user|hipay/x|h', 'devices.user', 'user', 'hipay/x', 'hipay', 'devices=4', $1, '', $1)`, now)
		if err := a.openAlertCases(ctx); err != nil {
			t.Fatal(err)
		}
		var caseID string
		if err := db.QueryRowContext(ctx, `SELECT case_id FROM risk_alerts WHERE alert_id = 'devices.user|hipay/x|h'`).Scan(&caseID); err != nil || caseID == "" {
			t.Fatalf("owed case: %q %v", caseID, err)
		}

		if _, err := NewAlerter(db, cases, []AlertRule{{ID: "x", Scope: "partner", Expr: "true"},
			{ID: "y", Scope: ScopeUser, Expr: "nosuch > 1"}, {ID: "z", Scope: ScopeUser, Expr: "payments"}}, nil); err == nil ||
			!strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), `"y"`) || !strings.Contains(err.Error(), `"z"`) {
			t.Fatalf("bad alert rules: %v", err)
		}
	})
}
