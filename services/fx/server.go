package fx

import (
	"context"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Server is the gRPC face of the FX service.
type Server struct {
	fxv1.UnimplementedFxServiceServer
	svc     *Service
	store   *SQLStore
	watcher *Watcher
	leader  func(ctx context.Context) string
}

// NewServer returns a Server over svc; store answers RateHistory, watcher
// (optional) gives the rejection counts and leader (optional) names the
// ingesting replica.
func NewServer(svc *Service, store *SQLStore, watcher *Watcher, leader func(ctx context.Context) string) *Server {
	return &Server{svc: svc, store: store, watcher: watcher, leader: leader}
}

// CreateQuote implements fxv1.FxServiceServer.
func (s *Server) CreateQuote(ctx context.Context, req *fxv1.CreateQuoteRequest) (*fxv1.CreateQuoteResponse, error) {
	qr, err := quoteRequest(req)
	if err != nil {
		return nil, err
	}
	q, err := s.svc.CreateQuote(ctx, qr)
	if err != nil {
		return nil, err
	}
	return &fxv1.CreateQuoteResponse{Quote: QuoteToProto(q)}, nil
}

// PreviewQuote implements fxv1.FxServiceServer: CreateQuote's price,
// stored nowhere.
func (s *Server) PreviewQuote(ctx context.Context, req *fxv1.PreviewQuoteRequest) (*fxv1.PreviewQuoteResponse, error) {
	qr, err := quoteRequest(req.GetRequest())
	if err != nil {
		return nil, err
	}
	q, err := s.svc.Price(qr)
	if err != nil {
		return nil, err
	}
	q.PartnerID = qr.PartnerID
	q.CreateTime = time.Now().UTC()
	q.ExpireTime = q.CreateTime
	return &fxv1.PreviewQuoteResponse{Quote: QuoteToProto(q)}, nil
}

// quoteRequest checks a quote request's fields.
func quoteRequest(req *fxv1.CreateQuoteRequest) (QuoteRequest, error) {
	if req.GetPartnerId() == "" {
		return QuoteRequest{}, rpcerr.Field(rpcerr.InvalidArgument, "partner_id", "is required")
	}
	if _, err := money.LookupCurrency(req.GetWalletCurrency()); err != nil && req.GetWalletCurrency() != "" {
		return QuoteRequest{}, rpcerr.Field(rpcerr.UnsupportedCurrency, "wallet_currency", "%q is not an ISO 4217 currency code", req.GetWalletCurrency())
	}
	qr := QuoteRequest{PartnerID: req.GetPartnerId(), WalletCurrency: req.GetWalletCurrency()}
	switch req.GetDirection() {
	case fxv1.QuoteDirection_QUOTE_DIRECTION_UNSPECIFIED, fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_MERCHANT:
		m, err := moneypb.FromProto(req.GetMerchantAmount(), "merchant_amount")
		if err != nil {
			return QuoteRequest{}, err
		}
		qr.Direction, qr.Merchant = FixMerchant, m
	case fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_WALLET:
		cur := req.GetMerchantAmount().GetCurrency()
		if _, err := money.LookupCurrency(cur); err != nil {
			return QuoteRequest{}, rpcerr.Field(rpcerr.UnsupportedCurrency, "merchant_amount.currency", "%q is not an ISO 4217 currency code", cur)
		}
		if req.GetMerchantAmount().GetMinorUnits() != 0 {
			return QuoteRequest{}, rpcerr.Field(rpcerr.InvalidArgument, "merchant_amount.minor_units", "must be 0 for FIX_WALLET: the merchant amount is computed")
		}
		w, err := moneypb.FromProto(req.GetWalletAmount(), "wallet_amount")
		if err != nil {
			return QuoteRequest{}, err
		}
		qr.Direction, qr.Merchant, qr.Wallet = FixWallet, money.Amount{Currency: cur}, w
	default:
		return QuoteRequest{}, rpcerr.Field(rpcerr.InvalidArgument, "direction", "unknown direction %d", req.GetDirection())
	}
	return qr, nil
}

// GetQuote implements fxv1.FxServiceServer.
func (s *Server) GetQuote(ctx context.Context, req *fxv1.GetQuoteRequest) (*fxv1.GetQuoteResponse, error) {
	if req.GetQuoteId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "quote_id", "is required")
	}
	q, err := s.svc.GetQuote(ctx, req.GetQuoteId())
	if err != nil {
		return nil, err
	}
	return &fxv1.GetQuoteResponse{Quote: QuoteToProto(q)}, nil
}

// LockQuote implements fxv1.FxServiceServer.
func (s *Server) LockQuote(ctx context.Context, req *fxv1.LockQuoteRequest) (*fxv1.LockQuoteResponse, error) {
	for _, f := range []struct{ name, v string }{{"quote_id", req.GetQuoteId()}, {"payment_id", req.GetPaymentId()}, {"partner_id", req.GetPartnerId()}} {
		if f.v == "" {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, f.name, "is required")
		}
	}
	m, err := moneypb.FromProto(req.GetMerchantAmount(), "merchant_amount")
	if err != nil {
		return nil, err
	}
	q, err := s.svc.LockQuote(ctx, req.GetQuoteId(), req.GetPaymentId(), req.GetPartnerId(), m)
	if err != nil {
		return nil, err
	}
	return &fxv1.LockQuoteResponse{Quote: QuoteToProto(q)}, nil
}

var verdicts = map[Verdict]fxv1.RateVerdict{
	Chosen: fxv1.RateVerdict_RATE_VERDICT_CHOSEN, Usable: fxv1.RateVerdict_RATE_VERDICT_USABLE,
	Stale: fxv1.RateVerdict_RATE_VERDICT_STALE, Crossed: fxv1.RateVerdict_RATE_VERDICT_CROSSED,
	Outlier: fxv1.RateVerdict_RATE_VERDICT_OUTLIER,
}

