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
	"github.com/unigate/unigate/services/risk/rules"
)

func cny(n int64) money.Amount { return money.Amount{Currency: "CNY", Minor: n} }

// testPolicy: CNY limits, a small partner, every kind of list.
func testPolicy() Policy {
	return Policy{
		Version: 1,
		Lists: []ListEntry{
			{List: ListBlock, Kind: KindUser, Value: "hipay/u-blocked"},
			{List: ListBlock, Kind: KindDevice, Value: "hipay/dev-stolen"},
			{List: ListBlock, Kind: KindMerchant, Value: "unionpay/m-blocked"},
			{List: ListBlock, Kind: KindMCC, Value: "7995"},
			{List: ListSuspend, Kind: KindPartner, Value: "suspended"},
			{List: ListSuspend, Kind: KindMerchant, Value: "unionpay/m-suspended"},
		},
		Limits: []PartnerLimits{
			{PartnerID: "*", Currency: "CNY", PerPayment: 500000, UserPerPayment: 200000, UserDaily: 300000, UserMonthly: 400000},
			{PartnerID: "small", Currency: "CNY", PerPayment: 1000},
			{PartnerID: "busy", Currency: "CNY", MerchantDaily: 25000, PartnerDaily: 40000},
		},
	}
}

// clock is a settable time for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestService(t *testing.T, db *sqlstore.DB, clk *clock, p Policy) *Service {
	t.Helper()
	return newTestServiceOn(t, NewSQLStore(db), clk, p)
}

func newTestServiceOn(t *testing.T, store Store, clk *clock, p Policy) *Service {
	t.Helper()
	svc, err := NewService(store, Options{Now: clk.now, Day: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestEvaluate runs every check on both back ends, with decisions written
// one by one and (PostgreSQL) in group-committed batches, and with the
// statements serializable (as on CockroachDB) or not.
func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []sqlstore.Option
		batched bool
	}{
		{"one statement", nil, false},
		{"serializable", []sqlstore.Option{sqlstore.SerializableStatements()}, false},
		{"batched", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testEvaluate(t, tc.opts, tc.batched) })
	}
}

