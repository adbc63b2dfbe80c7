package acquirer

import (
	"context"
	"fmt"
	"math/big"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/telemetry"
)

// RefundInput is a merchant network's refund request.
type RefundInput struct {
	NetworkID string
	RequestID string
	PaymentID string
	Reason    string
	Amount    *money.Amount
}

func (in RefundInput) validate() error {
	if err := ValidateKey("refund_request_id", in.RequestID); err != nil {
		return err
	}
	if err := CheckText("payment_id", in.PaymentID, 64, true); err != nil {
		return err
	}
	if err := CheckText("reason", in.Reason, MaxReason, false); err != nil {
		return err
	}
	if in.Amount == nil {
		return rpcerr.Field(rpcerr.InvalidAmount, "amount", "is required")
	}
	return nil
}

// Proportional prices a refund at the payment's locked rates by
// cumulative shares: after refunds of R merchant minor units in all, the
// wallet amount refunded in all is floor(W·R/M), and the settlement and
// cost amounts likewise with S and C. A refund takes each target less
// what the refunds not failed already returned, never less than nothing
// and never more than what remains. So the refunds of a payment never
// exceed W, S or C, whatever fails in between, a full set returns exactly
// W, S and C, and each refund is within a minor unit of its exact share
// unless an earlier failure shifted the rounding. (Rounding can make one
// refund's cost exceed its settlement amount by a minor unit; its posting
// then moves that unit of FX revenue the other way.) A cancel needs no
// pricing: it reverses the payment's own amounts.
func Proportional(paid, refunded [4]int64, m int64) (wallet, settlement, cost int64) {
	after := refunded[0] + m
	share := func(i int) int64 {
		total, done := paid[i], refunded[i]
		n := new(big.Int).Mul(big.NewInt(total), big.NewInt(after))
		target := n.Quo(n, big.NewInt(paid[0])).Int64()
		return min(max(target-done, 0), total-done)
	}
	return share(1), share(2), share(3)
}

// Refund refunds part or all of a succeeded payment: the amount is
// reserved on the payment atomically (several refunds never exceed what
// was paid), then the partner credits its user through RefundUser at the
// payment's locked rate. Idempotent per (network, request id). The row is
// born scheduled, so the resolver finishes it if this path cannot.
func (s *Service) Refund(ctx context.Context, in RefundInput) (Refund, error) {
	if err := in.validate(); err != nil {
		return Refund{}, err
	}
	telemetry.Annotate(ctx, telemetry.PaymentIDKey.String(in.PaymentID))
	a := *in.Amount
	hash := fingerprint("refund", in.NetworkID, in.RequestID, in.PaymentID, a.Currency, fmt.Sprint(a.Minor))
	sameRefund := func(r Refund) (Refund, error) {
		if r.RequestHash != hash {
			return Refund{}, rpcerr.New(rpcerr.RepeatRequestInconsistent, "refund_request_id was used for refund %s with a different request", r.ID)
		}
		return r, nil
	}
	if r, err := s.d.Store.RefundByRequest(ctx, in.NetworkID, in.RequestID); err == nil {
		return sameRefund(r)
	} else if rpcerr.ReasonOf(err) != rpcerr.RefundNotFound {
		return Refund{}, err
	}
	p, err := s.GetForNetwork(ctx, in.NetworkID, in.PaymentID)
	if err != nil {
		return Refund{}, err
	}
	if a.Currency != p.MerchantAmount.Currency {
		return Refund{}, rpcerr.Field(rpcerr.InvalidAmount, "amount.currency", "the payment is in %s, not %s", p.MerchantAmount.Currency, a.Currency)
	}
	if p.PartnerEndpoint == "" {
		// Nobody could credit the user: refuse now rather than hold the
		// amount and retry for ever.
		return Refund{}, fmt.Errorf("%w: partner %s has no endpoint to credit its users", ErrNotRefundable, p.PartnerID)
	}
	now := s.at()
	next := now.Add(s.cfg.ProcessBound)
	r, inserted, err := s.d.Store.InsertRefund(ctx, Refund{
		ID: RefundID(in.NetworkID, in.RequestID), PaymentID: p.ID, PartnerID: p.PartnerID, NetworkID: in.NetworkID,
		RequestID: in.RequestID, RequestHash: hash, Status: Processing, MerchantAmount: a,
		WalletAmount: money.Amount{Currency: p.WalletAmount.Currency}, SettlementAmount: money.Amount{Currency: p.SettlementAmount.Currency},
		CostAmount: money.Amount{Currency: p.CostAmount.Currency},
		CreateTime: now, UpdateTime: now, NextAttempt: &next,
	}, Proportional)
	if err != nil {
		return Refund{}, err
	}
	if !inserted {
		return sameRefund(r)
	}
	pctx, done, ok := s.begin(ctx)
	if !ok {
		return r, nil
	}
	defer done()
	return s.creditUser(pctx, p, r, nil)
}

// creditUser asks the partner to credit the user for a refund; S and F
// finish it, anything else leaves it to the resolver.
func (s *Service) creditUser(ctx context.Context, p Payment, r Refund, f *Fence) (Refund, error) {
	out, err := s.d.Wallets.RefundUser(ctx, p.PartnerEndpoint, r)
	var (
		done Refund
		werr error
	)
	switch {
	case err == nil && out.Result == Success:
		done, _, werr = s.d.Store.MarkRefundSucceeded(ctx, r.ID, Clean(out.Reference, MaxReference), s.at(), f)
		s.kickPoster()
	case err == nil && out.Result == Failure:
		done, _, werr = s.d.Store.MarkRefundFailed(ctx, r.ID, rpcerr.WalletDeclined,
			paycode.Redact(Clean(out.FailureReason+" "+out.FailureMessage, MaxMessage)), s.at(), f)
	default:
		s.log.WarnContext(ctx, "refund outcome unknown; resolver retries", "refund_id", r.ID, "err", err)
		step := s.cfg.ReverseRetry
		if int(r.Attempts) < len(s.cfg.Schedule) {
			step = s.cfg.Schedule[r.Attempts]
		}
		done, _, werr = s.d.Store.RescheduleRefund(ctx, r.ID, s.now().Add(step), s.at(), f)
	}
	if werr != nil {
		if f != nil {
			return r, werr
		}
		s.log.ErrorContext(ctx, "write failed; the resolver finishes the refund", "refund_id", r.ID, "err", werr)
		return r, nil
	}
	return done, nil
}

// GetRefund returns a network's refund by id or request id.
func (s *Service) GetRefund(ctx context.Context, networkID, id, requestID string) (Refund, error) {
	var (
		r   Refund
		err error
	)
	if id != "" {
		r, err = s.d.Store.Refund(ctx, id)
	} else {
		r, err = s.d.Store.RefundByRequest(ctx, networkID, requestID)
	}
	if err != nil {
		return Refund{}, err
	}
	if r.NetworkID != networkID {
		return Refund{}, ErrRefundNotFound
	}
	return r, nil
}
