package risk

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk/rules"
)

// TestRebuild: a replica started after others decided payments rebuilds
// its windows, profiles and month totals from the stored decisions, so a
// burst, a merchant's month and an impossible journey begun before it
// started are caught by it; without the rebuild they are not.
func TestRebuild(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
		p := testPolicy()
		p.Limits = append(p.Limits, PartnerLimits{PartnerID: "monthly", Currency: "CNY", MerchantMonthly: 50000, PartnerMonthly: 80000})
		p.Rules = RuleSet{Version: 1, Rules: []rules.Rule{
			{ID: "burst.user", Expr: "user_count_1h > 3", Action: rules.Decline, Mode: rules.Enforce}}}
		first := newTestService(t, db, clk, p)
		n := 0
		pay := func(svc *Service, partner, user, merchant, city string, amount int64) Decision {
			t.Helper()
			n++
			d, err := svc.Evaluate(ctx, Payment{PaymentID: fmt.Sprintf("rb-%d", n), PartnerID: partner, UserRef: user, DeviceRef: "phone-" + user,
				Mode: ModeMPM, NetworkID: "unionpay", MerchantID: merchant, MCC: "5812", City: city, MerchantAmount: cny(amount)})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		for range 3 {
			if d := pay(first, "hipay", "busy", "m1", "Beijing", 1000); d.Outcome != Approve {
				t.Fatalf("before the restart: %+v", d)
			}
		}
		if d := pay(first, "monthly", "u1", "m-month", "Beijing", 30000); d.Outcome != Approve {
			t.Fatalf("month, first: %+v", d)
		}
		// Two days later, still in December: the merchant's month stands.
		clk.add(48 * time.Hour)
		if d := pay(first, "monthly", "u2", "m-month", "Beijing", 15000); d.Outcome != Approve {
			t.Fatalf("month, second: %+v", d)
		}
		if d := pay(first, "hipay", "flyer", "m2", "Ulaanbaatar", 5000); d.Outcome != Approve {
			t.Fatalf("the flyer at home: %+v", d)
		}
		for range 3 {
			if d := pay(first, "hipay", "busy", "m1", "Beijing", 1000); d.Outcome != Approve {
				t.Fatalf("today, before the restart: %+v", d)
			}
		}

		clk.add(10 * time.Minute)
		fresh := newTestService(t, db, clk, p)
		if d := pay(fresh, "monthly", "u3", "m-month", "Beijing", 10000); d.Outcome != Approve {
			t.Fatalf("without the rebuild the month is unknown: %+v", d)
		}
		restarted := newTestService(t, db, clk, p)
		replayed, err := restarted.Rebuild(ctx, db)
		if err != nil || replayed != 6 { // today's three busy payments, the flyer, the second month payment, u3's
			t.Fatalf("replayed %d, %v", replayed, err)
		}
		if d := pay(restarted, "hipay", "busy", "m1", "Beijing", 1000); d.RuleID != "burst.user" {
			t.Fatalf("the burst begun before the restart: %+v", d)
		}
		if d := pay(restarted, "monthly", "u4", "m-month", "Beijing", 1000); d.RuleID != "limit.merchant.monthly" {
			t.Fatalf("the merchant's month: %+v", d)
		}
		if d := pay(restarted, "monthly", "u5", "m-other", "Beijing", 26000); d.RuleID != "limit.partner.monthly" {
			t.Fatalf("the partner's month: %+v", d)
		}
		if d := pay(restarted, "hipay", "flyer", "m3", "Singapore", 300000); d.Outcome == Approve {
			t.Fatalf("Ulaanbaatar to Singapore in ten minutes: %+v", d)
		}
	})
}
