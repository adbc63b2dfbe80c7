package settlement

import (
	"context"
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

// CycleStore keeps cycles and statements; part of Store.
type CycleStore interface {
	// CloseCycle assigns every open posting made before cutoff to a new
	// cycle and writes its statements, in one transaction; closing a
	// cutoff again returns the existing cycle.
	CloseCycle(ctx context.Context, cutoff, now time.Time) (Cycle, []Statement, error)
	// ListStatements returns statements after a sequence.
	ListStatements(ctx context.Context, after int64, limit int) ([]Statement, error)
	// PaymentCycle returns the closed cycle holding a payment's posting, or "".
	PaymentCycle(ctx context.Context, paymentID string) (string, error)
}

// CloseCycle closes the cycle at cutoff.
func (s *Service) CloseCycle(ctx context.Context, cutoff time.Time) (Cycle, []Statement, error) {
	cutoff = cutoff.UTC().Truncate(time.Microsecond)
	if cutoff.After(s.now()) {
		return Cycle{}, nil, fmt.Errorf("settlement: cutoff %s is in the future", cutoff.Format(time.RFC3339))
	}
	return s.store.CloseCycle(ctx, cutoff, s.now())
}

// ListStatements returns statements after a sequence.
func (s *Service) ListStatements(ctx context.Context, after int64, limit int) ([]Statement, error) {
	return s.store.ListStatements(ctx, after, limit)
}

// PaymentCycle returns the closed cycle that settled a payment, or "".
func (s *Service) PaymentCycle(ctx context.Context, paymentID string) (string, error) {
	return s.store.PaymentCycle(ctx, paymentID)
}

// RunCutoffs closes a cycle at every multiple of interval (UTC) until ctx
// ends. Run it in one replica: the elected one.
func (s *Service) RunCutoffs(ctx context.Context, interval time.Duration, onError func(error)) error {
	for {
		next := s.now().UTC().Truncate(interval).Add(interval)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
		if _, _, err := s.CloseCycle(ctx, next); err != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}
