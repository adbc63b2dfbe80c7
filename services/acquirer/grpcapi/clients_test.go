package grpcapi

import (
	"context"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// stubFX answers every CreateQuote and LockQuote with quote and keeps the
// requests.
type stubFX struct {
	fxv1.FxServiceClient // the methods not stubbed panic
	quote                *fxv1.Quote
	creates              []*fxv1.CreateQuoteRequest
}

func (s *stubFX) CreateQuote(_ context.Context, req *fxv1.CreateQuoteRequest, _ ...grpc.CallOption) (*fxv1.CreateQuoteResponse, error) {
	s.creates = append(s.creates, req)
	return &fxv1.CreateQuoteResponse{Quote: s.quote}, nil
}

func (s *stubFX) LockQuote(context.Context, *fxv1.LockQuoteRequest, ...grpc.CallOption) (*fxv1.LockQuoteResponse, error) {
	return &fxv1.LockQuoteResponse{Quote: s.quote}, nil
}

// TestFXClientRequests checks the direction and amounts the FX service is
// asked for.
func TestFXClientRequests(t *testing.T) {
	stub := &stubFX{quote: &fxv1.Quote{QuoteId: "q-1", WalletAmount: pbMoney("MNT", 100000), CostAmount: pbMoney("MNT", 98000)}}
	c := fxClient{stub}
	if _, err := c.CreateQuote(context.Background(), acquirer.QuoteRequest{PartnerID: testPartner, WalletCurrency: "MNT",
		Merchant: money.Amount{Currency: "CNY", Minor: 10000}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQuote(context.Background(), acquirer.QuoteRequest{PartnerID: testPartner, WalletCurrency: "MNT",
		Merchant: money.Amount{Currency: "CNY"}, Wallet: &money.Amount{Currency: "MNT", Minor: 100000}}); err != nil {
		t.Fatal(err)
	}
	want := []*fxv1.CreateQuoteRequest{
		{PartnerId: testPartner, WalletCurrency: "MNT", MerchantAmount: pbMoney("CNY", 10000),
			Direction: fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_MERCHANT},
		{PartnerId: testPartner, WalletCurrency: "MNT", MerchantAmount: pbMoney("CNY", 0), WalletAmount: pbMoney("MNT", 100000),
			Direction: fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_WALLET},
	}
	for i := range want {
		if !proto.Equal(stub.creates[i], want[i]) {
			t.Errorf("request %d: %v, want %v", i, stub.creates[i], want[i])
		}
	}
}

// TestFXClientQuotes checks how the FX service's quotes are read: a quote
// without a settlement amount settles in the wallet's currency, and a
// cost in another currency than the settlement amount, or above it, is
// refused before any money moves.
func TestFXClientQuotes(t *testing.T) {
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	base := func() *fxv1.Quote {
		return &fxv1.Quote{QuoteId: "q-1", MerchantAmount: pbMoney("CNY", 10000), WalletAmount: pbMoney("MNT", 4875000),
			CostAmount: pbMoney("MNT", 4800000), Rate: "487.5", MidRate: "480.3", SpreadBps: 150,
			CreateTime: timestamppb.New(at), ExpireTime: timestamppb.New(at.Add(time.Minute))}
	}
	mnt, usd := func(n int64) money.Amount { return money.Amount{Currency: "MNT", Minor: n} }, func(n int64) money.Amount { return money.Amount{Currency: "USD", Minor: n} }
	quote := func(settlement, cost money.Amount) acquirer.Quote {
		return acquirer.Quote{ID: "q-1", Merchant: money.Amount{Currency: "CNY", Minor: 10000}, Wallet: mnt(4875000),
			Settlement: settlement, Cost: cost, Rate: "487.5", MidRate: "480.3", MarkupBps: 150, CreateTime: at, ExpireTime: at.Add(time.Minute)}
	}
	for _, tc := range []struct {
		name   string
		change func(q *fxv1.Quote)
		want   acquirer.Quote
		refuse bool
	}{
		{name: "without a settlement amount: the wallet amount", change: func(*fxv1.Quote) {},
			want: quote(mnt(4875000), mnt(4800000))},
		{name: "with a settlement amount", change: func(q *fxv1.Quote) {
			q.SettlementAmount, q.CostAmount = pbMoney("USD", 1410), pbMoney("USD", 1390)
		}, want: quote(usd(1410), usd(1390))},
		{name: "with its legs", change: func(q *fxv1.Quote) {
			q.SettlementAmount, q.CostAmount = pbMoney("USD", 1410), pbMoney("USD", 1390)
			q.Legs = []*commonv1.RateLeg{{BaseCurrency: "USD", QuoteCurrency: "MNT", Provider: "bank-a", Bid: "3449.1", Ask: "3451.3",
				SourceTime: timestamppb.New(at.Add(-time.Second))}, {BaseCurrency: "USD", QuoteCurrency: "CNY", Provider: "bank-b"}}
		}, want: func() acquirer.Quote {
			q := quote(usd(1410), usd(1390))
			q.Legs = []acquirer.RateLeg{{Base: "USD", Quote: "MNT", Provider: "bank-a", Bid: "3449.1", Ask: "3451.3",
				SourceTime: at.Add(-time.Second)}, {Base: "USD", Quote: "CNY", Provider: "bank-b"}}
			return q
		}()},
		{name: "a cost without its currency is in the settlement currency", change: func(q *fxv1.Quote) {
			q.SettlementAmount, q.CostAmount = pbMoney("USD", 1410), &commonv1.Money{MinorUnits: 1390}
		}, want: quote(usd(1410), usd(1390))},
		{name: "a cost in the wallet's currency with a settlement amount", change: func(q *fxv1.Quote) {
			q.SettlementAmount = pbMoney("USD", 1410)
		}, refuse: true},
		{name: "a cost above the settlement amount", change: func(q *fxv1.Quote) {
			q.SettlementAmount, q.CostAmount = pbMoney("USD", 1410), pbMoney("USD", 1411)
		}, refuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := base()
			tc.change(q)
			c := fxClient{&stubFX{quote: q}}
			for _, call := range []func() (acquirer.Quote, error){
				func() (acquirer.Quote, error) {
					return c.CreateQuote(context.Background(), acquirer.QuoteRequest{Merchant: money.Amount{Currency: "CNY", Minor: 10000}})
				},
				func() (acquirer.Quote, error) {
					return c.LockQuote(context.Background(), "q-1", "pay-1", testPartner, money.Amount{Currency: "CNY", Minor: 10000})
				},
			} {
				got, err := call()
				if tc.refuse {
					if rpcerr.ReasonOf(err) != rpcerr.Internal {
						t.Fatalf("got %+v, %v; want INTERNAL", got, err)
					}
					continue
				}
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %+v, %v\nwant %+v", got, err, tc.want)
				}
			}
		})
	}
}

// stubSettlement keeps the PostPayments requests.
type stubSettlement struct {
	settlementv1.SettlementServiceClient
	posts []*settlementv1.PostPaymentsRequest
}

func (s *stubSettlement) PostPayments(_ context.Context, req *settlementv1.PostPaymentsRequest, _ ...grpc.CallOption) (*settlementv1.PostPaymentsResponse, error) {
	s.posts = append(s.posts, req)
	return &settlementv1.PostPaymentsResponse{}, nil
}

// TestLedgerClientPostsSettlement checks that postings carry the
// settlement amount, a reversal's zero amounts with their currency.
func TestLedgerClientPostsSettlement(t *testing.T) {
	stub := &stubSettlement{}
	usd := func(n int64) money.Amount { return money.Amount{Currency: "USD", Minor: n} }
	err := ledgerClient{stub}.Post(context.Background(), []acquirer.LedgerPosting{
		{PaymentID: "pay-1", PartnerID: testPartner, NetworkID: testNetwork, MerchantID: "m-1",
			Wallet: money.Amount{Currency: "MNT", Minor: 4875000}, Settlement: usd(1410), Cost: usd(1390),
			Merchant: money.Amount{Currency: "CNY", Minor: 10000}},
		{PaymentID: "pay-1", PartnerID: testPartner, NetworkID: testNetwork, MerchantID: "m-1",
			Wallet: money.Amount{Currency: "MNT", Minor: 487}, Settlement: usd(0), Cost: usd(0),
			Merchant: money.Amount{Currency: "CNY", Minor: 1}, ReversalID: "refund-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &settlementv1.PostPaymentsRequest{Payments: []*settlementv1.PostPaymentRequest{
		{PaymentId: "pay-1", PartnerId: testPartner, NetworkId: testNetwork, MerchantId: "m-1", WalletAmount: pbMoney("MNT", 4875000),
			SettlementAmount: pbMoney("USD", 1410), CostAmount: pbMoney("USD", 1390), MerchantAmount: pbMoney("CNY", 10000)},
		{PaymentId: "pay-1", PartnerId: testPartner, NetworkId: testNetwork, MerchantId: "m-1", WalletAmount: pbMoney("MNT", 487),
			SettlementAmount: pbMoney("USD", 0), CostAmount: pbMoney("USD", 0), MerchantAmount: pbMoney("CNY", 1), ReversalId: "refund-1"},
	}}
	if len(stub.posts) != 1 || !proto.Equal(stub.posts[0], want) {
		t.Fatalf("posted %v, want %v", stub.posts, want)
	}
}
