package settlement

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// nets sums a posting's entries per account and currency, debit-positive.
func nets(p Posting) map[string]int64 {
	out := map[string]int64{}
	for _, e := range p.Entries() {
		v := e.Amount.Minor
		if e.Side == Credit {
			v = -v
		}
		out[e.Account+"/"+e.Amount.Currency] += v
	}
	return out
}

// TestPaymentPostingSettlementCurrency posts payments of partners that
// settle in another currency than their wallet's: the partner's debt, the
// FX revenue and the cost are in the settlement currency, and what the
// user paid in the wallet's currency is not posted.
func TestPaymentPostingSettlementCurrency(t *testing.T) {
	amt := func(cur string, n int64) money.Amount { return money.Amount{Currency: cur, Minor: n} }
	facts := func(wallet, settlement, cost, merchant money.Amount) PaymentFacts {
		return PaymentFacts{PaymentID: "pay-1", PartnerID: "hipay", NetworkID: "unionpay",
			WalletAmount: wallet, SettlementAmount: settlement, CostAmount: cost, MerchantAmount: merchant}
	}
	for _, tc := range []struct {
		name  string
		facts PaymentFacts
		want  map[string]int64
	}{
		{
			// 100.00 CNY paid with 48,750.00 MNT; the partner owes 14.10 USD,
			// 13.90 of which buys the yuan.
			name:  "MNT wallet settling in USD at a CNY merchant",
			facts: facts(amt("MNT", 4875000), amt("USD", 1410), amt("USD", 1390), amt("CNY", 10000)),
			want: map[string]int64{
				"partner_receivable:hipay/USD": 1410, "fx_revenue/USD": -20, "fx_position:USD/USD": -1390,
				"fx_position:CNY/CNY": 10000, "merchant_payable:unionpay/CNY": -10000,
			},
		},
		{
			// Three currencies of 0, 2 and 3 minor digits.
			name:  "VND wallet settling in KWD at a JPY merchant",
			facts: facts(amt("VND", 2500000), amt("KWD", 31250), amt("KWD", 30999), amt("JPY", 15000)),
			want: map[string]int64{
				"partner_receivable:hipay/KWD": 31250, "fx_revenue/KWD": -251, "fx_position:KWD/KWD": -30999,
				"fx_position:JPY/JPY": 15000, "merchant_payable:unionpay/JPY": -15000,
			},
		},
		{
			name:  "settling in the merchant's currency converts nothing",
			facts: facts(amt("MNT", 4875000), amt("CNY", 10150), amt("CNY", 10000), amt("CNY", 10000)),
			want: map[string]int64{
				"partner_receivable:hipay/CNY": 10150, "fx_revenue/CNY": -150, "merchant_payable:unionpay/CNY": -10000,
			},
		},
		{
			name:  "without a settlement amount, the wallet's currency",
			facts: facts(amt("MNT", 4875000), money.Amount{}, amt("MNT", 4800000), amt("CNY", 10000)),
			want: map[string]int64{
				"partner_receivable:hipay/MNT": 4875000, "fx_revenue/MNT": -75000, "fx_position:MNT/MNT": -4800000,
				"fx_position:CNY/CNY": 10000, "merchant_payable:unionpay/CNY": -10000,
			},
		},
		{
			name:  "a CNY wallet settling in USD at a CNY merchant converts to USD",
			facts: facts(amt("CNY", 10000), amt("USD", 1410), amt("USD", 1390), amt("CNY", 10000)),
			want: map[string]int64{
				"partner_receivable:hipay/USD": 1410, "fx_revenue/USD": -20, "fx_position:USD/USD": -1390,
				"fx_position:CNY/CNY": 10000, "merchant_payable:unionpay/CNY": -10000,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PaymentPosting(tc.facts, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got := nets(p)
			if len(got) != len(tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %d, want %d", k, got[k], v)
				}
			}
			// The reversal of all of it mirrors every entry.
			rev := tc.facts
			rev.ReversalID = "cancel-pay-1"
			r, err := PaymentPosting(rev, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range nets(r) {
				if got[k] != -v {
					t.Errorf("reversal: %s = %d, want %d", k, v, -got[k])
				}
			}
		})
	}

	for _, tc := range []struct {
		name   string
		facts  PaymentFacts
		reason rpcerr.Reason
		field  string
	}{
		{"a cost in the wallet's currency", facts(amt("MNT", 4875000), amt("USD", 1410), amt("MNT", 4800000), amt("CNY", 10000)),
			rpcerr.InvalidArgument, "cost_amount.currency"},
		{"a cost above the settlement amount", facts(amt("MNT", 4875000), amt("USD", 1410), amt("USD", 1411), amt("CNY", 10000)),
			rpcerr.InvalidAmount, "cost_amount.minor_units"},
		{"settling in the merchant's currency at a cost other than the merchant amount",
			facts(amt("MNT", 4875000), amt("CNY", 10150), amt("CNY", 10001), amt("CNY", 10000)), rpcerr.InvalidAmount, "cost_amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PaymentPosting(tc.facts, time.Now())
			var e *rpcerr.Error
			if !errors.As(err, &e) || e.Reason != tc.reason || e.Field != tc.field {
				t.Fatalf("PaymentPosting = %v, want %s on %s", err, tc.reason, tc.field)
			}
		})
	}
}