func testEvaluate(t *testing.T, opts []sqlstore.Option, batched bool) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		store := NewSQLStore(db)
		if batched {
			store = NewBatchingStore(ctx, db, 2, 64)
		}
		svc := newTestServiceOn(t, store, clk, testPolicy())
		n := 0
		pay := func(partner, user, merchant, mcc string, amount money.Amount) Payment {
			n++
			return Payment{PaymentID: fmt.Sprintf("pay-%d", n), PartnerID: partner, UserRef: user, Mode: ModeMPM,
				NetworkID: "unionpay", MerchantID: merchant, MCC: mcc, City: "Beijing", MerchantAmount: amount}
		}
		withDevice := func(p Payment, d string) Payment { p.DeviceRef = d; return p }
		for _, tc := range []struct {
			name   string
			p      Payment
			reason rpcerr.Reason
			rule   string
		}{
			{"approve", pay("hipay", "u1", "m1", "5812", cny(10000)), "", ""},
			{"blocked user", pay("hipay", "u-blocked", "m1", "5812", cny(100)), rpcerr.RiskBlocked, "block.user"},
			{"blocked device", withDevice(pay("hipay", "u-new", "m1", "5812", cny(100)), "dev-stolen"), rpcerr.RiskBlocked, "block.device"},
			{"blocked merchant", pay("hipay", "u1", "m-blocked", "5812", cny(100)), rpcerr.RiskBlocked, "block.merchant"},
			{"blocked mcc", pay("hipay", "u1", "m1", "7995", cny(100)), rpcerr.RiskBlocked, "block.mcc"},
			{"suspended partner", pay("suspended", "u1", "m1", "5812", cny(100)), rpcerr.RiskBlocked, "standing.partner"},
			{"suspended merchant", pay("hipay", "u1", "m-suspended", "5812", cny(100)), rpcerr.RiskBlocked, "standing.merchant"},
			{"partner limit", pay("small", "u1", "m1", "5812", cny(1001)), rpcerr.RiskLimitExceeded, "limit.partner.per_payment"},
			{"user per payment", pay("hipay", "u2", "m1", "5812", cny(200001)), rpcerr.RiskLimitExceeded, "limit.user.per_payment"},
			{"currency without limits", pay("hipay", "u1", "m1", "5812", money.Amount{Currency: "SGD", Minor: 1}), rpcerr.RiskLimitExceeded, "limit.currency"},
			// busy: the merchant's 24 hours (25,000) and the partner's (40,000).
			{"merchant day 1", pay("busy", "b1", "m-busy", "5812", cny(20000)), "", ""},
			{"merchant daily", pay("busy", "b2", "m-busy", "5812", cny(6000)), rpcerr.RiskLimitExceeded, "limit.merchant.daily"},
			{"partner day 1", pay("busy", "b3", "m-other", "5812", cny(15000)), "", ""},
			{"partner daily", pay("busy", "b4", "m-third", "5812", cny(6000)), rpcerr.RiskLimitExceeded, "limit.partner.daily"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d, err := svc.Evaluate(ctx, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				if d.Proceeds() != (tc.reason == "") || d.Reason != tc.reason || d.RuleID != tc.rule {
					t.Fatalf("got %+v, want reason %q rule %q", d, tc.reason, tc.rule)
				}
				if !d.Proceeds() && (len(d.Reasons) == 0 || d.Reasons[len(d.Reasons)-1].RuleID != tc.rule) {
					t.Fatalf("reasons %+v do not end with %s", d.Reasons, tc.rule)
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
						NetworkID: "unionpay", MerchantID: fmt.Sprintf("m-%d", i), MCC: "5812", MerchantAmount: cny(50000)}
					d, err := svc.Evaluate(ctx, p)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Proceeds() {
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
			if err != nil || !again.Proceeds() {
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
			if d, err := svc.Evaluate(ctx, next); err != nil || !d.Proceeds() {
				t.Fatalf("after release: %+v %v", d, err)
			}
		})

		t.Run("monthly limit spans days", func(t *testing.T) {
			// 400,000 a month, 300,000 a day: 250,000 on two days of the month
			// passes once; the next month starts afresh.
			p1 := pay("hipay", "u-month", "m1", "5812", cny(150000))
			p2 := pay("hipay", "u-month", "m1", "5812", cny(100000))
			for _, p := range []Payment{p1, p2} {
				if d, err := svc.Evaluate(ctx, p); err != nil || !d.Proceeds() {
					t.Fatalf("day one: %+v %v", d, err)
				}
			}
			clk.add(24 * time.Hour)
			if d, err := svc.Evaluate(ctx, pay("hipay", "u-month", "m1", "5812", cny(160000))); err != nil || d.RuleID != "limit.user.monthly" {
				t.Fatalf("day two over the month: %+v %v", d, err)
			}
			if d, err := svc.Evaluate(ctx, pay("hipay", "u-month", "m1", "5812", cny(150000))); err != nil || !d.Proceeds() {
				t.Fatalf("day two within the month: %+v %v", d, err)
			}
			clk.add(5 * 24 * time.Hour) // December
			if d, err := svc.Evaluate(ctx, pay("hipay", "u-month", "m1", "5812", cny(160000))); err != nil || !d.Proceeds() {
				t.Fatalf("next month: %+v %v", d, err)
			}
		})

		t.Run("consumer-presented payments count for the user once named", func(t *testing.T) {
			// The code stands for the user until the partner names them:
			// 180,000 + 180,000 on one user's day of 300,000.
			first := pay("hipay", "code:aaaa", "m1", "5812", cny(180000))
			first.Mode = ModeCPM
			if d, err := svc.Evaluate(ctx, first); err != nil || !d.Proceeds() {
				t.Fatalf("first: %+v %v", d, err)
			}
			if d, err := svc.NameUser(ctx, first.PaymentID, "u-cpm"); err != nil || !d.Proceeds() {
				t.Fatalf("name first: %+v %v", d, err)
			}
			second := pay("hipay", "code:bbbb", "m1", "5812", cny(180000))
			second.Mode = ModeCPM
			if d, err := svc.Evaluate(ctx, second); err != nil || !d.Proceeds() {
				t.Fatalf("second: %+v %v", d, err)
			}
			d, err := svc.NameUser(ctx, second.PaymentID, "u-cpm")
			if err != nil || d.Outcome != Decline || d.RuleID != "limit.user.daily" {
				t.Fatalf("name second: %+v %v", d, err)
			}
			if again, err := svc.NameUser(ctx, second.PaymentID, "u-cpm"); err != nil || again.Outcome != Decline {
				t.Fatalf("name second again: %+v %v", again, err)
			}
			third := pay("hipay", "code:cccc", "m1", "5812", cny(100))
			third.Mode = ModeCPM
			if _, err := svc.Evaluate(ctx, third); err != nil {
				t.Fatal(err)
			}
			if d, err := svc.NameUser(ctx, third.PaymentID, "u-blocked"); err != nil || d.RuleID != "block.user" {
				t.Fatalf("a blocked user named: %+v %v", d, err)
			}
			if _, err := svc.NameUser(ctx, "nope", "u-cpm"); rpcerr.ReasonOf(err) != rpcerr.RiskDecisionNotFound {
				t.Fatalf("an unknown payment: %v", err)
			}
		})
	}, opts...)
}

