package acquirer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// postBatch is how many postings the poster sends per call.
const postBatch = 200

func (s *Service) kickPoster() {
	select {
	case s.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func postRequest(p Payment, reversalID string) *settlementv1.PostPaymentRequest {
	return &settlementv1.PostPaymentRequest{
		PaymentId: p.ID, PartnerId: p.PartnerID, NetworkId: p.Merchant.GetNetworkId(), MerchantId: p.Merchant.GetMerchantId(),
		WalletAmount: moneypb.ToProto(p.WalletAmount), CostAmount: moneypb.ToProto(p.CostAmount),
		MerchantAmount: moneypb.ToProto(p.MerchantAmount), ReversalId: reversalID,
	}
}

// cancelReversal is the reversal id of a cancel.
func cancelReversal(paymentID string) string { return "cancel-" + paymentID }

// PostPending delivers owed ledger postings — succeeded payments, cancels
// of payments whose money had moved (the payment and its full reversal),
// succeeded refunds — in batches, one settlement transaction each, until
// none is left. It returns how many rows it marked posted.
func (s *Service) PostPending(ctx context.Context) (int, error) {
	total := 0
	for {
		ps, err := s.store.Unposted(ctx, postBatch)
		if err != nil {
			return total, err
		}
		rs, err := s.store.UnpostedRefunds(ctx, postBatch)
		if err != nil {
			return total, err
		}
		if len(ps) == 0 && len(rs) == 0 {
			return total, nil
		}
		req := &settlementv1.PostPaymentsRequest{}
		var refundIDs []string
		for _, p := range ps {
			if p.Status == Cancelled && !p.Credited {
				continue // no money ever moved: nothing to post
			}
			req.Payments = append(req.Payments, postRequest(p, ""))
			if p.Status == Cancelled {
				req.Payments = append(req.Payments, postRequest(p, cancelReversal(p.ID)))
			}
		}
		for _, r := range rs {
			p, err := s.store.Get(ctx, r.PaymentID)
			if err != nil {
				return total, err
			}
			p.WalletAmount, p.CostAmount, p.MerchantAmount = r.WalletAmount, r.CostAmount, r.MerchantAmount
			req.Payments = append(req.Payments, postRequest(p, r.ID))
			refundIDs = append(refundIDs, r.ID)
		}
		if len(req.GetPayments()) > 0 {
			if _, err := s.c.Settlement.PostPayments(ctx, req); err != nil {
				// A conflict (a bug elsewhere) still posted the rest, but we
				// cannot tell which rows to mark: leave them all for the next
				// pass, which posts nothing twice, and say so loudly.
				if rpcerr.ReasonOf(err) == rpcerr.PostingConflict {
					s.log.ErrorContext(ctx, "ledger refused a posting", "err", err)
				}
				return total, rpcerr.FromStatus(err)
			}
		}
		if err := s.store.MarkPosted(ctx, ps); err != nil {
			return total, err
		}
		if err := s.store.MarkRefundsPosted(ctx, refundIDs); err != nil {
			return total, err
		}
		total += len(ps) + len(refundIDs)
		if len(ps) < postBatch && len(rs) < postBatch {
			return total, nil
		}
	}
}

// RunPoster posts to the ledger until ctx ends: at once when a payment or
// refund succeeds or a payment is cancelled (batching whatever accumulated
// meanwhile), and every interval to retry what failed. Postings are
// idempotent, so several replicas may run it at once.
func (s *Service) RunPoster(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-t.C:
		}
		if n, err := s.PostPending(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "ledger posting deferred", "posted", n, "err", err)
		}
	}
}

// SingletonName is the election (and fence) of the acquirer's singleton
// work: the resolver and the event relay.
const SingletonName = "acquirer"

// Lead runs the resolver and the event relay for one leader term, until
// ctx ends. Its writes are fenced with the term's revision.
func (s *Service) Lead(ctx context.Context, term election.Term) error {
	ok, err := s.store.ClaimFence(ctx, SingletonName, term.Revision)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("acquirer: a newer leader than revision %d exists", term.Revision)
	}
	fence := &Fence{Name: SingletonName, Revision: term.Revision}
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if err := s.relay(ctx, *fence); err != nil {
			if errors.Is(err, ErrFenced) {
				return err
			}
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "event relay", "err", err)
			}
		}
		if err := s.relayStatements(ctx, *fence); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "statement relay", "err", err)
		}
		if err := s.ResolveDue(ctx, fence); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "resolver", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// relay gives new events their per-partner sequence.
func (s *Service) relay(ctx context.Context, fence Fence) error {
	for {
		n, err := s.store.SequenceEvents(ctx, fence, 500)
		if err != nil || n < 500 {
			return err
		}
	}
}

// relayStatements turns settlement's new statements into STATEMENT_READY
// events for their partners.
func (s *Service) relayStatements(ctx context.Context, fence Fence) error {
	cursor, err := s.store.StatementCursor(ctx)
	if err != nil {
		return err
	}
	resp, err := s.c.Settlement.ListStatements(ctx, &settlementv1.ListStatementsRequest{AfterSequence: cursor, Limit: 200})
	if err != nil || len(resp.GetStatements()) == 0 {
		return err
	}
	events := make([]Event, 0, len(resp.GetStatements()))
	for _, st := range resp.GetStatements() {
		at := s.now().UTC()
		e := &partnerv1.Event{EventId: "statement-" + st.GetStatementId(), Type: partnerv1.EventType_EVENT_TYPE_STATEMENT_READY,
			CreateTime: timestamppb.New(at), Statement: &partnerv1.Statement{StatementId: st.GetStatementId(), CycleId: st.GetCycleId(),
				Cutoff: st.GetCutoff(), NetAmount: st.GetNetReceivable(), Postings: st.GetPostings()}}
		body, err := proto.Marshal(e)
		if err != nil {
			return err
		}
		events = append(events, Event{ID: e.GetEventId(), PartnerID: st.GetPartnerId(), Type: e.GetType().String(), Body: body, Time: at})
		cursor = st.GetSequence()
	}
	return s.store.AddStatementEvents(ctx, fence, events, cursor)
}

