package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"

	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
)

// Lookup is what the operator API reads: payments and refunds by any id
// they have, and a payment's timeline. Its methods return
// acquirer.ErrPaymentNotFound or acquirer.ErrRefundNotFound for an
// unknown payment or refund.
type Lookup interface {
	FindPayments(ctx context.Context, id string) ([]store.Match, error)
	PaymentTimeline(ctx context.Context, paymentID string) (store.Timeline, error)
	PaymentRefunds(ctx context.Context, paymentID string) ([]acquirer.Refund, error)
	FindRefund(ctx context.Context, id string) (acquirer.Refund, string, error)
}

var _ Lookup = (*store.SQLStore)(nil)

// maxLookupID is the longest id the operator API looks for: the longest
// id a payment or refund stores (references downstreams send back).
const maxLookupID = acquirer.MaxReference

// OperatorServer is the operators' read-only API on the acquirer's
// tables (unigatectl payments find|timeline, refunds get|list). Who may
// call it is the server's policy: operators, viewer and up.
type OperatorServer struct {
	acquiringv1.UnimplementedOperatorServiceServer
	l Lookup
}

// NewOperatorServer returns an OperatorServer over l.
func NewOperatorServer(l Lookup) *OperatorServer { return &OperatorServer{l: l} }

// FindPayments implements acquiringv1.OperatorServiceServer.
func (s *OperatorServer) FindPayments(ctx context.Context, req *acquiringv1.FindPaymentsRequest) (*acquiringv1.FindPaymentsResponse, error) {
	if err := acquirer.CheckText("id", req.GetId(), maxLookupID, true); err != nil {
		return nil, err
	}
	ms, err := s.l.FindPayments(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	resp := &acquiringv1.FindPaymentsResponse{}
	for _, m := range ms {
		resp.Matches = append(resp.Matches, &acquiringv1.PaymentMatch{Payment: PaymentToProto(m.Payment), Matched: m.By})
	}
	return resp, nil
}

// GetPaymentTimeline implements acquiringv1.OperatorServiceServer.
func (s *OperatorServer) GetPaymentTimeline(ctx context.Context, req *acquiringv1.GetPaymentTimelineRequest) (*acquiringv1.GetPaymentTimelineResponse, error) {
	if err := acquirer.CheckText("payment_id", req.GetPaymentId(), 64, true); err != nil {
		return nil, err
	}
	t, err := s.l.PaymentTimeline(ctx, req.GetPaymentId())
	if err != nil {
		return nil, err
	}
	resp := &acquiringv1.GetPaymentTimelineResponse{Payment: PaymentToProto(t.Payment)}
	for _, r := range t.Refunds {
		resp.Refunds = append(resp.Refunds, RefundToProto(r))
	}
	for _, e := range t.Entries {
		resp.Entries = append(resp.Entries, &acquiringv1.TimelineEntry{Time: timestamppb.New(e.Time), Source: timelineSources[e.Source],
			Kind: e.Kind, RefundId: e.RefundID, Detail: e.Detail, Id: e.ID})
	}
	return resp, nil
}

var timelineSources = map[string]acquiringv1.TimelineSource{
	store.SourcePayment: acquiringv1.TimelineSource_TIMELINE_SOURCE_PAYMENT,
	store.SourceRefund:  acquiringv1.TimelineSource_TIMELINE_SOURCE_REFUND,
	store.SourceEvent:   acquiringv1.TimelineSource_TIMELINE_SOURCE_EVENT,
	store.SourceAudit:   acquiringv1.TimelineSource_TIMELINE_SOURCE_AUDIT,
}

// ListRefunds implements acquiringv1.OperatorServiceServer.
func (s *OperatorServer) ListRefunds(ctx context.Context, req *acquiringv1.ListRefundsRequest) (*acquiringv1.ListRefundsResponse, error) {
	if err := acquirer.CheckText("payment_id", req.GetPaymentId(), 64, true); err != nil {
		return nil, err
	}
	rs, err := s.l.PaymentRefunds(ctx, req.GetPaymentId())
	if err != nil {
		return nil, err
	}
	resp := &acquiringv1.ListRefundsResponse{}
	for _, r := range rs {
		resp.Refunds = append(resp.Refunds, RefundToProto(r))
	}
	return resp, nil
}

// FindRefund implements acquiringv1.OperatorServiceServer.
func (s *OperatorServer) FindRefund(ctx context.Context, req *acquiringv1.FindRefundRequest) (*acquiringv1.FindRefundResponse, error) {
	if err := acquirer.CheckText("id", req.GetId(), maxLookupID, true); err != nil {
		return nil, err
	}
	r, by, err := s.l.FindRefund(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &acquiringv1.FindRefundResponse{Refund: RefundToProto(r), NetworkId: r.NetworkID, Matched: by}, nil
}
