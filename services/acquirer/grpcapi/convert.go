package grpcapi

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
)

// amountIn validates an optional amount from a request: nil stays nil.
func amountIn(m *commonv1.Money, field string) (*money.Amount, error) {
	if m == nil {
		return nil, nil
	}
	a, err := moneypb.FromProto(m, field)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// requiredAmount validates a required amount.
func requiredAmount(m *commonv1.Money, field string) (*money.Amount, error) {
	if m == nil {
		return nil, rpcerr.Field(rpcerr.InvalidAmount, field, "is required")
	}
	return amountIn(m, field)
}

// QuoteToProto converts a quote for the partner.
func QuoteToProto(q acquirer.Quote) *partnerv1.Quote {
	return &partnerv1.Quote{
		QuoteId: q.ID, MerchantAmount: moneypb.ToProto(q.Merchant), WalletAmount: moneypb.ToProto(q.Wallet),
		SettlementAmount: moneypb.ToProto(q.Settlement), Rate: q.Rate, MidRate: q.MidRate, MarkupBps: int32(q.MarkupBps),
		CreateTime: timestampOf(q.CreateTime), ExpireTime: timestampOf(q.ExpireTime), Legs: rateLegsToProto(q.Legs),
	}
}

// PaymentToProto converts a payment for the wire. It depends only on the
// stored row, so the same payment always serializes the same way.
func PaymentToProto(p acquirer.Payment) *partnerv1.Payment {
	out := &partnerv1.Payment{
		PaymentId: p.ID, PartnerId: p.PartnerID, PartnerPaymentId: p.PartnerPaymentID,
		Merchant: merchantToProto(p.Merchant), MerchantAmount: moneypb.ToProto(p.MerchantAmount), WalletAmount: moneypb.ToProto(p.WalletAmount),
		SettlementAmount: moneypb.ToProto(p.SettlementAmount), QuoteId: p.QuoteID, Rate: p.Rate, NetworkReference: p.NetworkReference,
		FailureReason: string(p.FailureReason), FailureMessage: p.FailureMessage,
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime),
		MerchantOrderId: p.MerchantOrderID, CancelRequested: p.CancelRequested,
	}
	if p.Status == acquirer.Processing && p.FailureReason != "" {
		// Being reversed (timed out, or refused by risk after the money
		// moved): not a failure until the reversal is confirmed.
		out.FailureReason, out.FailureMessage = "", ""
	}
	if p.RefundedMinor > 0 {
		out.RefundedAmount = &commonv1.Money{Currency: p.MerchantAmount.Currency, MinorUnits: p.RefundedMinor}
	}
	switch p.Mode {
	case acquirer.MPM:
		out.Mode = partnerv1.PaymentMode_PAYMENT_MODE_MPM
	case acquirer.CPM:
		out.Mode = partnerv1.PaymentMode_PAYMENT_MODE_CPM
	}
	switch p.Status {
	case acquirer.Processing:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_PROCESSING, commonv1.Result_RESULT_UNKNOWN
	case acquirer.Succeeded:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED, commonv1.Result_RESULT_SUCCESS
	case acquirer.Failed:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED, commonv1.Result_RESULT_FAILURE
	case acquirer.Cancelled:
		out.Status, out.Result = partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED, commonv1.Result_RESULT_FAILURE
	}
	return out
}

// RefundToProto converts a refund for the wire.
func RefundToProto(r acquirer.Refund) *partnerv1.Refund {
	out := &partnerv1.Refund{
		RefundId: r.ID, PaymentId: r.PaymentID, RequestId: r.RequestID,
		MerchantAmount: moneypb.ToProto(r.MerchantAmount), WalletAmount: moneypb.ToProto(r.WalletAmount),
		SettlementAmount: moneypb.ToProto(r.SettlementAmount),
		FailureReason:    string(r.FailureReason), FailureMessage: r.FailureMessage,
		CreateTime: timestamppb.New(r.CreateTime), UpdateTime: timestamppb.New(r.UpdateTime),
	}
	switch r.Status {
	case acquirer.Processing:
		out.Status, out.Result = partnerv1.RefundStatus_REFUND_STATUS_PROCESSING, commonv1.Result_RESULT_UNKNOWN
	case acquirer.Succeeded:
		out.Status, out.Result = partnerv1.RefundStatus_REFUND_STATUS_SUCCEEDED, commonv1.Result_RESULT_SUCCESS
	case acquirer.Failed:
		out.Status, out.Result = partnerv1.RefundStatus_REFUND_STATUS_FAILED, commonv1.Result_RESULT_FAILURE
	}
	return out
}

func resultToProto(r acquirer.Result) commonv1.Result {
	switch r {
	case acquirer.Success:
		return commonv1.Result_RESULT_SUCCESS
	case acquirer.Failure:
		return commonv1.Result_RESULT_FAILURE
	}
	return commonv1.Result_RESULT_UNKNOWN
}

// eventToProto renders a delivery for the partner.
func eventToProto(d acquirer.Delivery) (*partnerv1.Event, error) {
	e := d.Event
	var ev partnerv1.Event
	if e.Body != nil {
		if err := proto.Unmarshal(e.Body, &ev); err != nil {
			return nil, err
		}
	} else {
		ev = partnerv1.Event{EventId: e.ID, Type: partnerv1.EventType(partnerv1.EventType_value[e.Type]), CreateTime: timestamppb.New(e.Time)}
		switch {
		case d.Refund != nil:
			ev.Refund = RefundToProto(*d.Refund)
		case d.Payment != nil:
			ev.Payment = PaymentToProto(*d.Payment)
		}
	}
	ev.Sequence = e.Sequence
	return &ev, nil
}