// TestRules: an enforced rule declines or reviews; a shadow rule is
// recorded and never acted on; the allow list skips the rules.
func TestRules(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		p := testPolicy()
		p.Rules = RuleSet{Version: 3, Rules: []rules.Rule{
			{ID: "big.digital", Expr: `mcc == "5816" && amount > 100000`, Action: rules.Decline, Mode: rules.Enforce},
			{ID: "night", Expr: `hour < 6`, Action: rules.Review, Mode: rules.Enforce},
			{ID: "everything", Expr: `true`, Action: rules.Decline, Mode: rules.Shadow},
		}}
		p.Lists = append(p.Lists, ListEntry{List: ListAllow, Kind: KindUser, Value: "hipay/vip"})
		svc := newTestService(t, db, clk, p)
		n := 0
		eval := func(user, mcc string, amount int64) Decision {
			t.Helper()
			n++
			d, err := svc.Evaluate(ctx, Payment{PaymentID: fmt.Sprintf("r-%d", n), PartnerID: "hipay", UserRef: user,
				NetworkID: "unionpay", MerchantID: "m1", MCC: mcc, MerchantAmount: cny(amount)})
			if err != nil {
				t.Fatal(err)
			}
			if d.RulesVersion != 3 {
				t.Fatalf("rules version %d", d.RulesVersion)
			}
			return d
		}
		hasShadow := func(d Decision) bool {
			for _, r := range d.Reasons {
				if r.RuleID == "everything" && r.Shadow {
					return true
				}
			}
			return false
		}
		if d := eval("u1", "5411", 1000); d.Outcome != Approve || !hasShadow(d) {
			t.Fatalf("a shadow rule matched every payment and must only be recorded: %+v", d)
		}
		if d := eval("u2", "5816", 150000); d.Outcome != Decline || d.RuleID != "big.digital" || d.Reason != rpcerr.RiskDeclined {
			t.Fatalf("big digital goods: %+v", d)
		}
		clk.add(16 * time.Hour) // 04:00 UTC
		if d := eval("u3", "5411", 1000); d.Outcome != Review || d.RuleID != "night" {
			t.Fatalf("at night: %+v", d)
		}
		if d := eval("vip", "5816", 150000); d.Outcome != Approve || d.Reasons[0].RuleID != "allow" {
			t.Fatalf("allow-listed: %+v", d)
		}
		// The decision is stored for audit as returned.
		var outcome, reasons string
		var score int64
		if err := db.QueryRowContext(ctx, `SELECT outcome, reasons, score_bp FROM risk_decisions WHERE payment_id = 'r-3'`).
			Scan(&outcome, &reasons, &score); err != nil || outcome != Review || score < 0 || score > 10000 {
			t.Fatalf("stored: %s %s %d %v", outcome, reasons, score, err)
		}
		// A review opens its case, once.
		cases := NewCases(db, clk.now)
		for range 2 {
			if _, err := OpenReviewCasesOnce(ctx, db, cases, clk.now().Add(-48*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		open, err := cases.List(ctx, CaseOpen, "", 10)
		if err != nil || len(open) != 1 || open[0].PaymentID != "r-3" {
			t.Fatalf("review cases: %+v %v", open, err)
		}
	})
}

// TestModelScore: a payment made like an account takeover — a dormant
// user's new device, far from their last payment, a large amount at a
// jeweller — scores high, is reviewed or declined by the model, and names
// the model's top features; the same user's ordinary payment does not.
func TestModelScore(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
		svc := newTestService(t, db, clk, Policy{Version: 1})
		pay := func(id, device, city, mcc string, amount int64) Decision {
			t.Helper()
			d, err := svc.Evaluate(ctx, Payment{PaymentID: id, PartnerID: "hipay", UserRef: "traveller", DeviceRef: device,
				NetworkID: "unionpay", MerchantID: "m-" + id, MCC: mcc, City: city, MerchantAmount: cny(amount)})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		if d := pay("lunch", "phone-1", "Beijing", "5812", 8000); d.Outcome != Approve {
			t.Fatalf("an ordinary lunch: %+v", d)
		}
		// The replica's memory starts empty: the phone it first saw the
		// user with is not a new device a minute later.
		clk.add(time.Minute)
		if d := pay("dessert", "phone-1", "Beijing", "5812", 3000); d.Outcome != Approve {
			t.Fatalf("dessert a minute later: %+v", d)
		}
		clk.add(20 * time.Minute)
		d := pay("jewels", "phone-new", "Singapore", "5944", 3000000)
		if d.Outcome == Approve || d.ScoreBP < 7900 || (d.RuleID != "model.score") {
			t.Fatalf("a takeover-like payment: %+v", d)
		}
		var model int
		for _, r := range d.Reasons {
			if r.RuleID == "model" {
				model++
			}
		}
		if model == 0 {
			t.Fatalf("no model features among the reasons: %+v", d.Reasons)
		}
		t.Logf("takeover-like payment: %s %d bp %+v", d.Outcome, d.ScoreBP, d.Reasons)
	})
}

