package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// Conns are the connections the acquirer's clients use.
type Conns struct {
	Router, FX, Risk, Settlement grpc.ClientConnInterface
	// Networks and Wallets reach merchant networks and partners'
	// WalletPartnerService at the endpoints the routing table names, each
	// trusting only its kind's pinned CA.
	Networks, Wallets *grpcx.Pool
}

// Deps returns the domain's dependencies over gRPC, with store.
func Deps(store acquirer.Store, c Conns) acquirer.Deps {
	return acquirer.Deps{
		Store:      store,
		Router:     routerClient{routerv1.NewRouterServiceClient(c.Router)},
		FX:         fxClient{fxv1.NewFxServiceClient(c.FX)},
		Risk:       riskClient{riskv1.NewRiskServiceClient(c.Risk)},
		Ledger:     ledgerClient{settlementv1.NewSettlementServiceClient(c.Settlement)},
		Networks:   networks{c.Networks},
		Wallets:    wallets{c.Wallets},
		Statements: EncodeStatementEvent,
	}
}

func amountOf(m *commonv1.Money) money.Amount {
	return money.Amount{Currency: m.GetCurrency(), Minor: m.GetMinorUnits()}
}

// timeOf is a wire timestamp as a time: the zero time when it is unset.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func rateLegsOf(ls []*commonv1.RateLeg) []acquirer.RateLeg {
	if len(ls) == 0 {
		return nil
	}
	out := make([]acquirer.RateLeg, len(ls))
	for i, l := range ls {
		out[i] = acquirer.RateLeg{Base: l.GetBaseCurrency(), Quote: l.GetQuoteCurrency(), Provider: l.GetProvider(),
			Bid: l.GetBid(), Ask: l.GetAsk(), SourceTime: timeOf(l.GetSourceTime())}
	}
	return out
}

func rateLegsToProto(ls []acquirer.RateLeg) []*commonv1.RateLeg {
	if len(ls) == 0 {
		return nil
	}
	out := make([]*commonv1.RateLeg, len(ls))
	for i, l := range ls {
		out[i] = &commonv1.RateLeg{BaseCurrency: l.Base, QuoteCurrency: l.Quote, Provider: l.Provider,
			Bid: l.Bid, Ask: l.Ask, SourceTime: timestampOf(l.SourceTime)}
	}
	return out
}

func merchantOf(m *commonv1.Merchant) acquirer.Merchant {
	return acquirer.Merchant{ID: m.GetMerchantId(), NetworkID: m.GetNetworkId(), Name: m.GetName(), City: m.GetCity(),
		MCC: m.GetMcc(), Country: m.GetCountry(), Currency: m.GetCurrency()}
}

func merchantToProto(m acquirer.Merchant) *commonv1.Merchant {
	return &commonv1.Merchant{MerchantId: m.ID, NetworkId: m.NetworkID, Name: m.Name, City: m.City,
		Mcc: m.MCC, Country: m.Country, Currency: m.Currency}
}

func partnerOf(p *routerv1.Partner) acquirer.Partner {
	return acquirer.Partner{ID: p.GetPartnerId(), Currency: p.GetCurrency(), Endpoint: p.GetEndpoint(), Disabled: p.GetDisabled()}
}

// fromStatus turns another service's error back into a domain error.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	return rpcerr.FromStatus(err)
}

type routerClient struct{ c routerv1.RouterServiceClient }

func (r routerClient) ResolveCode(ctx context.Context, partnerID, code string) (acquirer.Resolution, error) {
	res, err := r.c.ResolveCode(ctx, &routerv1.ResolveCodeRequest{PartnerId: partnerID, Code: code})
	if err != nil {
		return acquirer.Resolution{}, fromStatus(err)
	}
	out := acquirer.Resolution{Kind: res.GetKind().String(), Merchant: merchantOf(res.GetMerchant()),
		NetworkEndpoint: res.GetNetwork().GetEndpoint(), Partner: partnerOf(res.GetPartner()), Warnings: res.GetWarnings()}
	if res.GetAmount() != nil {
		a := amountOf(res.GetAmount())
		out.Amount = &a
	}
	return out, nil
}

