package acquirer

import (
	"context"
	"fmt"
	"math/big"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// RefundInput is a merchant network's refund request.
type RefundInput struct {
	NetworkID string
	RequestID string
	PaymentID string
	Reason    string
}

// proportional prices a refund at the payment's locked rate: after
// refunds of R merchant minor units in all, the wallet amount and the cost
// refunded in all are floor(W·R/M) and floor(C·R/M). Each refund takes the
// difference, so every refund is within one minor unit of its exact share,
// none is negative, and a full set of refunds returns exactly W and C.
// (Rounding can make one refund's cost exceed its wallet amount by a minor
// unit; its posting then moves that unit of FX revenue the other way.)
func proportional(paid, refunded [3]int64, m int64) (wallet, cost int64) {
	cum := func(total, r int64) int64 {
		n := new(big.Int).Mul(big.NewInt(total), big.NewInt(r))
		return n.Quo(n, big.NewInt(paid[0])).Int64()
	}
	after := refunded[0] + m
	return cum(paid[1], after) - cum(paid[1], refunded[0]), cum(paid[2], after) - cum(paid[2], refunded[0])
}

// Refund refunds part or all of a succeeded payment: the amount is
// reserved on the payment atomically (several refunds never exceed what
// was paid), then the partner credits its user through RefundUser at the
// payment's locked rate. Idempotent per (network, request id).
func (s *Service) Refund(ctx context.Context, in RefundInput, amount *commonv1.Money) (Refund, error) {
	if err := ValidateKey("refund_request_id", in.RequestID); err != nil {
		return Refund{}, err
	}
	if in.PaymentID == "" {
		return Refund{}, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	a, err := moneypb.FromProto(amount, "amount")
	if err != nil {
		return Refund{}, err
	}
	hash := fingerprint("refund", in.NetworkID, in.RequestID, in.PaymentID, a.Currency, fmt.Sprint(a.Minor))
	if r, err := s.store.GetRefundByRequest(ctx, in.NetworkID, in.RequestID); err == nil {
		if r.RequestHash != hash {
			return Refund{}, rpcerr.New(rpcerr.RepeatRequestInconsistent, "refund_request_id was used for refund %s with a different request", r.ID)
		}
		return r, nil
	}
	p, err := s.GetForNetwork(ctx, in.NetworkID, in.PaymentID)
	if err != nil {
		return Refund{}, err
	}
	if a.Currency != p.MerchantAmount.Currency {
		return Refund{}, rpcerr.Field(rpcerr.InvalidAmount, "amount.currency", "the payment is in %s, not %s", p.MerchantAmount.Currency, a.Currency)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	r, inserted, err := s.store.InsertRefund(ctx, Refund{
		ID: RefundID(in.NetworkID, in.RequestID), PaymentID: p.ID, NetworkID: in.NetworkID, RequestID: in.RequestID,
		RequestHash: hash, Status: Processing, MerchantAmount: a,
		WalletAmount: amountOf(moneypb.ToProto(p.WalletAmount)), CostAmount: p.CostAmount,
		CreateTime: now, UpdateTime: now,
	}, proportional)
	if err != nil {
		return Refund{}, err
	}
	if !inserted {
		if r.RequestHash != hash {
			return Refund{}, rpcerr.New(rpcerr.RepeatRequestInconsistent, "refund_request_id was used for refund %s with a different request", r.ID)
		}
		return r, nil
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	return s.creditUser(ctx, p, r, nil)
}

// creditUser asks the partner to credit the user for a refund; S and F
// finish it, anything else leaves it to the resolver.
func (s *Service) creditUser(ctx context.Context, p Payment, r Refund, fence *Fence) (Refund, error) {
	w, err := s.wallet(p)
	var resp *partnerv1.RefundUserResponse
	if err == nil {
		resp, err = w.RefundUser(ctx, &partnerv1.RefundUserRequest{RefundId: r.ID, PaymentId: p.ID,
			WalletAmount: moneypb.ToProto(r.WalletAmount)})
	}
	done := r
	switch {
	case err == nil && resp.GetResult() == commonv1.Result_RESULT_SUCCESS:
		done.Status, done.PartnerReference = Succeeded, resp.GetPartnerReference()
		out, err := s.store.FinishRefund(ctx, r.ID, done, s.now(), refundEvent(s, partnerv1.EventType_EVENT_TYPE_REFUND_SUCCEEDED, p.PartnerID))
		s.kickPoster()
		return out, err
	case err == nil && resp.GetResult() == commonv1.Result_RESULT_FAILURE:
		done.Status, done.FailureReason, done.FailureMessage = Failed, rpcerr.WalletDeclined, resp.GetFailureReason()
		return s.store.FinishRefund(ctx, r.ID, done, s.now(), refundEvent(s, partnerv1.EventType_EVENT_TYPE_REFUND_FAILED, p.PartnerID))
	}
	s.log.WarnContext(ctx, "refund outcome unknown; resolver retries", "refund_id", r.ID, "err", err)
	step := s.cfg.ReverseRetry
	if int(r.Attempts) < len(s.cfg.Schedule) {
		step = s.cfg.Schedule[r.Attempts]
	}
	if err := s.store.ScheduleRefund(ctx, r.ID, s.now().Add(step), fence); err != nil {
		return Refund{}, err
	}
	return s.store.GetRefund(ctx, r.ID)
}

// GetRefund returns a network's refund by id or request id.
func (s *Service) GetRefund(ctx context.Context, networkID, id, requestID string) (Refund, error) {
	var (
		r   Refund
		err error
	)
	if id != "" {
		r, err = s.store.GetRefund(ctx, id)
	} else {
		r, err = s.store.GetRefundByRequest(ctx, networkID, requestID)
	}
	if err != nil {
		return Refund{}, err
	}
	if r.NetworkID != networkID {
		return Refund{}, ErrRefundNotFound
	}
	return r, nil
}
