package settlement

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

func TestNewPostingRefusesUnbalanced(t *testing.T) {
	cny := func(n int64) money.Amount { return money.Amount{Currency: "CNY", Minor: n} }
	for _, tc := range []struct {
		name    string
		entries []Entry
	}{
		{"one entry", []Entry{{"a", Debit, cny(1)}}},
		{"debits exceed credits", []Entry{{"a", Debit, cny(2)}, {"b", Credit, cny(1)}}},
		{"balanced in sum but not per currency", []Entry{{"a", Debit, cny(1)}, {"b", Credit, money.Amount{Currency: "MNT", Minor: 1}}}},
		{"zero amount", []Entry{{"a", Debit, cny(0)}, {"b", Credit, cny(0)}}},
		{"negative amount", []Entry{{"a", Debit, cny(-1)}, {"b", Credit, cny(-1)}}},
		{"no account", []Entry{{"", Debit, cny(1)}, {"b", Credit, cny(1)}}},
		{"bad side", []Entry{{"a", "X", cny(1)}, {"b", Credit, cny(1)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPosting("pay-1", "payment", tc.entries, time.Now()); !errors.Is(err, ErrUnbalanced) {
				t.Fatalf("got %v, want ErrUnbalanced", err)
			}
		})
	}
}

func TestPaymentPosting(t *testing.T) {
	p, err := PaymentPosting(PaymentFacts{
		PaymentID: "pay-1", PartnerID: "hipay", NetworkID: "unionpay",
		WalletAmount:   money.Amount{Currency: "MNT", Minor: 4875000},
		CostAmount:     money.Amount{Currency: "MNT", Minor: 4800000},
		MerchantAmount: money.Amount{Currency: "CNY", Minor: 10000},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, e := range p.Entries() {
		sign := int64(1)
		if e.Side == Credit {
			sign = -1
		}
		got[e.Account+"/"+e.Amount.Currency] += sign * e.Amount.Minor
	}
	want := map[string]int64{
		"partner_receivable:hipay/MNT": 4875000, "fx_position:MNT/MNT": -4800000, "fx_revenue/MNT": -75000,
		"fx_position:CNY/CNY": 10000, "merchant_payable:unionpay/CNY": -10000,
	}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if _, err := PaymentPosting(PaymentFacts{PaymentID: "x", PartnerID: "p", NetworkID: "n",
		WalletAmount: money.Amount{Currency: "MNT", Minor: 1}, CostAmount: money.Amount{Currency: "MNT", Minor: 2},
		MerchantAmount: money.Amount{Currency: "CNY", Minor: 1}}, time.Now()); err == nil {
		t.Fatal("cost above wallet amount was accepted")
	}
}

// TestStoreConformance runs the ledger store on every back end.
func TestStoreConformance(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		svc := NewService(NewSQLStore(db), nil)
		facts := func(id string, wallet, cost, merchant int64) PaymentFacts {
			return PaymentFacts{PaymentID: id, PartnerID: "hipay", NetworkID: "unionpay",
				WalletAmount:   money.Amount{Currency: "MNT", Minor: wallet},
				CostAmount:     money.Amount{Currency: "MNT", Minor: cost},
				MerchantAmount: money.Amount{Currency: "CNY", Minor: merchant}}
		}

		t.Run("posting is exactly once under concurrent retries", func(t *testing.T) {
			var wg sync.WaitGroup
			ids := make(chan string, 20)
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p, err := svc.PostPayment(ctx, facts("pay-1", 4875000, 4800000, 10000))
					if err != nil {
						t.Error(err)
						return
					}
					ids <- p.ID()
				}()
			}
			wg.Wait()
			close(ids)
			first := ""
			for id := range ids {
				if first == "" {
					first = id
				} else if id != first {
					t.Fatalf("two postings for one payment: %s and %s", first, id)
				}
			}
			ps, err := svc.ListPostings(ctx, "pay-1")
			if err != nil || len(ps) != 1 || len(ps[0].Entries()) != 5 {
				t.Fatalf("ListPostings = %d postings, %v", len(ps), err)
			}
		})

		t.Run("same payment with other amounts conflicts", func(t *testing.T) {
			if _, err := svc.PostPayment(ctx, facts("pay-1", 1, 1, 1)); !errors.Is(err, ErrConflict) {
				t.Fatalf("got %v, want ErrConflict", err)
			}
		})

		t.Run("a batch posts each payment once", func(t *testing.T) {
			batch := []PaymentFacts{facts("pay-1", 4875000, 4800000, 10000), facts("pay-b1", 100, 90, 1), facts("pay-b2", 200, 180, 2)}
			ps, err := svc.PostPayments(ctx, batch)
			if err != nil || len(ps) != 3 {
				t.Fatalf("PostPayments = %d, %v", len(ps), err)
			}
			again, err := svc.PostPayments(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ps {
				if again[i].ID() != ps[i].ID() || ps[i].PaymentID() != batch[i].PaymentID {
					t.Fatalf("batch %d: %s then %s", i, ps[i].ID(), again[i].ID())
				}
			}
			if _, err := svc.PostPayments(ctx, []PaymentFacts{facts("dup", 1, 1, 1), facts("dup", 1, 1, 1)}); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
				t.Fatalf("duplicate in batch: %v", err)
			}
		})

		t.Run("a failed batch writes nothing and names the payment at fault", func(t *testing.T) {
			before, err := svc.TrialBalance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			refund := facts("pay-b1", 50, 45, 1)
			refund.ReversalID = "refund-1"
			badCost := facts("pay-b5", 100, 90, 1)
			badCost.CostAmount.Minor = 101
			for _, tc := range []struct {
				name   string
				batch  []PaymentFacts
				reason rpcerr.Reason
				says   []string // in the error's message, whole batch or alone
			}{
				{"a payment posted before with other amounts", []PaymentFacts{facts("pay-b3", 300, 270, 3), refund, facts("pay-b1", 1, 1, 1), facts("pay-b4", 400, 360, 4)},
					rpcerr.PostingConflict, []string{"payment pay-b1 kind payment"}},
				{"an invalid payment", []PaymentFacts{facts("pay-b3", 300, 270, 3), refund, badCost},
					rpcerr.InvalidAmount, []string{"payments[2].cost_amount.minor_units"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := svc.PostPayments(ctx, tc.batch)
					if rpcerr.ReasonOf(err) != tc.reason {
						t.Fatalf("got %v, want %s", err, tc.reason)
					}
					for _, want := range tc.says {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("error %q does not say %q", err, want)
						}
					}
					for _, f := range tc.batch {
						want := 0 // pay-b1's payment was posted before the batch
						if f.PaymentID == "pay-b1" {
							want = 1
						}
						if ps, err := svc.ListPostings(ctx, f.PaymentID); err != nil || len(ps) != want {
							t.Errorf("%s has %d postings after the failed batch, want %d (%v)", f.PaymentID, len(ps), want, err)
						}
					}
					after, err := svc.TrialBalance(ctx)
					if err != nil || !reflect.DeepEqual(before, after) {
						t.Fatalf("trial balance changed: %v, then %v (%v)", before, after, err)
					}
				})
			}
			// Split, the healthy payments post and the one at fault fails alone
			// with the same error.
			if _, err := svc.PostPayments(ctx, []PaymentFacts{facts("pay-b3", 300, 270, 3), refund, facts("pay-b4", 400, 360, 4)}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.PostPayments(ctx, []PaymentFacts{facts("pay-b1", 1, 1, 1)}); !errors.Is(err, ErrConflict) ||
				!strings.Contains(err.Error(), "payment pay-b1 kind payment") {
				t.Fatalf("got %v, want ErrConflict naming pay-b1", err)
			}
			if _, err := svc.PostPayments(ctx, []PaymentFacts{badCost}); rpcerr.ReasonOf(err) != rpcerr.InvalidAmount ||
				!strings.Contains(err.Error(), "payments[0].cost_amount.minor_units") {
				t.Fatalf("got %v, want INVALID_AMOUNT naming payments[0]", err)
			}
			// Over gRPC the conflict's message carries the payment and kind.
			if st := rpcerr.ToStatus(func() error { _, err := svc.PostPayment(ctx, facts("pay-b1", 1, 1, 1)); return err }()); st.Code() != codes.AlreadyExists ||
				!strings.Contains(st.Message(), "payment pay-b1 kind payment") {
				t.Fatalf("status %v", st)
			}
			if _, err := svc.PostPayments(ctx, make([]PaymentFacts, MaxBatch+1)); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
				t.Fatalf("a batch above MaxBatch: %v", err)
			}
		})

		t.Run("trial balance balances per currency", func(t *testing.T) {
			if _, err := svc.PostPayment(ctx, facts("pay-2", 20000, 19900, 42)); err != nil {
				t.Fatal(err)
			}
			bs, err := svc.TrialBalance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			net := map[string]int64{}
			for _, b := range bs {
				net[b.Currency] += b.Debit - b.Credit
			}
			if len(net) != 2 || net["MNT"] != 0 || net["CNY"] != 0 {
				t.Fatalf("net per currency %v, want MNT and CNY at zero", net)
			}
		})
	})
}

