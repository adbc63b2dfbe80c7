package acquirer

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/telemetry"
)

func (s *Service) kickPoster() {
	select {
	case s.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// cancelReversal is the reversal id of a cancel.
func cancelReversal(paymentID string) string { return "cancel-" + paymentID }

// ledgerPosting is p's posting (reversalID "") or the reversal of all of
// it, with the payment's own amounts: a cancel gives back exactly what
// was paid, in every currency.
func ledgerPosting(p Payment, reversalID string) LedgerPosting {
	return LedgerPosting{PaymentID: p.ID, PartnerID: p.PartnerID, NetworkID: p.Merchant.NetworkID, MerchantID: p.Merchant.ID,
		Wallet: p.WalletAmount, Settlement: p.SettlementAmount, Cost: p.CostAmount, Merchant: p.MerchantAmount, ReversalID: reversalID}
}

// refundPosting is the reversal of the part of p that r refunds, with the
// amounts r was priced at.
func refundPosting(p Payment, r Refund) LedgerPosting {
	lp := ledgerPosting(p, r.ID)
	lp.Wallet, lp.Settlement, lp.Cost, lp.Merchant = r.WalletAmount, r.SettlementAmount, r.CostAmount, r.MerchantAmount
	return lp
}

// postItem is one outbox row and the postings it owes: a succeeded
// payment one, a cancelled one whose money had moved two (the payment and
// its full reversal), a cancelled one whose money never moved none, a
// succeeded refund one.
type postItem struct {
	payment  *Payment
	refundID string
	postings []LedgerPosting
	// traceParent is the trace of the payment the row belongs to.
	traceParent string
}

func (it postItem) id() string {
	if it.payment != nil {
		return it.payment.ID
	}
	return it.refundID
}

// postingBatch is how many outbox rows the poster reads at a time, of
// each kind; a batch sent to the ledger never holds more than MaxPostings
// postings.
const postingBatch = 200

// PostPending delivers owed ledger postings — succeeded payments, cancels
// of payments whose money had moved, succeeded refunds — in batches of at
// most MaxPostings postings, one ledger transaction each, until none is
// left. A row the ledger refuses is found by halving the batch, set aside
// (PostingError) with an alert, and the rest go on. It returns how many
// rows it marked posted.
func (s *Service) PostPending(ctx context.Context) (int, error) {
	total := 0
	for {
		ps, err := s.d.Store.Unposted(ctx, postingBatch)
		if err != nil {
			return total, err
		}
		rs, err := s.d.Store.UnpostedRefunds(ctx, postingBatch)
		if err != nil {
			return total, err
		}
		if len(ps) == 0 && len(rs) == 0 {
			return total, nil
		}
		items := make([]postItem, 0, len(ps)+len(rs))
		for i := range ps {
			p := &ps[i]
			it := postItem{payment: p, traceParent: p.TraceParent}
			switch {
			case p.Status == Succeeded:
				it.postings = []LedgerPosting{ledgerPosting(*p, "")}
			case p.Status == Cancelled && p.Credited:
				it.postings = []LedgerPosting{ledgerPosting(*p, ""), ledgerPosting(*p, cancelReversal(p.ID))}
			}
			items = append(items, it)
		}
		for _, rp := range rs {
			items = append(items, postItem{refundID: rp.Refund.ID, postings: []LedgerPosting{refundPosting(rp.Payment, rp.Refund)},
				traceParent: rp.Payment.TraceParent})
		}
		for len(items) > 0 {
			n, count := 0, 0
			for n < len(items) && count+len(items[n].postings) <= MaxPostings {
				count += len(items[n].postings)
				n++
			}
			marked, err := s.postTraced(ctx, items[:n])
			total += marked
			if err != nil {
				return total, err
			}
			items = items[n:]
		}
		if len(ps) < postingBatch && len(rs) < postingBatch {
			return total, nil
		}
	}
}

// postTraced is post within a span that continues the trace of the
// batch's first payment and links those of the others, so that a
// payment's trace shows its ledger posting (telemetry.StartBatch).
func (s *Service) postTraced(ctx context.Context, items []postItem) (int, error) {
	parents := make([]string, len(items))
	for i, it := range items {
		parents[i] = it.traceParent
	}
	ctx, span := telemetry.StartBatch(ctx, parents, "acquirer.post-ledger",
		trace.WithAttributes(attribute.Int("unigate.batch_size", len(items))))
	defer span.End()
	if len(items) == 1 {
		span.SetAttributes(telemetry.PaymentIDKey.String(items[0].id()))
	}
	n, err := s.post(ctx, items)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return n, err
}

// permanent reports whether the ledger refused a batch for what is in it
// (so sending it again cannot help) rather than for being unreachable.
func permanent(err error) bool {
	switch rpcerr.ReasonOf(err) {
	case rpcerr.PostingConflict, rpcerr.UnbalancedPosting, rpcerr.InvalidArgument, rpcerr.InvalidAmount, rpcerr.UnsupportedCurrency:
		return true
	}
	return false
}

// post sends items in one ledger call and marks them posted; if the ledger
// refuses the batch for its contents, it halves the batch until it finds
// the rows at fault and sets those aside.
func (s *Service) post(ctx context.Context, items []postItem) (int, error) {
	var all []LedgerPosting
	for _, it := range items {
		all = append(all, it.postings...)
	}
	var err error
	if len(all) > 0 {
		err = s.d.Ledger.Post(ctx, all)
	}
	switch {
	case err == nil:
		return len(items), s.markPosted(ctx, items)
	case !permanent(err):
		return 0, err
	case len(items) == 1:
		it := items[0]
		s.log.ErrorContext(ctx, "ALERT ledger refuses a posting; set aside for an operator",
			"alert", "POSTING_POISONED", "id", it.id(), "refund", it.payment == nil, "err", err)
		if err := s.d.Store.MarkPostingPoisoned(ctx, it.id(), it.payment == nil, Clean(err.Error(), MaxMessage)); err != nil {
			return 0, err
		}
		return 0, nil
	}
	half := len(items) / 2
	a, err := s.post(ctx, items[:half])
	if err != nil {
		return a, err
	}
	b, err := s.post(ctx, items[half:])
	return a + b, err
}

func (s *Service) markPosted(ctx context.Context, items []postItem) error {
	var (
		ps  []Payment
		ids []string
	)
	for _, it := range items {
		if it.payment != nil {
			ps = append(ps, *it.payment)
		} else {
			ids = append(ids, it.refundID)
		}
	}
	return errors.Join(s.d.Store.MarkPosted(ctx, ps), s.d.Store.MarkRefundsPosted(ctx, ids))
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