// ListRates implements fxv1.FxServiceServer: the rates as this replica
// holds them in memory.
func (s *Server) ListRates(ctx context.Context, req *fxv1.ListRatesRequest) (*fxv1.ListRatesResponse, error) {
	pairs := s.svc.Book().Pairs()
	if req.GetPair() != "" {
		p, err := ParsePair(req.GetPair())
		if err != nil {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, "pair", "%v", err)
		}
		pairs = []Pair{p}
	}
	cfg := s.svc.Book().Config()
	resp := &fxv1.ListRatesResponse{StalenessMs: cfg.Staleness.Milliseconds(), OutlierBandBps: int32(cfg.OutlierBandBps)}
	now := time.Now()
	for _, p := range pairs {
		pr := &fxv1.PairRates{Pair: p.String()}
		var chosen []string
		for _, j := range s.svc.Book().Judge(p, now) {
			pr.Rates = append(pr.Rates, &fxv1.ProviderRate{
				Provider: j.Provider, BaseCurrency: j.Base, QuoteCurrency: j.Quote, Bid: j.Bid.String(), Ask: j.Ask.String(),
				SourceTime: timestamppb.New(j.SourceTime), ReceiveTime: timestamppb.New(j.ReceiveTime),
				AgeMs: j.Age.Milliseconds(), Verdict: verdicts[j.Verdict],
			})
			if j.Verdict == Chosen {
				chosen = append(chosen, j.Provider)
				if pr.Mid == "" {
					pr.Mid = j.Mid.String()
				}
			}
		}
		switch len(chosen) {
		case 1:
			pr.Chosen = chosen[0]
		case 2:
			// The best bid and the best ask come from different providers.
			pr.Chosen = chosen[0] + "," + chosen[1]
		}
		resp.Pairs = append(resp.Pairs, pr)
	}
	if s.watcher != nil {
		st := s.watcher.Stats()
		providers := make([]string, 0, len(st.Rejected))
		for p := range st.Rejected {
			providers = append(providers, p)
		}
		sort.Strings(providers)
		for _, p := range providers {
			resp.Rejections = append(resp.Rejections, &fxv1.Rejections{Provider: p, Counts: st.Rejected[p]})
		}
		resp.IngestionLeader = st.Leader
	}
	if s.leader != nil {
		if l := s.leader(ctx); l != "" {
			resp.IngestionLeader = l
		}
	}
	return resp, nil
}

// RateHistory implements fxv1.FxServiceServer.
func (s *Server) RateHistory(ctx context.Context, req *fxv1.RateHistoryRequest) (*fxv1.RateHistoryResponse, error) {
	p, err := ParsePair(req.GetPair())
	if err != nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "pair", "%v", err)
	}
	limit := int(req.GetLimit())
	switch {
	case limit < 0 || limit > 10000:
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "limit", "must be 0..10000")
	case limit == 0:
		limit = 1000
	}
	var since time.Time
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, "since", "%v", err)
		}
		since = req.GetSince().AsTime()
	}
	hs, err := s.store.History(ctx, p, since, limit)
	if err != nil {
		return nil, err
	}
	resp := &fxv1.RateHistoryResponse{}
	for _, h := range hs {
		resp.Rates = append(resp.Rates, &fxv1.HistoricRate{Rejected: h.Rejected, Rate: &fxv1.ProviderRate{
			Provider: h.Provider, BaseCurrency: h.Base, QuoteCurrency: h.Quote, Bid: h.Bid.String(), Ask: h.Ask.String(),
			SourceTime: timestamppb.New(h.SourceTime), ReceiveTime: timestamppb.New(h.ReceiveTime),
			AgeMs: h.ReceiveTime.Sub(h.SourceTime).Milliseconds(),
		}})
	}
	return resp, nil
}

// LegsToProto converts rate legs for the wire.
func LegsToProto(ls []Leg) []*commonv1.RateLeg {
	out := make([]*commonv1.RateLeg, len(ls))
	for i, l := range ls {
		out[i] = &commonv1.RateLeg{BaseCurrency: l.Pair.Base, QuoteCurrency: l.Pair.Quote, Provider: l.Provider,
			Bid: l.Bid.String(), Ask: l.Ask.String(), SourceTime: timestamppb.New(l.Source)}
	}
	return out
}

// QuoteToProto converts a quote for the wire.
func QuoteToProto(q Quote) *fxv1.Quote {
	state := fxv1.QuoteState_QUOTE_STATE_OPEN
	if q.State == QuoteLocked {
		state = fxv1.QuoteState_QUOTE_STATE_LOCKED
	}
	dir := fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_MERCHANT
	if q.Direction == FixWallet {
		dir = fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_WALLET
	}
	out := &fxv1.Quote{
		QuoteId: q.ID, PartnerId: q.PartnerID, State: state, Direction: dir,
		MerchantAmount:   moneypb.ToProto(q.MerchantAmount),
		WalletAmount:     moneypb.ToProto(q.WalletAmount),
		SettlementAmount: moneypb.ToProto(q.SettlementAmount),
		CostAmount:       moneypb.ToProto(q.CostAmount),
		MidRate:          q.MidRate.String(), Rate: q.Rate.String(), SpreadBps: int32(q.SpreadBps),
		CreateTime: timestamppb.New(q.CreateTime), ExpireTime: timestamppb.New(q.ExpireTime),
		PaymentId: q.PaymentID, Legs: LegsToProto(q.Legs), SettlementLegs: LegsToProto(q.SettlementLegs),
	}
	if !q.CostRate.IsZero() {
		out.CostRate = q.CostRate.String()
	}
	return out
}