func (r routerClient) WalletCodePartner(ctx context.Context, code string) (string, error) {
	cls, err := r.c.ClassifyCode(ctx, &routerv1.ClassifyCodeRequest{Code: code})
	if err != nil {
		return "", fromStatus(err)
	}
	if cls.GetKind() != commonv1.CodeKind_CODE_KIND_WALLET_CODE || cls.GetPartnerId() == "" {
		return "", rpcerr.Field(rpcerr.UnsupportedCode, "code", "a %s is not a wallet's payment code", cls.GetKind())
	}
	return cls.GetPartnerId(), nil
}

func (r routerClient) Partner(ctx context.Context, id string) (acquirer.Partner, error) {
	p, err := r.c.GetPartner(ctx, &routerv1.GetPartnerRequest{PartnerId: id})
	if err != nil {
		return acquirer.Partner{}, fromStatus(err)
	}
	return partnerOf(p.GetPartner()), nil
}

func (r routerClient) Merchant(ctx context.Context, networkID, merchantID string) (acquirer.Merchant, string, error) {
	m, err := r.c.GetMerchant(ctx, &routerv1.GetMerchantRequest{NetworkId: networkID, MerchantId: merchantID})
	if err != nil {
		return acquirer.Merchant{}, "", fromStatus(err)
	}
	return merchantOf(m.GetMerchant()), m.GetNetwork().GetEndpoint(), nil
}

type fxClient struct{ c fxv1.FxServiceClient }

// quoteOf converts the FX service's quote. A quote without a settlement
// amount (from an FX service that predates settlement currencies) settles
// in the wallet's currency: the settlement amount is the wallet amount.
// The cost is in the settlement currency and never above the settlement
// amount; a quote that says otherwise is refused here, before any money
// moves, rather than by the ledger after.
func quoteOf(q *fxv1.Quote) (acquirer.Quote, error) {
	out := acquirer.Quote{ID: q.GetQuoteId(), Merchant: amountOf(q.GetMerchantAmount()), Wallet: amountOf(q.GetWalletAmount()),
		Settlement: amountOf(q.GetSettlementAmount()), Cost: amountOf(q.GetCostAmount()),
		Rate: q.GetRate(), MidRate: q.GetMidRate(), MarkupBps: int(q.GetSpreadBps()),
		CreateTime: timeOf(q.GetCreateTime()), ExpireTime: timeOf(q.GetExpireTime()), Legs: rateLegsOf(q.GetLegs())}
	if out.Settlement.Currency == "" {
		out.Settlement = out.Wallet
	}
	if out.Cost.Currency == "" {
		out.Cost.Currency = out.Settlement.Currency
	}
	if out.Cost.Currency != out.Settlement.Currency || out.Cost.Minor > out.Settlement.Minor || out.Cost.Minor < 0 {
		return acquirer.Quote{}, rpcerr.New(rpcerr.Internal, "fx: quote %s costs %s for a settlement amount of %s", out.ID, out.Cost, out.Settlement)
	}
	return out, nil
}

func (f fxClient) CreateQuote(ctx context.Context, r acquirer.QuoteRequest) (acquirer.Quote, error) {
	req := &fxv1.CreateQuoteRequest{PartnerId: r.PartnerID, WalletCurrency: r.WalletCurrency,
		MerchantAmount: moneypb.ToProto(r.Merchant), Direction: fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_MERCHANT}
	if r.Wallet != nil {
		req.WalletAmount, req.Direction = moneypb.ToProto(*r.Wallet), fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_WALLET
	}
	q, err := f.c.CreateQuote(ctx, req)
	if err != nil {
		return acquirer.Quote{}, fromStatus(err)
	}
	return quoteOf(q.GetQuote())
}

