package acquirer

import (
	"context"
	"fmt"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/telemetry"
)

// Cancel cancels a payment in full. It is allowed while the payment is in
// flight (the cancel then wins over a late success) and, once it
// succeeded, within the cancel window, before any refund and before the
// payment is settled. A payment already failed or cancelled answers S:
// nothing is left to cancel. The result is S once the money is back (or
// never moved), U while the reversal is in flight — the resolver owns the
// cancel from the moment it is accepted and finishes it.
func (s *Service) Cancel(ctx context.Context, p Payment) (Result, Payment, error) {
	telemetry.Annotate(ctx, telemetry.PaymentIDKey.String(p.ID), telemetry.PartnerIDKey.String(p.PartnerID))
	for range 3 { // re-evaluate if the payment changes under us
		switch {
		case p.Status.Final():
			return Success, p, nil
		case p.CancelRequested:
			return Unknown, p, nil // accepted before; the resolver is on it
		case p.Status == Succeeded && s.now().Sub(p.CreateTime) > s.cfg.CancelWindow:
			return 0, Payment{}, fmt.Errorf("%w: payments can be cancelled within %s", ErrCancelWindow, s.cfg.CancelWindow)
		case p.RefundedMinor > 0:
			return 0, Payment{}, fmt.Errorf("%w: it was (partly) refunded", ErrCancelNotAllowed)
		}
		now := s.at()
		cur, applied, err := s.d.Store.RequestCancel(ctx, p.ID, now.Add(-s.cfg.CancelWindow), now.Add(s.cfg.ProcessBound), now)
		if err != nil {
			return 0, Payment{}, err
		}
		if !applied {
			p = cur
			continue
		}
		pctx, done, ok := s.begin(ctx)
		if !ok {
			return Unknown, cur, nil
		}
		defer done()
		out, err := s.reverse(pctx, cur, nil)
		if err != nil {
			return 0, Payment{}, err
		}
		switch {
		case out.Status.Final():
			return Success, out, nil
		case !out.CancelRequested:
			return 0, Payment{}, fmt.Errorf("%w: the payment was settled; refund it instead", ErrCancelWindow)
		}
		return Unknown, out, nil
	}
	return 0, Payment{}, rpcerr.New(rpcerr.Internal, "payment %s kept changing", p.ID)
}

// reverse undoes a payment whose cancel was accepted (by a caller, or by
// the resolver when its window ran out). A succeeded payment is first held
// out of settlement by the ledger — if it was settled already, the cancel
// is withdrawn. Then the merchant network reverses the credit (MPM) or the
// partner cancels the authorization (CPM). On S the payment is CANCELLED
// (FAILED, with its reason, when the acquirer gave it up itself: the
// resolver timed it out, or risk refused its named user) and, if
// money had moved, owes the ledger the payment and its reversal. Otherwise
// the resolver tries again.
func (s *Service) reverse(ctx context.Context, p Payment, f *Fence) (Payment, error) {
	if p.Status == Succeeded {
		held, cycle, err := s.d.Ledger.HoldForCancel(ctx, p.ID)
		if err != nil {
			return s.retryReverse(ctx, p, f, err)
		}
		if !held {
			s.log.InfoContext(ctx, "cancel withdrawn: the payment was settled", "payment_id", p.ID, "cycle_id", cycle)
			done, _, err := s.d.Store.RefuseCancel(ctx, p.ID, s.at(), f)
			if err != nil {
				return s.keep(ctx, p, "withdrawing a cancel", err)
			}
			return done, nil
		}
	}
	var (
		out Outcome
		err error
	)
	if p.Mode == CPM {
		out, err = s.d.Wallets.CancelAuthorization(ctx, p.PartnerEndpoint, p.ID)
	} else {
		out, err = s.d.Networks.ReverseCredit(ctx, p.NetworkEndpoint, p.ID)
	}
	if err != nil || out.Result != Success {
		if err == nil {
			err = fmt.Errorf("reversal answered %v", out.Result)
		}
		return s.retryReverse(ctx, p, f, err)
	}
	done, applied, err := s.d.Store.MarkReversed(ctx, p.ID, s.at(), f)
	if err != nil {
		return s.keep(ctx, p, "recording a reversal", err)
	}
	if applied {
		if done.Status == Failed { // given up (timed out, refused by risk): F
			counted(p, resultF)
		}
		s.release(ctx, p.ID)
		s.kickPoster()
	}
	return done, nil
}

func (s *Service) retryReverse(ctx context.Context, p Payment, f *Fence, why error) (Payment, error) {
	s.log.WarnContext(ctx, "reversal not confirmed; resolver retries", "payment_id", p.ID, "err", why)
	cur, _, err := s.d.Store.Reschedule(ctx, p.ID, s.now().Add(s.cfg.ReverseRetry), s.at(), f)
	if err != nil {
		return s.keep(ctx, p, "scheduling a reversal", err)
	}
	return cur, nil
}