// ResolveDue drives every payment and refund whose next attempt is due.
func (s *Service) ResolveDue(ctx context.Context, fence *Fence) error {
	ps, err := s.store.Due(ctx, s.now(), 100)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if _, err := s.resolve(ctx, p, fence); err != nil {
			s.log.WarnContext(ctx, "resolving payment", "payment_id", p.ID, "err", err)
		}
	}
	rs, err := s.store.DueRefunds(ctx, s.now(), 100)
	if err != nil {
		return err
	}
	for _, r := range rs {
		p, err := s.store.Get(ctx, r.PaymentID)
		if err == nil {
			_, err = s.creditUser(ctx, p, r, fence)
		}
		if err != nil {
			s.log.WarnContext(ctx, "resolving refund", "refund_id", r.ID, "err", err)
		}
	}
	return nil
}

// resolve takes one step for a payment the resolver owns: a payment in U
// is inquired; a payment whose cancel was accepted (or whose window ran
// out) is reversed.
func (s *Service) resolve(ctx context.Context, p Payment, fence *Fence) (Payment, error) {
	if p.CancelRequested && !p.Status.Final() {
		return s.reverse(ctx, p)
	}
	if p.Status != Processing {
		cur, _, err := s.store.Update(ctx, p.ID, Cond{Fence: fence}, Change{Unschedule: true}, s.now(), nil)
		return cur, err
	}
	result, ref, reason, err := s.inquire(ctx, p)
	switch {
	case err == nil && result == commonv1.Result_RESULT_SUCCESS:
		return s.succeed(ctx, p, ref, "")
	case err == nil && result == commonv1.Result_RESULT_FAILURE:
		r := rpcerr.MerchantCreditFailed
		if p.Mode == CPM {
			r = rpcerr.WalletDeclined
		}
		return s.fail(ctx, p, r, reason)
	}
	if int(p.Attempts) >= len(s.cfg.Schedule) {
		// The window is over: make sure it never happens, then it is F.
		cur, applied, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing}, Fence: fence},
			Change{CancelRequested: true, FailureReason: rpcerr.PaymentTimedOut,
				FailureMessage: "outcome unknown for the whole resolution window; reversed"}, s.now(), nil)
		if err != nil || !applied {
			return cur, err
		}
		return s.reverse(ctx, cur)
	}
	next := s.now().Add(s.cfg.Schedule[p.Attempts])
	cur, _, uerr := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing}, Fence: fence}, Change{Schedule: &next}, s.now(), nil)
	return cur, uerr
}

// inquire asks the downstream what became of a payment. A downstream that
// never received the request answers as U: only a reversal settles it.
func (s *Service) inquire(ctx context.Context, p Payment) (commonv1.Result, string, string, error) {
	if p.Mode == CPM {
		w, err := s.wallet(p)
		if err != nil {
			return 0, "", "", err
		}
		resp, err := w.InquireAuthorization(ctx, &partnerv1.InquireAuthorizationRequest{PaymentId: p.ID})
		if status.Code(err) == codes.NotFound {
			return commonv1.Result_RESULT_UNKNOWN, "", "", nil
		}
		return resp.GetResult(), resp.GetPartnerReference(), resp.GetFailureReason() + " " + resp.GetFailureMessage(), err
	}
	conn, err := s.c.Conns.Get(p.NetworkEndpoint)
	if err != nil {
		return 0, "", "", err
	}
	resp, err := merchantv1.NewMerchantNetworkServiceClient(conn).InquireCredit(ctx, &merchantv1.InquireCreditRequest{CreditId: p.ID})
	if status.Code(err) == codes.NotFound {
		return commonv1.Result_RESULT_UNKNOWN, "", "", nil
	}
	return resp.GetResult(), resp.GetNetworkReference(), resp.GetFailureReason() + " " + resp.GetFailureMessage(), err
}

// StreamEvents sends a partner's events after cursor, in sequence order,
// then keeps sending new ones until ctx ends or send fails.
func (s *Service) StreamEvents(ctx context.Context, partnerID string, cursor int64, send func(*partnerv1.Event) error) error {
	poll := min(s.cfg.Tick, 100*time.Millisecond)
	for {
		evs, err := s.store.ListEvents(ctx, partnerID, cursor, 100)
		if err != nil {
			return err
		}
		for _, e := range evs {
			var ev partnerv1.Event
			if e.Body != nil {
				if err := proto.Unmarshal(e.Body, &ev); err != nil {
					return fmt.Errorf("acquirer: event %s: %w", e.ID, err)
				}
			} else {
				// A payment event: the payment as it stands now.
				p, err := s.store.Get(ctx, e.PaymentID)
				if err != nil {
					return fmt.Errorf("acquirer: event %s: %w", e.ID, err)
				}
				ev = partnerv1.Event{EventId: e.ID, Type: partnerv1.EventType(partnerv1.EventType_value[e.Type]),
					CreateTime: timestamppb.New(e.Time), Payment: PaymentToProto(p)}
			}
			ev.Sequence = e.Sequence
			if err := send(&ev); err != nil {
				return err
			}
			cursor = e.Sequence
		}
		if len(evs) == 100 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}