func (f fxClient) LockQuote(ctx context.Context, quoteID, paymentID, partnerID string, m money.Amount) (acquirer.Quote, error) {
	q, err := f.c.LockQuote(ctx, &fxv1.LockQuoteRequest{QuoteId: quoteID, PaymentId: paymentID, PartnerId: partnerID,
		MerchantAmount: moneypb.ToProto(m)})
	if err != nil {
		return acquirer.Quote{}, fromStatus(err)
	}
	return quoteOf(q.GetQuote())
}

type riskClient struct{ c riskv1.RiskServiceClient }

func (r riskClient) Evaluate(ctx context.Context, p acquirer.Payment) (acquirer.Decision, error) {
	mode := riskv1.PaymentMode_PAYMENT_MODE_MPM
	if p.Mode == acquirer.CPM {
		mode = riskv1.PaymentMode_PAYMENT_MODE_CPM
	}
	dec, err := r.c.Evaluate(ctx, &riskv1.EvaluateRequest{PaymentId: p.ID, PartnerId: p.PartnerID, UserRef: p.UserRef,
		Merchant: merchantToProto(p.Merchant), MerchantAmount: moneypb.ToProto(p.MerchantAmount),
		WalletAmount: moneypb.ToProto(p.WalletAmount), DeviceRef: p.DeviceRef, Mode: mode})
	if err != nil {
		return acquirer.Decision{}, fromStatus(err)
	}
	return decisionOf(dec)
}

// NameUser implements acquirer.Risk. A risk service that does not know
// the method (UNIMPLEMENTED: deployed before it) is reported as
// acquirer.ErrNameUserUnsupported.
func (r riskClient) NameUser(ctx context.Context, paymentID, userRef string) (acquirer.Decision, error) {
	dec, err := r.c.NameUser(ctx, &riskv1.NameUserRequest{PaymentId: paymentID, UserRef: userRef})
	if status.Code(err) == codes.Unimplemented {
		return acquirer.Decision{}, acquirer.ErrNameUserUnsupported
	}
	if err != nil {
		return acquirer.Decision{}, fromStatus(err)
	}
	return decisionOf(dec)
}

// decisionOf reads a risk decision. A decision the acquirer does not know
// (unset, or newer than it) is an error, not a decline or an approval:
// the caller treats it like an unreachable risk service.
// riskDecision is what EvaluateResponse and NameUserResponse share.
type riskDecision interface {
	GetDecision() riskv1.Decision
	GetReason() string
	GetRuleId() string
	GetMessage() string
	GetScoreBp() int32
}

func decisionOf(dec riskDecision) (acquirer.Decision, error) {
	out := acquirer.Decision{Reason: rpcerr.Reason(dec.GetReason()), RuleID: dec.GetRuleId(), Message: dec.GetMessage(),
		ScoreBP: int(dec.GetScoreBp())}
	switch dec.GetDecision() {
	case riskv1.Decision_DECISION_APPROVE:
		out.Verdict = acquirer.Approve
	case riskv1.Decision_DECISION_REVIEW:
		out.Verdict = acquirer.Review
	case riskv1.Decision_DECISION_DECLINE:
		out.Verdict = acquirer.Decline
	default:
		return acquirer.Decision{}, rpcerr.New(rpcerr.Internal, "risk answered an unknown decision %s", dec.GetDecision())
	}
	return out, nil
}

func (r riskClient) Release(ctx context.Context, paymentID string) error {
	_, err := r.c.Release(ctx, &riskv1.ReleaseRequest{PaymentId: paymentID})
	return fromStatus(err)
}

type ledgerClient struct {
	c settlementv1.SettlementServiceClient
}

