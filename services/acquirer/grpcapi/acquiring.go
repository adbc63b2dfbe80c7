package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// NetworkHeader is the metadata key that names the calling merchant
// network on a trusted network (mTLS identities replace it).
const NetworkHeader = "unigate-network-id"

func timestampOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// AcquiringServer is the merchant-side gRPC API.
type AcquiringServer struct {
	acquiringv1.UnimplementedAcquiringServiceServer
	svc *acquirer.Service
}

// NewAcquiringServer returns an AcquiringServer over svc.
func NewAcquiringServer(svc *acquirer.Service) *AcquiringServer { return &AcquiringServer{svc: svc} }

func networkID(ctx context.Context) (string, error) {
	return caller(ctx, NetworkHeader, authn.Network)
}

// SubmitPayment implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) SubmitPayment(ctx context.Context, req *acquiringv1.SubmitPaymentRequest) (*acquiringv1.SubmitPaymentResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	a, err := requiredAmount(req.GetAmount(), "amount")
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Submit(ctx, acquirer.SubmitInput{NetworkID: nid, OrderID: req.GetOrderId(), MerchantID: req.GetMerchantId(),
		Code: req.GetCode(), Amount: a})
	if err != nil {
		return nil, err
	}
	return &acquiringv1.SubmitPaymentResponse{Payment: PaymentToProto(p)}, nil
}

func (s *AcquiringServer) payment(ctx context.Context, nid, id, orderID string) (acquirer.Payment, error) {
	switch {
	case id != "":
		if err := acquirer.CheckText("payment_id", id, 64, true); err != nil {
			return acquirer.Payment{}, err
		}
		return s.svc.GetForNetwork(ctx, nid, id)
	case orderID != "":
		if err := acquirer.ValidateKey("order_id", orderID); err != nil {
			return acquirer.Payment{}, err
		}
		return s.svc.GetByOrder(ctx, nid, orderID)
	}
	return acquirer.Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "id", "payment_id or order_id is required")
}

// GetPayment implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) GetPayment(ctx context.Context, req *acquiringv1.GetPaymentRequest) (*acquiringv1.GetPaymentResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.payment(ctx, nid, req.GetPaymentId(), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &acquiringv1.GetPaymentResponse{Payment: PaymentToProto(p)}, nil
}

// CancelPayment implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) CancelPayment(ctx context.Context, req *acquiringv1.CancelPaymentRequest) (*acquiringv1.CancelPaymentResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.payment(ctx, nid, req.GetPaymentId(), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	if p.Mode != acquirer.CPM {
		return nil, rpcerr.New(rpcerr.CancelNotAllowed, "the partner cancels merchant-presented payments; refund it instead")
	}
	result, p, err := s.svc.Cancel(ctx, p)
	if err != nil {
		return nil, err
	}
	return &acquiringv1.CancelPaymentResponse{Result: resultToProto(result), Payment: PaymentToProto(p)}, nil
}

// RefundPayment implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) RefundPayment(ctx context.Context, req *acquiringv1.RefundPaymentRequest) (*acquiringv1.RefundPaymentResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	a, err := requiredAmount(req.GetAmount(), "amount")
	if err != nil {
		return nil, err
	}
	r, err := s.svc.Refund(ctx, acquirer.RefundInput{NetworkID: nid, RequestID: req.GetRefundRequestId(), PaymentID: req.GetPaymentId(),
		Reason: req.GetReason(), Amount: a})
	if err != nil {
		return nil, err
	}
	return &acquiringv1.RefundPaymentResponse{Refund: RefundToProto(r)}, nil
}

// GetRefund implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) GetRefund(ctx context.Context, req *acquiringv1.GetRefundRequest) (*acquiringv1.GetRefundResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case req.GetRefundId() == "" && req.GetRefundRequestId() == "":
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "id", "refund_id or refund_request_id is required")
	case req.GetRefundId() != "":
		if err := acquirer.CheckText("refund_id", req.GetRefundId(), 64, true); err != nil {
			return nil, err
		}
	default:
		if err := acquirer.ValidateKey("refund_request_id", req.GetRefundRequestId()); err != nil {
			return nil, err
		}
	}
	r, err := s.svc.GetRefund(ctx, nid, req.GetRefundId(), req.GetRefundRequestId())
	if err != nil {
		return nil, err
	}
	return &acquiringv1.GetRefundResponse{Refund: RefundToProto(r)}, nil
}
