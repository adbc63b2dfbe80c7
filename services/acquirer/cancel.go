package acquirer

import (
	"context"
	"fmt"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// Cancel cancels a payment in full. It is allowed while the payment is in
// flight (the cancel then wins over a late success) and, once it
// succeeded, within the cancel window and before any refund. A payment
// already failed or cancelled answers S: nothing is left to cancel. The
// result is S once the money is back (or never moved), U while the
// reversal is still in flight — the resolver finishes it.
func (s *Service) Cancel(ctx context.Context, p Payment) (commonv1.Result, Payment, error) {
	for range 3 { // re-evaluate if the payment changes under us
		switch p.Status {
		case Failed, Cancelled:
			return commonv1.Result_RESULT_SUCCESS, p, nil
		case Succeeded:
			if s.now().Sub(p.CreateTime) > s.cfg.CancelWindow {
				return 0, Payment{}, fmt.Errorf("%w: payments can be cancelled within %s", ErrCancelWindow, s.cfg.CancelWindow)
			}
			if p.RefundedMinor > 0 {
				return 0, Payment{}, fmt.Errorf("%w: it was (partly) refunded", ErrCancelNotAllowed)
			}
			if s.c.Settlement != nil {
				st, err := s.c.Settlement.GetPaymentSettlement(ctx, &settlementv1.GetPaymentSettlementRequest{PaymentId: p.ID})
				if err != nil {
					return 0, Payment{}, rpcerr.FromStatus(err)
				}
				if st.GetSettled() {
					return 0, Payment{}, fmt.Errorf("%w: the payment was settled in %s; refund it instead", ErrCancelWindow, st.GetCycleId())
				}
			}
		}
		cur, applied, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing, Succeeded}, NoRefunds: true},
			Change{CancelRequested: true}, s.now(), nil)
		if err != nil {
			return 0, Payment{}, err
		}
		if !applied {
			p = cur
			continue
		}
		ctx, cancel := detach(ctx)
		defer cancel()
		done, err := s.reverse(ctx, cur)
		if err != nil {
			return 0, Payment{}, err
		}
		if done.Status.Final() {
			return commonv1.Result_RESULT_SUCCESS, done, nil
		}
		return commonv1.Result_RESULT_UNKNOWN, done, nil
	}
	return 0, Payment{}, rpcerr.New(rpcerr.Internal, "payment %s kept changing", p.ID)
}

// reverse undoes a payment whose cancel was accepted (by a caller, or by
// the resolver when its window ran out): the merchant network reverses the
// credit (MPM) or the partner cancels the authorization (CPM). On S the
// payment is CANCELLED — or FAILED with PAYMENT_TIMED_OUT when the
// resolver gave up on it — and, if money had moved, the poster posts the
// payment and its reversal. Otherwise the resolver tries again.
func (s *Service) reverse(ctx context.Context, p Payment) (Payment, error) {
	var (
		result commonv1.Result
		err    error
	)
	switch p.Mode {
	case CPM:
		var w partnerv1.WalletPartnerServiceClient
		if w, err = s.wallet(p); err == nil {
			var resp *partnerv1.CancelAuthorizationResponse
			if resp, err = w.CancelAuthorization(ctx, &partnerv1.CancelAuthorizationRequest{PaymentId: p.ID}); err == nil {
				result = resp.GetResult()
			}
		}
	default:
		conn, cerr := s.c.Conns.Get(p.NetworkEndpoint)
		if err = cerr; err == nil {
			var resp *merchantv1.ReverseCreditResponse
			if resp, err = merchantv1.NewMerchantNetworkServiceClient(conn).ReverseCredit(ctx, &merchantv1.ReverseCreditRequest{CreditId: p.ID}); err == nil {
				result = resp.GetResult()
			}
		}
	}
	if err != nil || result != commonv1.Result_RESULT_SUCCESS {
		s.log.WarnContext(ctx, "reversal not confirmed; resolver retries", "payment_id", p.ID, "result", result, "err", err)
		next := s.now().Add(s.cfg.ReverseRetry)
		cur, _, uerr := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing, Succeeded}}, Change{Schedule: &next}, s.now(), nil)
		return cur, uerr
	}
	ch := Change{Status: Cancelled, Unschedule: true, Unposted: true}
	typ := partnerv1.EventType_EVENT_TYPE_PAYMENT_CANCELLED
	if p.FailureReason == rpcerr.PaymentTimedOut {
		ch.Status, typ = Failed, partnerv1.EventType_EVENT_TYPE_PAYMENT_FAILED
	}
	done, applied, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing, Succeeded}}, ch, s.now(), paymentEvent(typ))
	if err != nil {
		return Payment{}, err
	}
	if applied {
		s.release(ctx, p.ID)
		s.kickPoster()
	}
	return done, nil
}