func (l ledgerClient) Post(ctx context.Context, ps []acquirer.LedgerPosting) error {
	req := &settlementv1.PostPaymentsRequest{Payments: make([]*settlementv1.PostPaymentRequest, len(ps))}
	for i, p := range ps {
		req.Payments[i] = &settlementv1.PostPaymentRequest{PaymentId: p.PaymentID, PartnerId: p.PartnerID,
			NetworkId: p.NetworkID, MerchantId: p.MerchantID, WalletAmount: moneypb.ToProto(p.Wallet),
			SettlementAmount: moneypb.ToProto(p.Settlement), CostAmount: moneypb.ToProto(p.Cost),
			MerchantAmount: moneypb.ToProto(p.Merchant), ReversalId: p.ReversalID}
	}
	_, err := l.c.PostPayments(ctx, req)
	return fromStatus(err)
}

func (l ledgerClient) HoldForCancel(ctx context.Context, paymentID string) (bool, string, error) {
	resp, err := l.c.HoldForCancel(ctx, &settlementv1.HoldForCancelRequest{PaymentId: paymentID})
	if err != nil {
		return false, "", fromStatus(err)
	}
	return resp.GetHeld(), resp.GetCycleId(), nil
}

func (l ledgerClient) Statements(ctx context.Context, after int64, limit int) ([]acquirer.Statement, error) {
	resp, err := l.c.ListStatements(ctx, &settlementv1.ListStatementsRequest{AfterSequence: after, Limit: int32(limit)})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := make([]acquirer.Statement, len(resp.GetStatements()))
	for i, st := range resp.GetStatements() {
		out[i] = acquirer.Statement{ID: st.GetStatementId(), CycleID: st.GetCycleId(), PartnerID: st.GetPartnerId(),
			Sequence: st.GetSequence(), Cutoff: st.GetCutoff().AsTime(), Net: amountOf(st.GetNetReceivable()), Postings: st.GetPostings()}
	}
	return out, nil
}

// EncodeStatementEvent renders a STATEMENT_READY event's body: the
// partnerv1.Event without its sequence.
func EncodeStatementEvent(id string, st acquirer.Statement, at time.Time) ([]byte, error) {
	return proto.Marshal(&partnerv1.Event{EventId: id, Type: partnerv1.EventType_EVENT_TYPE_STATEMENT_READY,
		CreateTime: timestamppb.New(at), Statement: &partnerv1.Statement{StatementId: st.ID, CycleId: st.CycleID,
			Cutoff: timestamppb.New(st.Cutoff), NetAmount: moneypb.ToProto(st.Net), Postings: st.Postings}})
}

func resultOf(r commonv1.Result) acquirer.Result {
	switch r {
	case commonv1.Result_RESULT_SUCCESS:
		return acquirer.Success
	case commonv1.Result_RESULT_FAILURE:
		return acquirer.Failure
	}
	return acquirer.Unknown
}

// notReceived turns an inquiry's NOT_FOUND into its meaning: the
// downstream never received the request.
func notReceived(err error) (acquirer.Outcome, error, bool) {
	if status.Code(err) == codes.NotFound {
		return acquirer.Outcome{Result: acquirer.Unknown, NotReceived: true}, nil, true
	}
	return acquirer.Outcome{}, err, false
}

type networks struct{ pool *grpcx.Pool }

func (n networks) client(endpoint string) (merchantv1.MerchantNetworkServiceClient, error) {
	conn, err := n.pool.Get(endpoint)
	if err != nil {
		return nil, err
	}
	return merchantv1.NewMerchantNetworkServiceClient(conn), nil
}

func (n networks) Credit(ctx context.Context, endpoint string, p acquirer.Payment) (acquirer.Outcome, error) {
	c, err := n.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.Credit(ctx, &merchantv1.CreditRequest{CreditId: p.ID, MerchantId: p.Merchant.ID, Amount: moneypb.ToProto(p.MerchantAmount)})
	if err != nil {
		return acquirer.Outcome{}, err
	}
	return acquirer.Outcome{Result: resultOf(resp.GetResult()), Reference: resp.GetNetworkReference(),
		FailureReason: resp.GetFailureReason(), FailureMessage: resp.GetFailureMessage()}, nil
}

