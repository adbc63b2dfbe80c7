package grpcapi

import (
	"context"
	"fmt"

	"google.golang.org/grpc/metadata"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// PartnerHeader is the metadata key that names the calling partner on a
// trusted network. (mTLS identities replace it for partners on the
// internet.)
const PartnerHeader = "unigate-partner-id"

// PartnerServer is the partner-facing gRPC API.
type PartnerServer struct {
	partnerv1.UnimplementedPartnerServiceServer
	svc *acquirer.Service
}

// NewPartnerServer returns a PartnerServer over svc.
func NewPartnerServer(svc *acquirer.Service) *PartnerServer { return &PartnerServer{svc: svc} }

// caller returns the id of the calling partner or network. With mutual
// TLS it is the identity of the client certificate (the interceptor has
// checked it against its kind's CA and the method's policy): a header
// naming anyone else is refused, and an operator (allowed only on
// read-only methods) names in the header whose view it reads. Without TLS
// (local experiments only) the header names the caller, unchecked.
func caller(ctx context.Context, header string, kind authn.Kind) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var claimed string
	if v := md.Get(header); len(v) == 1 {
		claimed = v[0]
	} else if len(v) > 1 {
		return "", rpcerr.New(rpcerr.PermissionDenied, "the %s metadata key is repeated", header)
	}
	if id, ok := authn.FromContext(ctx); ok {
		switch {
		case id.Kind == kind && (claimed == "" || claimed == id.ID):
			return id.ID, nil
		case id.Kind == kind:
			return "", rpcerr.New(rpcerr.PermissionDenied, "the certificate is %s's; the request claims to be %q", id.ID, claimed)
		case id.Kind == authn.Operator && acquirer.ValidateKey(header, claimed) == nil:
			return claimed, nil
		}
		return "", rpcerr.New(rpcerr.PermissionDenied, "%s may not call this method", id)
	}
	if claimed != "" && acquirer.ValidateKey(header, claimed) == nil {
		return claimed, nil
	}
	return "", rpcerr.New(rpcerr.Unauthenticated, "a client certificate (or, without TLS, the %s metadata key) must name the %s", header, kind)
}

func partnerID(ctx context.Context) (string, error) { return caller(ctx, PartnerHeader, authn.Partner) }

// DecodeCode implements partnerv1.PartnerServiceServer.
func (s *PartnerServer) DecodeCode(ctx context.Context, req *partnerv1.DecodeCodeRequest) (*partnerv1.DecodeCodeResponse, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.Decode(ctx, pid, req.GetCode())
	if err != nil {
		return nil, err
	}
	out := &partnerv1.DecodeCodeResponse{Kind: commonv1.CodeKind(commonv1.CodeKind_value[res.Kind]), Merchant: merchantToProto(res.Merchant),
		WalletCurrency: res.Partner.Currency, Warnings: res.Warnings}
	if res.Amount != nil {
		out.Amount = moneypb.ToProto(*res.Amount)
	}
	return out, nil
}

// CreateQuote implements partnerv1.PartnerServiceServer.
func (s *PartnerServer) CreateQuote(ctx context.Context, req *partnerv1.CreateQuoteRequest) (*partnerv1.CreateQuoteResponse, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return nil, err
	}
	a, err := amountIn(req.GetAmount(), "amount")
	if err != nil {
		return nil, err
	}
	w, err := amountIn(req.GetWalletAmount(), "wallet_amount")
	if err != nil {
		return nil, err
	}
	q, err := s.svc.CreateQuote(ctx, acquirer.QuoteInput{PartnerID: pid, Code: req.GetCode(), Amount: a, WalletAmount: w})
	if err != nil {
		return nil, err
	}
	return &partnerv1.CreateQuoteResponse{Quote: QuoteToProto(q)}, nil
}

// Pay implements partnerv1.PartnerServiceServer.
func (s *PartnerServer) Pay(ctx context.Context, req *partnerv1.PayRequest) (*partnerv1.PayResponse, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return nil, err
	}
	a, err := requiredAmount(req.GetAmount(), "amount")
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Pay(ctx, acquirer.PayInput{PartnerID: pid, PartnerPaymentID: req.GetPartnerPaymentId(), Code: req.GetCode(),
		Amount: a, QuoteID: req.GetQuoteId(), UserRef: req.GetUserRef(), DeviceRef: req.GetDeviceRef()})
	if err != nil {
		return nil, err
	}
	return &partnerv1.PayResponse{Payment: PaymentToProto(p)}, nil
}

// payment returns the calling partner's payment by id or by key.
func (s *PartnerServer) payment(ctx context.Context, id, key string) (acquirer.Payment, error) {
	pid, err := partnerID(ctx)
	if err != nil {
		return acquirer.Payment{}, err
	}
	if id == "" && key == "" {
		return acquirer.Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "id", "payment_id or partner_payment_id is required")
	}
	if err := acquirer.CheckText("payment_id", id, 64, false); err != nil {
		return acquirer.Payment{}, err
	}
	if key != "" {
		if err := acquirer.ValidateKey("partner_payment_id", key); err != nil {
			return acquirer.Payment{}, err
		}
	}
	return s.svc.Get(ctx, pid, id, key)
}

// GetPayment implements partnerv1.PartnerServiceServer.
func (s *PartnerServer) GetPayment(ctx context.Context, req *partnerv1.GetPaymentRequest) (*partnerv1.GetPaymentResponse, error) {
	p, err := s.payment(ctx, req.GetPaymentId(), req.GetPartnerPaymentId())
	if err != nil {
		return nil, err
	}
	return &partnerv1.GetPaymentResponse{Payment: PaymentToProto(p)}, nil
}

// CancelPayment implements partnerv1.PartnerServiceServer.
func (s *PartnerServer) CancelPayment(ctx context.Context, req *partnerv1.CancelPaymentRequest) (*partnerv1.CancelPaymentResponse, error) {
	p, err := s.payment(ctx, req.GetPaymentId(), req.GetPartnerPaymentId())
	if err != nil {
		return nil, err
	}
	if p.Mode != acquirer.MPM {
		return nil, fmt.Errorf("%w: the merchant's network cancels consumer-presented payments", acquirer.ErrCancelNotAllowed)
	}
	result, p, err := s.svc.Cancel(ctx, p)
	if err != nil {
		return nil, err
	}
	return &partnerv1.CancelPaymentResponse{Result: resultToProto(result), Payment: PaymentToProto(p)}, nil
}

// StreamEvents implements partnerv1.PartnerServiceServer.
func (s *PartnerServer) StreamEvents(req *partnerv1.StreamEventsRequest, stream partnerv1.PartnerService_StreamEventsServer) error {
	pid, err := partnerID(stream.Context())
	if err != nil {
		return err
	}
	if req.GetAfterSequence() < 0 {
		return rpcerr.Field(rpcerr.InvalidArgument, "after_sequence", "must not be negative")
	}
	return s.svc.StreamEvents(stream.Context(), pid, req.GetAfterSequence(), func(d acquirer.Delivery) error {
		e, err := eventToProto(d)
		if err != nil {
			return fmt.Errorf("acquirer: event %s: %w", d.Event.ID, err)
		}
		return stream.Send(&partnerv1.StreamEventsResponse{Event: e})
	})
}
