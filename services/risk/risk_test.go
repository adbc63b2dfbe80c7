package risk

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

func cny(n int64) money.Amount { return money.Amount{Currency: "CNY", Minor: n} }

var testConfig = Config{
	Default: Limits{PerPayment: cny(500000), PerUserPayment: cny(200000), PerUserDaily: cny(300000)},
	Partners: map[string]Limits{
		"small": {PerPayment: cny(1000)},
	},
	BlockedUsers:     []string{"hipay/u-blocked"},
	BlockedMerchants: []string{"unionpay/m-blocked"},
	BlockedMCCs:      []string{"7995"},
}

func TestEvaluate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]sqlstore.Option{nil, {sqlstore.SerializableStatements()}} {
		name := "transaction"
		if opts != nil {
			name = "one statement"
		}
		t.Run(name, func(t *testing.T) { testEvaluate(t, opts) })
	}
}

func testEvaluate(t *testing.T, opts []sqlstore.Option) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		svc := NewService(testConfig, NewSQLStore(db), func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) })
		n := 0
		pay := func(partner, user, merchant, mcc string, amount money.Amount) Payment {
			n++
			return Payment{PaymentID: fmt.Sprintf("pay-%d", n), PartnerID: partner, UserRef: user,
				NetworkID: "unionpay", MerchantID: merchant, MCC: mcc, MerchantAmount: amount}
		}
		for _, tc := range []struct {
			name   string
			p      Payment
			reason rpcerr.Reason
			rule   string
		}{
			{"approve", pay("hipay", "u1", "m1", "5812", cny(10000)), "", ""},
			{"blocked user", pay("hipay", "u-blocked", "m1", "5812", cny(100)), rpcerr.RiskBlocked, "block.user"},
			{"blocked merchant", pay("hipay", "u1", "m-blocked", "5812", cny(100)), rpcerr.RiskBlocked, "block.merchant"},
			{"blocked mcc", pay("hipay", "u1", "m1", "7995", cny(100)), rpcerr.RiskBlocked, "block.mcc"},
			{"partner limit", pay("small", "u1", "m1", "5812", cny(1001)), rpcerr.RiskLimitExceeded, "limit.partner.per_payment"},
			{"user per payment", pay("hipay", "u2", "m1", "5812", cny(200001)), rpcerr.RiskLimitExceeded, "limit.user.per_payment"},
			{"currency without limit", pay("hipay", "u1", "m1", "5812", money.Amount{Currency: "SGD", Minor: 1}), rpcerr.RiskLimitExceeded, "limit.partner.per_payment"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d, err := svc.Evaluate(ctx, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				if d.Approve != (tc.reason == "") || d.Reason != tc.reason || d.RuleID != tc.rule {
					t.Fatalf("got %+v, want reason %q rule %q", d, tc.reason, tc.rule)
				}
			})
		}

		t.Run("daily limit holds under concurrency and release gives back", func(t *testing.T) {
			// 300,000 daily: of ten concurrent 50,000 payments exactly six pass.
			var wg sync.WaitGroup
			var mu sync.Mutex
			var approved []string
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := Payment{PaymentID: fmt.Sprintf("daily-%d", i), PartnerID: "hipay", UserRef: "u-daily",
						NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(50000)}
					d, err := svc.Evaluate(ctx, p)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Approve {
						mu.Lock()
						approved = append(approved, p.PaymentID)
						mu.Unlock()
					} else if d.RuleID != "limit.user.daily" {
						t.Errorf("declined by %s", d.RuleID)
					}
				}()
			}
			wg.Wait()
			if len(approved) != 6 {
				t.Fatalf("%d approved, want 6", len(approved))
			}
			// Re-evaluating an approved payment returns the same decision and
			// does not count it twice.
			again, err := svc.Evaluate(ctx, Payment{PaymentID: approved[0], PartnerID: "hipay", UserRef: "u-daily",
				NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(50000)})
			if err != nil || !again.Approve {
				t.Fatalf("re-evaluate: %+v %v", again, err)
			}
			next := Payment{PaymentID: "daily-next", PartnerID: "hipay", UserRef: "u-daily",
				NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(50000)}
			if err := svc.Release(ctx, approved[0]); err != nil {
				t.Fatal(err)
			}
			if err := svc.Release(ctx, approved[0]); err != nil {
				t.Fatalf("second release: %v", err)
			}
			if d, err := svc.Evaluate(ctx, next); err != nil || !d.Approve {
				t.Fatalf("after release: %+v %v", d, err)
			}
		})
	}, opts...)
}
