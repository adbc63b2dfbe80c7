package grpcapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// Fakes of the acquirer's ports other than its store and ledger, for tests
// that drive the handlers over the real domain: one partner (hipay, an
// MNT wallet settling in USD) paying one merchant (a CNY merchant of
// unionpay) through a static code and a dynamic one.

const (
	testPartner = "hipay"
	testNetwork = "unionpay"
	staticCode  = "static-code"
	dynamicCode = "dynamic-code"
)

var testMerchant = acquirer.Merchant{ID: "m-1", NetworkID: testNetwork, Name: "Tea House", City: "Erenhot",
	MCC: "5812", Country: "CN", Currency: "CNY"}

func partnerCtx() context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(PartnerHeader, testPartner))
}

func networkCtx() context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(NetworkHeader, testNetwork))
}

type fakeRouter struct{}

func (fakeRouter) ResolveCode(_ context.Context, partnerID, code string) (acquirer.Resolution, error) {
	res := acquirer.Resolution{Kind: "CODE_KIND_EMV_MPM", Merchant: testMerchant, NetworkEndpoint: "unionpay.test:443",
		Partner: acquirer.Partner{ID: partnerID, Currency: "MNT", Endpoint: "hipay.test:443"}}
	switch code {
	case staticCode:
	case dynamicCode:
		res.Amount = &money.Amount{Currency: "CNY", Minor: 10000}
	default:
		return acquirer.Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "unknown code")
	}
	return res, nil
}

func (fakeRouter) WalletCodePartner(context.Context, string) (string, error) {
	return "", rpcerr.New(rpcerr.UnsupportedCode, "no wallet codes here")
}

func (fakeRouter) Partner(_ context.Context, id string) (acquirer.Partner, error) {
	return acquirer.Partner{ID: id, Currency: "MNT", Endpoint: "hipay.test:443"}, nil
}

func (fakeRouter) Merchant(context.Context, string, string) (acquirer.Merchant, string, error) {
	return testMerchant, "unionpay.test:443", nil
}

// fakeFX prices CNY in MNT at 487.5 (a markup of 150 bps over a mid of
// 480.3) and the partner's debt in USD at 0.141 per CNY, of which 0.139
// is Unigate's cost, with the rounding an FX service would use.
type fakeFX struct {
	mu       sync.Mutex
	requests []acquirer.QuoteRequest
	quotes   map[string]acquirer.Quote
	locks    map[string]string // quote → payment
}

func newFakeFX() *fakeFX {
	return &fakeFX{quotes: map[string]acquirer.Quote{}, locks: map[string]string{}}
}

var quoteTime = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func (f *fakeFX) CreateQuote(_ context.Context, req acquirer.QuoteRequest) (acquirer.Quote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	m := req.Merchant.Minor
	w := (m*4875 + 9) / 10 // rounded up: the user pays at least the price
	if req.Wallet != nil {
		w = req.Wallet.Minor
		m = w * 10 / 4875 // rounded down: the merchant gets no more than paid for
	}
	q := acquirer.Quote{
		ID: fmt.Sprintf("quote-%d", len(f.requests)), Merchant: money.Amount{Currency: "CNY", Minor: m},
		Wallet: money.Amount{Currency: "MNT", Minor: w}, Settlement: money.Amount{Currency: "USD", Minor: (m*141 + 999) / 1000},
		Cost: money.Amount{Currency: "USD", Minor: m * 139 / 1000}, Rate: "487.5", MidRate: "480.3", MarkupBps: 150,
		CreateTime: quoteTime, ExpireTime: quoteTime.Add(time.Minute),
		Legs: []acquirer.RateLeg{
			{Base: "USD", Quote: "MNT", Provider: "bank-a", Bid: "3449.1", Ask: "3451.3", SourceTime: quoteTime.Add(-time.Second)},
			{Base: "USD", Quote: "CNY", Provider: "bank-b", Bid: "7.181", Ask: "7.183", SourceTime: quoteTime.Add(-2 * time.Second)},
		},
	}
	f.quotes[q.ID] = q
	return q, nil
}

func (f *fakeFX) LockQuote(_ context.Context, quoteID, paymentID, _ string, merchant money.Amount) (acquirer.Quote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.quotes[quoteID]
	switch {
	case !ok:
		return acquirer.Quote{}, rpcerr.New(rpcerr.QuoteNotFound, "no quote %s", quoteID)
	case q.Merchant != merchant:
		return acquirer.Quote{}, rpcerr.New(rpcerr.QuoteMismatch, "quote %s is for %s", quoteID, q.Merchant)
	case f.locks[quoteID] != "" && f.locks[quoteID] != paymentID:
		return acquirer.Quote{}, rpcerr.New(rpcerr.QuoteAlreadyUsed, "quote %s is used", quoteID)
	}
	f.locks[quoteID] = paymentID
	return q, nil
}

func (f *fakeFX) calls() []acquirer.QuoteRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]acquirer.QuoteRequest(nil), f.requests...)
}

type approveAll struct{}

func (approveAll) Evaluate(context.Context, acquirer.Payment) (acquirer.Decision, error) {
	return acquirer.Decision{Verdict: acquirer.Approve}, nil
}

func (approveAll) NameUser(context.Context, string, string) (acquirer.Decision, error) {
	return acquirer.Decision{Verdict: acquirer.Approve}, nil
}

func (approveAll) Release(context.Context, string) error { return nil }

// succeeding networks and wallets answer S to everything; a wallet's
// authorization (answered or inquired) names succeedingUser.
type succeeding struct{}

const succeedingUser = "wu-succeeding"

func (succeeding) Credit(_ context.Context, _ string, p acquirer.Payment) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success, Reference: "net-" + p.ID[:8]}, nil
}

func (succeeding) InquireCredit(context.Context, string, string) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success}, nil
}

func (succeeding) ReverseCredit(context.Context, string, string) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success}, nil
}

func (succeeding) Authorize(context.Context, string, acquirer.Payment, string) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success, UserRef: succeedingUser}, nil
}

func (succeeding) InquireAuthorization(context.Context, string, string) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success, UserRef: succeedingUser}, nil
}

func (succeeding) CancelAuthorization(context.Context, string, string) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success}, nil
}

func (succeeding) RefundUser(_ context.Context, _ string, r acquirer.Refund) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success, Reference: "wallet-" + r.ID[:8]}, nil
}