// TestServerSettlementAmount checks how PostPayments reads
// settlement_amount: absent, it is the wallet amount; present, a valid
// positive amount (zero allowed for a reversal) whose currency the cost
// shares.
func TestServerSettlementAmount(t *testing.T) {
	pb := func(cur string, n int64) *commonv1.Money { return &commonv1.Money{Currency: cur, MinorUnits: n} }
	minor := func(a money.Amount) string { return fmt.Sprintf("%d %s", a.Minor, a.Currency) }
	req := func(settlement, cost *commonv1.Money, reversal string) *settlementv1.PostPaymentRequest {
		return &settlementv1.PostPaymentRequest{PaymentId: "pay-1", PartnerId: "hipay", NetworkId: "unionpay", MerchantId: "m-1",
			WalletAmount: pb("MNT", 4875000), SettlementAmount: settlement, CostAmount: cost,
			MerchantAmount: pb("CNY", 10000), ReversalId: reversal}
	}
	t.Run("mapped", func(t *testing.T) {
		for _, tc := range []struct {
			name             string
			req              *settlementv1.PostPaymentRequest
			settlement, cost string
		}{
			{"absent: the wallet amount", req(nil, pb("MNT", 4800000), ""), "4875000 MNT", "4800000 MNT"},
			{"present", req(pb("USD", 1410), pb("USD", 1390), ""), "1410 USD", "1390 USD"},
			{"a reversal's zero amounts", req(pb("USD", 0), pb("USD", 0), "refund-1"), "0 USD", "0 USD"},
			{"a reversal's zero cost without its currency", req(pb("USD", 1), &commonv1.Money{}, "refund-1"), "1 USD", "0 USD"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f, err := factsFromProto(tc.req, "")
				if err != nil {
					t.Fatal(err)
				}
				if got := f.settlement(); minor(got) != tc.settlement || minor(f.CostAmount) != tc.cost {
					t.Fatalf("settlement %s, cost %s; want %s, %s", minor(got), minor(f.CostAmount), tc.settlement, tc.cost)
				}
			})
		}
	})
	t.Run("refused", func(t *testing.T) {
		srv := NewServer(NewService(nil, nil)) // refused before the store
		for _, tc := range []struct {
			name   string
			req    *settlementv1.PostPaymentRequest
			reason rpcerr.Reason
			field  string
		}{
			{"not an ISO 4217 currency", req(pb("XYZ", 1410), pb("XYZ", 1390), ""), rpcerr.UnsupportedCurrency, "payments[0].settlement_amount.currency"},
			{"zero for a payment", req(pb("USD", 0), pb("USD", 0), ""), rpcerr.InvalidAmount, "payments[0].settlement_amount.minor_units"},
			{"negative", req(pb("USD", -1), pb("USD", 0), "refund-1"), rpcerr.InvalidAmount, "payments[0].settlement_amount.minor_units"},
			{"a cost in another currency", req(pb("USD", 1410), pb("MNT", 4800000), ""), rpcerr.InvalidArgument, "payments[0].cost_amount.currency"},
			{"a zero cost in another currency", req(pb("USD", 1), pb("MNT", 0), "refund-1"), rpcerr.InvalidArgument, "payments[0].cost_amount.currency"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := srv.PostPayments(context.Background(), &settlementv1.PostPaymentsRequest{Payments: []*settlementv1.PostPaymentRequest{tc.req}})
				var e *rpcerr.Error
				if !errors.As(err, &e) || e.Reason != tc.reason || e.Field != tc.field {
					t.Fatalf("PostPayments = %v, want %s on %s", err, tc.reason, tc.field)
				}
			})
		}
	})
}