func (n networks) InquireCredit(ctx context.Context, endpoint, creditID string) (acquirer.Outcome, error) {
	c, err := n.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.InquireCredit(ctx, &merchantv1.InquireCreditRequest{CreditId: creditID})
	if out, err, done := notReceived(err); done || err != nil {
		return out, err
	}
	return acquirer.Outcome{Result: resultOf(resp.GetResult()), Reference: resp.GetNetworkReference(),
		FailureReason: resp.GetFailureReason(), FailureMessage: resp.GetFailureMessage()}, nil
}

func (n networks) ReverseCredit(ctx context.Context, endpoint, creditID string) (acquirer.Outcome, error) {
	c, err := n.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.ReverseCredit(ctx, &merchantv1.ReverseCreditRequest{CreditId: creditID})
	if err != nil {
		return acquirer.Outcome{}, err
	}
	return acquirer.Outcome{Result: resultOf(resp.GetResult())}, nil
}

type wallets struct{ pool *grpcx.Pool }

func (w wallets) client(endpoint string) (partnerv1.WalletPartnerServiceClient, error) {
	conn, err := w.pool.Get(endpoint)
	if err != nil {
		return nil, err
	}
	return partnerv1.NewWalletPartnerServiceClient(conn), nil
}

func (w wallets) Authorize(ctx context.Context, endpoint string, p acquirer.Payment, code string) (acquirer.Outcome, error) {
	c, err := w.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.Authorize(ctx, &partnerv1.AuthorizeRequest{PaymentId: p.ID, Code: code,
		WalletAmount: moneypb.ToProto(p.WalletAmount), MerchantAmount: moneypb.ToProto(p.MerchantAmount),
		Rate: p.Rate, Merchant: merchantToProto(p.Merchant)})
	if err != nil {
		return acquirer.Outcome{}, err
	}
	return acquirer.Outcome{Result: resultOf(resp.GetResult()), Reference: resp.GetPartnerReference(), UserRef: resp.GetUserRef(),
		FailureReason: resp.GetFailureReason(), FailureMessage: resp.GetFailureMessage()}, nil
}

func (w wallets) InquireAuthorization(ctx context.Context, endpoint, paymentID string) (acquirer.Outcome, error) {
	c, err := w.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.InquireAuthorization(ctx, &partnerv1.InquireAuthorizationRequest{PaymentId: paymentID})
	if out, err, done := notReceived(err); done || err != nil {
		return out, err
	}
	// user_ref names the user of a successful authorization, as Authorize
	// would have: the domain names them to risk as it does after Authorize.
	return acquirer.Outcome{Result: resultOf(resp.GetResult()), Reference: resp.GetPartnerReference(), UserRef: resp.GetUserRef(),
		FailureReason: resp.GetFailureReason(), FailureMessage: resp.GetFailureMessage()}, nil
}

func (w wallets) CancelAuthorization(ctx context.Context, endpoint, paymentID string) (acquirer.Outcome, error) {
	c, err := w.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.CancelAuthorization(ctx, &partnerv1.CancelAuthorizationRequest{PaymentId: paymentID})
	if err != nil {
		return acquirer.Outcome{}, err
	}
	return acquirer.Outcome{Result: resultOf(resp.GetResult())}, nil
}

func (w wallets) RefundUser(ctx context.Context, endpoint string, r acquirer.Refund) (acquirer.Outcome, error) {
	c, err := w.client(endpoint)
	if err != nil {
		return acquirer.Outcome{}, err
	}
	resp, err := c.RefundUser(ctx, &partnerv1.RefundUserRequest{RefundId: r.ID, PaymentId: r.PaymentID,
		WalletAmount: moneypb.ToProto(r.WalletAmount)})
	if err != nil {
		return acquirer.Outcome{}, err
	}
	return acquirer.Outcome{Result: resultOf(resp.GetResult()), Reference: resp.GetPartnerReference(),
		FailureReason: resp.GetFailureReason()}, nil
}
