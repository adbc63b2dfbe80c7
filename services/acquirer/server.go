package acquirer

import (
	"context"
	"fmt"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// PartnerHeader is the metadata key that names the calling partner on a
// trusted network. (mTLS identities replace it for partners on the
// internet.)
const PartnerHeader = "unigate-partner-id"

// Server is the partner-facing gRPC API.
type Server struct {
	partnerv1.UnimplementedPartnerServiceServer
	svc *Service
}

// NewServer returns a Server over svc.
func NewServer(svc *Service) *Server { return &Server{svc: svc} }

func partnerID(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(PartnerHeader); len(v) == 1 && v[0] != "" {
		return v[0], nil
	}
	return "", rpcerr.New(rpcerr.Unauthenticated, "the %s metadata key must name the partner", PartnerHeader)
}

// DecodeCode implements partnerv1.PartnerServiceServer.
func (s *Server) DecodeCode(ctx context.Context, req *partnerv1.DecodeCodeRequest) (*partnerv1.DecodeCodeResponse, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCode() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidCode, "code", "is required")
	}
	res, err := s.svc.Decode(ctx, pid, req.GetCode())
	if err != nil {
		return nil, err
	}
	return &partnerv1.DecodeCodeResponse{Kind: res.GetKind(), Merchant: res.GetMerchant(), Amount: res.GetAmount(),
		WalletCurrency: res.GetPartner().GetCurrency(), Warnings: res.GetWarnings()}, nil
}

// CreateQuote implements partnerv1.PartnerServiceServer.
func (s *Server) CreateQuote(ctx context.Context, req *partnerv1.CreateQuoteRequest) (*partnerv1.CreateQuoteResponse, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCode() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidCode, "code", "is required")
	}
	q, err := s.svc.CreateQuote(ctx, pid, req.GetCode(), req.GetAmount())
	if err != nil {
		return nil, err
	}
	return &partnerv1.CreateQuoteResponse{Quote: &partnerv1.Quote{
		QuoteId: q.GetQuoteId(), MerchantAmount: q.GetMerchantAmount(), WalletAmount: q.GetWalletAmount(),
		Rate: q.GetRate(), ExpireTime: q.GetExpireTime(),
	}}, nil
}

// Pay implements partnerv1.PartnerServiceServer.
func (s *Server) Pay(ctx context.Context, req *partnerv1.PayRequest) (*partnerv1.PayResponse, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Pay(ctx, PayInput{PartnerID: pid, PartnerPaymentID: req.GetPartnerPaymentId(), Code: req.GetCode(),
		QuoteID: req.GetQuoteId(), UserRef: req.GetUserRef()}, req.GetAmount())
	if err != nil {
		return nil, err
	}
	return &partnerv1.PayResponse{Payment: PaymentToProto(p)}, nil
}

// payment returns the calling partner's payment by id or by key.
func (s *Server) payment(ctx context.Context, id, key string) (Payment, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return Payment{}, err
	}
	if id == "" && key == "" {
		return Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "id", "payment_id or partner_payment_id is required")
	}
	return s.svc.Get(ctx, pid, id, key)
}

// GetPayment implements partnerv1.PartnerServiceServer.
func (s *Server) GetPayment(ctx context.Context, req *partnerv1.GetPaymentRequest) (*partnerv1.GetPaymentResponse, error) {
	p, err := s.payment(ctx, req.GetPaymentId(), req.GetPartnerPaymentId())
	if err != nil {
		return nil, err
	}
	return &partnerv1.GetPaymentResponse{Payment: PaymentToProto(p)}, nil
}

