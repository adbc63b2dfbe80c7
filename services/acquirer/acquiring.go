package acquirer

import (
	"context"

	"google.golang.org/grpc/metadata"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// NetworkHeader is the metadata key that names the calling merchant
// network on a trusted network (mTLS identities replace it).
const NetworkHeader = "unigate-network-id"

// AcquiringServer is the merchant-side gRPC API.
type AcquiringServer struct {
	acquiringv1.UnimplementedAcquiringServiceServer
	svc *Service
}

// NewAcquiringServer returns an AcquiringServer over svc.
func NewAcquiringServer(svc *Service) *AcquiringServer { return &AcquiringServer{svc: svc} }

func networkID(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(NetworkHeader); len(v) == 1 && v[0] != "" {
		return v[0], nil
	}
	return "", rpcerr.New(rpcerr.Unauthenticated, "the %s metadata key must name the merchant network", NetworkHeader)
}

// SubmitPayment implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) SubmitPayment(ctx context.Context, req *acquiringv1.SubmitPaymentRequest) (*acquiringv1.SubmitPaymentResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Submit(ctx, SubmitInput{NetworkID: nid, OrderID: req.GetOrderId(), MerchantID: req.GetMerchantId(), Code: req.GetCode()}, req.GetAmount())
	if err != nil {
		return nil, err
	}
	return &acquiringv1.SubmitPaymentResponse{Payment: PaymentToProto(p)}, nil
}

func (s *AcquiringServer) payment(ctx context.Context, nid, id, orderID string) (Payment, error) {
	switch {
	case id != "":
		return s.svc.GetForNetwork(ctx, nid, id)
	case orderID != "":
		return s.svc.GetByOrder(ctx, nid, orderID)
	}
	return Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "id", "payment_id or order_id is required")
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
	if p.Mode != CPM {
		return nil, rpcerr.New(rpcerr.CancelNotAllowed, "the partner cancels merchant-presented payments; refund it instead")
	}
	result, p, err := s.svc.Cancel(ctx, p)
	if err != nil {
		return nil, err
	}
	return &acquiringv1.CancelPaymentResponse{Result: result, Payment: PaymentToProto(p)}, nil
}

// RefundPayment implements acquiringv1.AcquiringServiceServer.
func (s *AcquiringServer) RefundPayment(ctx context.Context, req *acquiringv1.RefundPaymentRequest) (*acquiringv1.RefundPaymentResponse, error) {
	nid, err := networkID(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.svc.Refund(ctx, RefundInput{NetworkID: nid, RequestID: req.GetRefundRequestId(), PaymentID: req.GetPaymentId(), Reason: req.GetReason()}, req.GetAmount())
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
	if req.GetRefundId() == "" && req.GetRefundRequestId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "id", "refund_id or refund_request_id is required")
	}
	r, err := s.svc.GetRefund(ctx, nid, req.GetRefundId(), req.GetRefundRequestId())
	if err != nil {
		return nil, err
	}
	return &acquiringv1.GetRefundResponse{Refund: RefundToProto(r)}, nil
}
