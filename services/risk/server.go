package risk

import (
	"context"
	"regexp"
	"strings"
	"unicode"

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

// refPattern is what a partner's user or device reference may be.
var refPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

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
	if d := req.GetDeviceRef(); d != "" && !refPattern.MatchString(d) {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "device_ref", "want 1 to 64 of [A-Za-z0-9._:-]")
	}
	m, err := moneypb.FromProto(req.GetMerchantAmount(), "merchant_amount")
	if err != nil {
		return nil, err
	}
	mode := ModeMPM
	if req.GetMode() == riskv1.PaymentMode_PAYMENT_MODE_CPM {
		mode = ModeCPM
	}
	d, err := s.svc.Evaluate(ctx, Payment{
		PaymentID: req.GetPaymentId(), PartnerID: req.GetPartnerId(), UserRef: req.GetUserRef(), DeviceRef: req.GetDeviceRef(),
		Mode: mode, NetworkID: req.GetMerchant().GetNetworkId(), MerchantID: req.GetMerchant().GetMerchantId(),
		MCC: req.GetMerchant().GetMcc(), City: req.GetMerchant().GetCity(), MerchantAmount: m,
	})
	if err != nil {
		return nil, err
	}
	return decisionToProto(d), nil
}

// NameUser implements riskv1.RiskServiceServer.
func (s *Server) NameUser(ctx context.Context, req *riskv1.NameUserRequest) (*riskv1.NameUserResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	if u := req.GetUserRef(); u == "" || len(u) > 128 || strings.IndexFunc(u, unicode.IsControl) >= 0 {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "user_ref", "want 1 to 128 characters, none a control character")
	}
	d, err := s.svc.NameUser(ctx, req.GetPaymentId(), req.GetUserRef())
	if err != nil {
		return nil, err
	}
	e := decisionToProto(d)
	return &riskv1.NameUserResponse{Decision: e.Decision, Reason: e.Reason, RuleId: e.RuleId, Message: e.Message,
		ScoreBp: e.ScoreBp, Reasons: e.Reasons, RulesVersion: e.RulesVersion, ModelVersion: e.ModelVersion}, nil
}

// OutcomeToProto maps an outcome to the proto's decision.
func OutcomeToProto(outcome string) riskv1.Decision {
	switch outcome {
	case Approve:
		return riskv1.Decision_DECISION_APPROVE
	case Review:
		return riskv1.Decision_DECISION_REVIEW
	case Decline:
		return riskv1.Decision_DECISION_DECLINE
	}
	return riskv1.Decision_DECISION_UNSPECIFIED
}

// ReasonsToProto maps reasons to the proto's.
func ReasonsToProto(rs []Reason) []*riskv1.DecisionReason {
	out := make([]*riskv1.DecisionReason, len(rs))
	for i, r := range rs {
		out[i] = &riskv1.DecisionReason{RuleId: r.RuleID, Action: r.Action, Shadow: r.Shadow, Detail: r.Detail}
	}
	return out
}

func decisionToProto(d Decision) *riskv1.EvaluateResponse {
	return &riskv1.EvaluateResponse{Decision: OutcomeToProto(d.Outcome), Reason: string(d.Reason), RuleId: d.RuleID,
		Message: d.Message, ScoreBp: int32(d.ScoreBP), Reasons: ReasonsToProto(d.Reasons),
		RulesVersion: d.RulesVersion, ModelVersion: d.ModelVersion}
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