// CancelPayment implements partnerv1.PartnerServiceServer.
func (s *Server) CancelPayment(ctx context.Context, req *partnerv1.CancelPaymentRequest) (*partnerv1.CancelPaymentResponse, error) {
	p, err := s.payment(ctx, req.GetPaymentId(), req.GetPartnerPaymentId())
	if err != nil {
		return nil, err
	}
	if p.Mode != MPM {
		return nil, fmt.Errorf("%w: the merchant's network cancels consumer-presented payments", ErrCancelNotAllowed)
	}
	result, p, err := s.svc.Cancel(ctx, p)
	if err != nil {
		return nil, err
	}
	return &partnerv1.CancelPaymentResponse{Result: result, Payment: PaymentToProto(p)}, nil
}

// StreamEvents implements partnerv1.PartnerServiceServer.
func (s *Server) StreamEvents(req *partnerv1.StreamEventsRequest, stream partnerv1.PartnerService_StreamEventsServer) error {
	pid, err := partnerID(stream.Context())
	if err != nil {
		return err
	}
	if req.GetAfterSequence() < 0 {
		return rpcerr.Field(rpcerr.InvalidArgument, "after_sequence", "must not be negative")
	}
	return s.svc.StreamEvents(stream.Context(), pid, req.GetAfterSequence(), func(e *partnerv1.Event) error {
		return stream.Send(&partnerv1.StreamEventsResponse{Event: e})
	})
}

// PaymentToProto converts a payment for the wire. It depends only on the
// stored row, so the same payment always serializes the same way.
func PaymentToProto(p Payment) *partnerv1.Payment {
	out := &partnerv1.Payment{
		PaymentId: p.ID, PartnerId: p.PartnerID, PartnerPaymentId: p.PartnerPaymentID,
		Merchant: p.Merchant, MerchantAmount: moneypb.ToProto(p.MerchantAmount), WalletAmount: moneypb.ToProto(p.WalletAmount),
		QuoteId: p.QuoteID, Rate: p.Rate, NetworkReference: p.NetworkReference,
		FailureReason: string(p.FailureReason), FailureMessage: p.FailureMessage,
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime),
		MerchantOrderId: p.MerchantOrderID, CancelRequested: p.CancelRequested,
	}
	if p.RefundedMinor > 0 {
		out.RefundedAmount = &commonv1.Money{Currency: p.MerchantAmount.Currency, MinorUnits: p.RefundedMinor}
	}
	switch p.Mode {
	case MPM:
		out.Mode = partnerv1.PaymentMode_PAYMENT_MODE_MPM
	case CPM:
		out.Mode = partnerv1.PaymentMode_PAYMENT_MODE_CPM
	}
	switch p.Status {
	case Processing:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_PROCESSING, commonv1.Result_RESULT_UNKNOWN
	case Succeeded:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED, commonv1.Result_RESULT_SUCCESS
	case Failed:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED, commonv1.Result_RESULT_FAILURE
	case Cancelled:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED, commonv1.Result_RESULT_FAILURE
	}
	return out
}

// RefundToProto converts a refund for the wire.
func RefundToProto(r Refund) *partnerv1.Refund {
	out := &partnerv1.Refund{
		RefundId: r.ID, PaymentId: r.PaymentID, RequestId: r.RequestID,
		MerchantAmount: moneypb.ToProto(r.MerchantAmount), WalletAmount: moneypb.ToProto(r.WalletAmount),
		FailureReason: string(r.FailureReason), FailureMessage: r.FailureMessage,
		CreateTime: timestamppb.New(r.CreateTime), UpdateTime: timestamppb.New(r.UpdateTime),
	}
	switch r.Status {
	case Processing:
		out.Status, out.Result = partnerv1.RefundStatus_REFUND_STATUS_PROCESSING, commonv1.Result_RESULT_UNKNOWN
	case Succeeded:
		out.Status, out.Result = partnerv1.RefundStatus_REFUND_STATUS_SUCCEEDED, commonv1.Result_RESULT_SUCCESS
	case Failed:
		out.Status, out.Result = partnerv1.RefundStatus_REFUND_STATUS_FAILED, commonv1.Result_RESULT_FAILURE
	}
	return out
}
