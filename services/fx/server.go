package fx

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Server is the gRPC face of the FX service.
type Server struct {
	fxv1.UnimplementedFxServiceServer
	svc *Service
}

// NewServer returns a Server over svc.
func NewServer(svc *Service) *Server { return &Server{svc: svc} }

// CreateQuote implements fxv1.FxServiceServer.
func (s *Server) CreateQuote(ctx context.Context, req *fxv1.CreateQuoteRequest) (*fxv1.CreateQuoteResponse, error) {
	if req.GetPartnerId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "partner_id", "is required")
	}
	if _, err := money.LookupCurrency(req.GetWalletCurrency()); err != nil {
		return nil, rpcerr.Field(rpcerr.UnsupportedCurrency, "wallet_currency", "%q is not an ISO 4217 currency code", req.GetWalletCurrency())
	}
	m, err := moneypb.FromProto(req.GetMerchantAmount(), "merchant_amount")
	if err != nil {
		return nil, err
	}
	q, err := s.svc.CreateQuote(ctx, req.GetPartnerId(), req.GetWalletCurrency(), m)
	if err != nil {
		return nil, err
	}
	return &fxv1.CreateQuoteResponse{Quote: QuoteToProto(q)}, nil
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
	for field, v := range map[string]string{"quote_id": req.GetQuoteId(), "payment_id": req.GetPaymentId(), "partner_id": req.GetPartnerId()} {
		if v == "" {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, field, "is required")
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

// ListRates implements fxv1.FxServiceServer.
func (s *Server) ListRates(ctx context.Context, _ *fxv1.ListRatesRequest) (*fxv1.ListRatesResponse, error) {
	resp := &fxv1.ListRatesResponse{}
	for _, r := range s.svc.Rates() {
		resp.Rates = append(resp.Rates, &fxv1.Rate{
			WalletCurrency: r.WalletCurrency, MerchantCurrency: r.MerchantCurrency,
			MidRate: r.Mid.String(), SpreadBps: int32(r.SpreadBps),
		})
	}
	return resp, nil
}

// QuoteToProto converts a quote for the wire.
func QuoteToProto(q Quote) *fxv1.Quote {
	state := fxv1.QuoteState_QUOTE_STATE_OPEN
	if q.State == QuoteLocked {
		state = fxv1.QuoteState_QUOTE_STATE_LOCKED
	}
	return &fxv1.Quote{
		QuoteId: q.ID, PartnerId: q.PartnerID, State: state,
		MerchantAmount: moneypb.ToProto(q.MerchantAmount),
		WalletAmount:   moneypb.ToProto(q.WalletAmount),
		CostAmount:     moneypb.ToProto(q.CostAmount),
		MidRate:        q.MidRate.String(), Rate: q.Rate.String(), SpreadBps: int32(q.SpreadBps),
		CreateTime: timestamppb.New(q.CreateTime), ExpireTime: timestamppb.New(q.ExpireTime),
		PaymentId: q.PaymentID,
	}
}
