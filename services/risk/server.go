package risk

import (
	"context"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Server is the gRPC face of the risk service.
type Server struct {
	riskv1.UnimplementedRiskServiceServer
	svc *Service
}

// NewServer returns a Server over svc.
func NewServer(svc *Service) *Server { return &Server{svc: svc} }

// Evaluate implements riskv1.RiskServiceServer.
func (s *Server) Evaluate(ctx context.Context, req *riskv1.EvaluateRequest) (*riskv1.EvaluateResponse, error) {
	for _, f := range []struct{ name, v string }{
		{"payment_id", req.GetPaymentId()}, {"partner_id", req.GetPartnerId()}, {"user_ref", req.GetUserRef()},
		{"merchant.merchant_id", req.GetMerchant().GetMerchantId()}, {"merchant.network_id", req.GetMerchant().GetNetworkId()},
	} {
		if f.v == "" {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, f.name, "is required")
		}
	}
	m, err := moneypb.FromProto(req.GetMerchantAmount(), "merchant_amount")
	if err != nil {
		return nil, err
	}
	d, err := s.svc.Evaluate(ctx, Payment{
		PaymentID: req.GetPaymentId(), PartnerID: req.GetPartnerId(), UserRef: req.GetUserRef(),
		NetworkID: req.GetMerchant().GetNetworkId(), MerchantID: req.GetMerchant().GetMerchantId(),
		MCC: req.GetMerchant().GetMcc(), MerchantAmount: m,
	})
	if err != nil {
		return nil, err
	}
	if d.Approve {
		return &riskv1.EvaluateResponse{Decision: riskv1.Decision_DECISION_APPROVE}, nil
	}
	return &riskv1.EvaluateResponse{Decision: riskv1.Decision_DECISION_DECLINE,
		Reason: string(d.Reason), RuleId: d.RuleID, Message: d.Message}, nil
}

// Release implements riskv1.RiskServiceServer.
func (s *Server) Release(ctx context.Context, req *riskv1.ReleaseRequest) (*riskv1.ReleaseResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	if err := s.svc.Release(ctx, req.GetPaymentId()); err != nil {
		return nil, err
	}
	return &riskv1.ReleaseResponse{}, nil
}