func TestReversalPosting(t *testing.T) {
	f := PaymentFacts{PaymentID: "pay-r", PartnerID: "hipay", NetworkID: "unionpay",
		WalletAmount:   money.Amount{Currency: "MNT", Minor: 55},
		CostAmount:     money.Amount{Currency: "MNT", Minor: 56},
		MerchantAmount: money.Amount{Currency: "CNY", Minor: 1}}
	if _, err := PaymentPosting(f, time.Now()); err == nil {
		t.Fatal("a payment whose cost exceeds its wallet amount was accepted")
	}
	f.ReversalID = "refund-1"
	p, err := PaymentPosting(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind() != "reversal:refund-1" {
		t.Fatalf("kind %q", p.Kind())
	}
	net := map[string]int64{}
	for _, e := range p.Entries() {
		v := e.Amount.Minor
		if e.Side == Credit {
			v = -v
		}
		net[e.Account] += v
	}
	// Mirrored: the receivable is credited, the payable debited, and the
	// rounding unit of revenue goes back the other way.
	if net["partner_receivable:hipay"] != -55 || net["merchant_payable:unionpay"] != 1 || net[FXRevenue] != -1 || net["fx_position:MNT"] != 56 {
		t.Fatalf("entries %v", net)
	}
	// After a failed refund gave its share back, a later reversal's
	// rounded shares can differ by more: still balanced, the difference
	// taken from FX revenue.
	f.CostAmount.Minor = 58
	p, err = PaymentPosting(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Entries() {
		if e.Account == FXRevenue && (e.Side != Credit || e.Amount.Minor != 3) {
			t.Fatalf("revenue entry %+v, want a credit of 3", e)
		}
	}
	// A payment's cost above what the partner owes is refused.
	f.ReversalID = ""
	if _, err := PaymentPosting(f, time.Now()); err == nil {
		t.Fatal("a payment's cost above its settlement amount was accepted")
	}
}
