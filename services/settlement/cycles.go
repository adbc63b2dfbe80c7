package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
)

// Cycle is a closed settlement cycle.
type Cycle struct {
	ID        string
	Cutoff    time.Time
	CloseTime time.Time
	Postings  int64
}

// Statement nets one partner's receivable entries of one cycle in one
// currency: what the partner owes for its payments less refunds and cancels.
type Statement struct {
	ID            string
	Sequence      int64
	CycleID       string
	PartnerID     string
	NetReceivable money.Amount // may be zero or negative
	Postings      int64
	Cutoff        time.Time
}

// CycleID names the cycle closing at cutoff.
func CycleID(cutoff time.Time) string {
	return "cycle-" + cutoff.UTC().Format("20060102T150405.000000Z")
}

// ErrFenced: a newer cutoff writer has claimed the fence, so this one must
// stop; the close it attempted wrote nothing.
var ErrFenced = errors.New("settlement: fenced off by a newer cutoff writer")

// Fence is the elected cutoff writer's fencing token: the fence's name and
// the election term's revision. A close that carries one applies only while
// Revision is the newest claimed (ClaimFence).
type Fence struct {
	Name     string
	Revision int64
}

// CutoffFence names the fence of the elected cutoff writer.
const CutoffFence = "settlement-cutoff"

// cancelReversalKindPrefix starts the posting kind of a payment's cancel
// reversal, "reversal:cancel-<payment_id>": the acquirer posts a cancel as
// the payment plus a full reversal whose reversal id is "cancel-<payment_id>".
const cancelReversalKindPrefix = "reversal:cancel-"

// CycleStore keeps cycles and statements; part of Store.
type CycleStore interface {
	// CloseCycle assigns to a new cycle, in one transaction, every open
	// posting made before cutoff except those of a payment held for cancel
	// whose cancel reversal was not posted before cutoff, and writes the
	// cycle's statements; closing a cutoff again returns the existing
	// cycle. With a fence it returns ErrFenced, writing nothing, unless the
	// fence holds.
	CloseCycle(ctx context.Context, cutoff, now time.Time, fence *Fence) (Cycle, []Statement, error)
	// ListStatements returns statements after a sequence.
	ListStatements(ctx context.Context, after int64, limit int) ([]Statement, error)
	// PaymentCycle returns the closed cycle holding a payment's posting, or "".
	PaymentCycle(ctx context.Context, paymentID string) (string, error)
	// HoldForCancel, in one transaction: if the payment is held already it
	// answers held; if the payment's posting is in a cycle it answers that
	// cycle, not held; otherwise it holds the payment (see CloseCycle).
	HoldForCancel(ctx context.Context, paymentID string, now time.Time) (held bool, cycleID string, err error)
	// ClaimFence raises the named fence to rev and reports true, unless it
	// is above rev already.
	ClaimFence(ctx context.Context, name string, rev int64) (bool, error)
	// ListCycles returns up to limit closed cycles with a cutoff before
	// before (all when zero), newest first.
	ListCycles(ctx context.Context, before time.Time, limit int) ([]Cycle, error)
	// Statement returns a statement, or ErrStatementNotFound.
	Statement(ctx context.Context, id string) (Statement, error)
	// StatementRows calls fn with each of the statement's rows, in the
	// order they were posted, as the database returns them.
	StatementRows(ctx context.Context, st Statement, fn func(StatementRow) error) error
}

// CloseCycle closes the cycle at cutoff. fence is nil for an operator's
// close and the elected writer's token for a scheduled one (ErrFenced if a
// newer writer exists).
func (s *Service) CloseCycle(ctx context.Context, cutoff time.Time, fence *Fence) (Cycle, []Statement, error) {
	cutoff = cutoff.UTC().Truncate(time.Microsecond)
	if cutoff.After(s.now()) {
		return Cycle{}, nil, fmt.Errorf("settlement: cutoff %s is in the future", cutoff.Format(time.RFC3339))
	}
	return s.store.CloseCycle(ctx, cutoff, s.now(), fence)
}

// ListStatements returns statements after a sequence.
func (s *Service) ListStatements(ctx context.Context, after int64, limit int) ([]Statement, error) {
	return s.store.ListStatements(ctx, after, limit)
}

// PaymentCycle returns the closed cycle that settled a payment, or "".
func (s *Service) PaymentCycle(ctx context.Context, paymentID string) (string, error) {
	return s.store.PaymentCycle(ctx, paymentID)
}

// HoldForCancel decides between cancelling a payment and settling it, once:
// held is true if the payment is now (or was already) kept out of every
// cycle until its cancel reversal is posted; otherwise cycleID names the
// closed cycle that settled it, and the cancel must be refused.
func (s *Service) HoldForCancel(ctx context.Context, paymentID string) (held bool, cycleID string, err error) {
	return s.store.HoldForCancel(ctx, paymentID, s.now())
}

// CheckInvariants returns every violated ledger invariant, none when the
// ledger is sound.
func (s *Service) CheckInvariants(ctx context.Context) ([]string, error) {
	return s.store.CheckInvariants(ctx)
}

// RunCutoffs closes a cycle at every multiple of interval (UTC) until ctx
// ends, as the elected writer of the election term at revision: it claims
// the fence CutoffFence at that revision first and every close carries it.
// It returns an error if a newer writer has claimed the fence, at the start
// or at a close (ErrFenced); other failed closes go to onError.
func (s *Service) RunCutoffs(ctx context.Context, revision int64, interval time.Duration, onError func(error)) error {
	ok, err := s.store.ClaimFence(ctx, CutoffFence, revision)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: revision %d is stale", ErrFenced, revision)
	}
	fence := &Fence{Name: CutoffFence, Revision: revision}
	for {
		next := s.now().UTC().Truncate(interval).Add(interval)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
		_, _, err := s.CloseCycle(ctx, next, fence)
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, ErrFenced):
			return err
		default:
			onError(err)
		}
	}
}
