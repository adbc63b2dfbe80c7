package grpcapi

import (
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// quoteServer is a PartnerServer whose domain quotes through fx; nothing
// it is asked here reaches a store.
func quoteServer(fx *fakeFX) *PartnerServer {
	svc := acquirer.NewService(acquirer.Deps{Router: fakeRouter{}, FX: fx, Risk: approveAll{}, Networks: succeeding{}, Wallets: succeeding{}},
		acquirer.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	return NewPartnerServer(svc)
}

func pbMoney(cur string, minor int64) *commonv1.Money {
	return &commonv1.Money{Currency: cur, MinorUnits: minor}
}

// TestCreateQuoteMapsTheQuote checks that every field of the FX quote
// reaches the partner.
func TestCreateQuoteMapsTheQuote(t *testing.T) {
	resp, err := quoteServer(newFakeFX()).CreateQuote(partnerCtx(), &partnerv1.CreateQuoteRequest{Code: staticCode, Amount: pbMoney("CNY", 10000)})
	if err != nil {
		t.Fatal(err)
	}
	want := &partnerv1.Quote{QuoteId: "quote-1", MerchantAmount: pbMoney("CNY", 10000), WalletAmount: pbMoney("MNT", 4875000),
		SettlementAmount: pbMoney("USD", 1410), Rate: "487.5", MidRate: "480.3", MarkupBps: 150,
		CreateTime: timestamppb.New(quoteTime), ExpireTime: timestamppb.New(quoteTime.Add(time.Minute)),
		Legs: []*commonv1.RateLeg{
			{BaseCurrency: "USD", QuoteCurrency: "MNT", Provider: "bank-a", Bid: "3449.1", Ask: "3451.3", SourceTime: timestamppb.New(quoteTime.Add(-time.Second))},
			{BaseCurrency: "USD", QuoteCurrency: "CNY", Provider: "bank-b", Bid: "7.181", Ask: "7.183", SourceTime: timestamppb.New(quoteTime.Add(-2 * time.Second))},
		}}
	if !proto.Equal(resp.GetQuote(), want) {
		t.Fatalf("quote\n\t%v\nwant\n\t%v", resp.GetQuote(), want)
	}
}

// TestCreateQuoteWalletAmount checks quotes that fix what the user pays
// (FIX_WALLET): only for a static code, in the wallet's currency, and
// never together with amount.
func TestCreateQuoteWalletAmount(t *testing.T) {
	t.Run("a static code quoted by the wallet amount", func(t *testing.T) {
		fx := newFakeFX()
		resp, err := quoteServer(fx).CreateQuote(partnerCtx(), &partnerv1.CreateQuoteRequest{Code: staticCode, WalletAmount: pbMoney("MNT", 100000)})
		if err != nil {
			t.Fatal(err)
		}
		want := []acquirer.QuoteRequest{{PartnerID: testPartner, WalletCurrency: "MNT", Merchant: money.Amount{Currency: "CNY"},
			Wallet: &money.Amount{Currency: "MNT", Minor: 100000}}}
		if got := fx.calls(); !reflect.DeepEqual(got, want) {
			t.Fatalf("FX asked %+v, want %+v", got, want)
		}
		q := resp.GetQuote()
		if !proto.Equal(q.GetWalletAmount(), pbMoney("MNT", 100000)) || !proto.Equal(q.GetMerchantAmount(), pbMoney("CNY", 205)) ||
			!proto.Equal(q.GetSettlementAmount(), pbMoney("USD", 29)) {
			t.Fatalf("quote %v: want 1,000.00 MNT paying 2.05 CNY, 0.29 USD owed", q)
		}
	})
	t.Run("a static code quoted by the merchant amount", func(t *testing.T) {
		fx := newFakeFX()
		if _, err := quoteServer(fx).CreateQuote(partnerCtx(), &partnerv1.CreateQuoteRequest{Code: staticCode, Amount: pbMoney("CNY", 10000)}); err != nil {
			t.Fatal(err)
		}
		want := []acquirer.QuoteRequest{{PartnerID: testPartner, WalletCurrency: "MNT", Merchant: money.Amount{Currency: "CNY", Minor: 10000}}}
		if got := fx.calls(); !reflect.DeepEqual(got, want) {
			t.Fatalf("FX asked %+v, want %+v", got, want)
		}
	})

	for _, tc := range []struct {
		name   string
		req    *partnerv1.CreateQuoteRequest
		reason rpcerr.Reason
		field  string
	}{
		{"both amounts", &partnerv1.CreateQuoteRequest{Code: staticCode, Amount: pbMoney("CNY", 10000), WalletAmount: pbMoney("MNT", 100000)},
			rpcerr.InvalidArgument, "wallet_amount"},
		{"a dynamic code", &partnerv1.CreateQuoteRequest{Code: dynamicCode, WalletAmount: pbMoney("MNT", 100000)},
			rpcerr.InvalidArgument, "wallet_amount"},
		{"another currency than the wallet's", &partnerv1.CreateQuoteRequest{Code: staticCode, WalletAmount: pbMoney("USD", 1000)},
			rpcerr.InvalidAmount, "wallet_amount.currency"},
		{"the merchant's currency", &partnerv1.CreateQuoteRequest{Code: staticCode, WalletAmount: pbMoney("CNY", 1000)},
			rpcerr.InvalidAmount, "wallet_amount.currency"},
		{"not a currency", &partnerv1.CreateQuoteRequest{Code: staticCode, WalletAmount: pbMoney("XYZ", 1000)},
			rpcerr.UnsupportedCurrency, "wallet_amount.currency"},
		{"zero", &partnerv1.CreateQuoteRequest{Code: staticCode, WalletAmount: pbMoney("MNT", 0)},
			rpcerr.InvalidAmount, "wallet_amount.minor_units"},
		{"negative", &partnerv1.CreateQuoteRequest{Code: staticCode, WalletAmount: pbMoney("MNT", -100)},
			rpcerr.InvalidAmount, "wallet_amount.minor_units"},
		{"neither amount for a static code", &partnerv1.CreateQuoteRequest{Code: staticCode},
			rpcerr.InvalidAmount, "amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFakeFX()
			_, err := quoteServer(fx).CreateQuote(partnerCtx(), tc.req)
			var e *rpcerr.Error
			if !errors.As(err, &e) || e.Reason != tc.reason || e.Field != tc.field {
				t.Fatalf("CreateQuote = %v, want %s on %s", err, tc.reason, tc.field)
			}
			if calls := fx.calls(); len(calls) != 0 {
				t.Fatalf("a refused request reached FX: %+v", calls)
			}
		})
	}
}