// TestEvaluateSamePaymentConcurrently: evaluations of one payment racing
// each other return one decision, and the user's usage counts it once (a
// loser that counted gives its count back), one by one and batched.
func TestEvaluateSamePaymentConcurrently(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if err := db.Migrate(ctx, Migrations); err != nil {
					t.Fatal(err)
				}
				store := NewSQLStore(db)
				if batched {
					store = NewBatchingStore(ctx, db, 4, 64)
				}
				svc := newTestServiceOn(t, store, &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, testPolicy())
				for round := range 20 {
					var wg sync.WaitGroup
					outcomes := make(chan string, 8)
					for range 8 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							d, err := svc.Evaluate(ctx, Payment{PaymentID: fmt.Sprintf("same-%d", round), PartnerID: "hipay", UserRef: "racer",
								NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(1000)})
							if err != nil {
								t.Error(err)
								return
							}
							outcomes <- d.Outcome
						}()
					}
					wg.Wait()
					close(outcomes)
					for o := range outcomes {
						if o != Approve {
							t.Fatalf("round %d: %s", round, o)
						}
					}
				}
				var used int64
				if err := db.QueryRowContext(ctx, `SELECT day_used FROM risk_usage WHERE partner_id = 'hipay' AND user_ref = 'racer'`).Scan(&used); err != nil || used != 20*1000 {
					t.Fatalf("usage %d, want %d once per payment: %v", used, 20*1000, err)
				}
			})
		})
	}
}
