package risk

import (
	"context"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
)

// TestLabelledPayments: a payment in review whose case an analyst resolves
// becomes a training row with the label and the features the model scored
// it with; unresolved cases and payments the model did not score are not.
func TestLabelledPayments(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
		p := testPolicy()
		p.Rules = RuleSet{Version: 1, Rules: []rules.Rule{
			{ID: "big", Expr: "amount >= 100000", Action: rules.Review, Mode: rules.Enforce}}}
		svc := newTestService(t, db, clk, p)
		for _, pay := range []Payment{
			{PaymentID: "big-1", PartnerID: "hipay", UserRef: "u1", NetworkID: "unionpay", MerchantID: "m1", MCC: "5311", City: "Beijing", MerchantAmount: cny(110000)},
			{PaymentID: "big-2", PartnerID: "hipay", UserRef: "u2", NetworkID: "unionpay", MerchantID: "m1", MCC: "5944", City: "Beijing", MerchantAmount: cny(120000)},
			{PaymentID: "blocked", PartnerID: "hipay", UserRef: "u-blocked", NetworkID: "unionpay", MerchantID: "m1", MCC: "5944", MerchantAmount: cny(150000)},
		} {
			if _, err := svc.Evaluate(ctx, pay); err != nil {
				t.Fatal(err)
			}
		}
		cases := NewCases(db, clk.now)
		if _, err := OpenReviewCasesOnce(ctx, db, cases, clk.now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		open, err := cases.List(ctx, CaseOpen, "", 10)
		if err != nil || len(open) != 2 {
			t.Fatalf("cases: %+v %v", open, err)
		}
		for _, c := range open {
			if c.PaymentID == "big-1" {
				if _, err := cases.Resolve(ctx, c.ID, LabelFraud, "stolen wallet", "analyst:mei", false); err != nil {
					t.Fatal(err)
				}
			}
		}
		rows, err := LabelledPayments(ctx, db, time.Time{})
		if err != nil || len(rows) != 1 {
			t.Fatalf("labelled: %+v %v", rows, err)
		}
		r := rows[0]
		if r.PaymentID != "big-1" || !r.Fraud || len(r.Features) != int(model.NumFeatures) || r.Features[model.MCCRisk] != 1 || r.Features[model.LogAmountUSD] <= 0 {
			t.Fatalf("row: %+v", r)
		}
		if later, err := LabelledPayments(ctx, db, clk.now().Add(time.Hour)); err != nil || len(later) != 0 {
			t.Fatalf("since an hour later: %+v %v", later, err)
		}
	})
}
