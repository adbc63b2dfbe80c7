package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Cycle is a closed settlement cycle: one partner's, or (PartnerID "")
// every partner's at once.
type Cycle struct {
	ID        string
	PartnerID string
	Cutoff    time.Time
	CloseTime time.Time
	Postings  int64
}

// NetworkStatement is the mirror of a cycle's statements for one merchant
// network and currency: what Unigate owes the network for the cycle's
// payments less their refunds and cancels.
type NetworkStatement struct {
	ID         string
	CycleID    string
	NetworkID  string
	NetPayable money.Amount // credit-positive: what Unigate owes
	Postings   int64
	Cutoff     time.Time
	// Gross is the cycle's payments less its cancels; Fee what the
	// network's agreement charged on it (deducted from NetPayable).
	Gross, Fee int64
}

// Statement nets one partner's receivable entries of one cycle in one
// currency: what the partner owes for its payments less refunds and
// cancels, plus its settlement fee.
type Statement struct {
	ID            string
	Sequence      int64
	CycleID       string
	PartnerID     string
	NetReceivable money.Amount // may be zero or negative
	Postings      int64
	Cutoff        time.Time
	// Gross is the cycle's payments less its cancels; Fee what the
	// partner's agreement charged on it (included in NetReceivable).
	Gross, Fee int64
	// NetworkID is set when this is a network statement seen as a
	// statement (Service.Statement, files, reconciliation): NetReceivable
	// then holds its NetPayable, and PartnerID is empty.
	NetworkID string
}

// AsStatement is the network statement as files and reconciliation see
// a statement.
func (n NetworkStatement) AsStatement() Statement {
	return Statement{ID: n.ID, CycleID: n.CycleID, NetworkID: n.NetworkID, NetReceivable: n.NetPayable,
		Postings: n.Postings, Cutoff: n.Cutoff, Gross: n.Gross, Fee: n.Fee}
}

// CycleID names the cycle of a partner ("" for every partner) closing at
// cutoff.
func CycleID(cutoff time.Time, partner string) string {
	id := "cycle-" + cutoff.UTC().Format("20060102T150405.000000Z")
	if partner != "" {
		id += "-" + partner
	}
	return id
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
	// posting of the partner (of every partner when "") made before cutoff
	// except those of a payment held for cancel whose cancel reversal was
	// not posted before cutoff, and writes the cycle's statements and
	// network statements; closing a cutoff again returns the existing
	// cycle. A cutoff before that of a closed cycle that could have taken
	// the same postings is refused (CUTOFF_OUT_OF_ORDER). With a fence it
	// returns ErrFenced, writing nothing, unless the fence holds.
	// Each statement and network statement is charged its agreement's fee
	// (fees, none when nil) by a fee posting in the cycle.
	CloseCycle(ctx context.Context, partner string, cutoff, now time.Time, fence *Fence, fees Fees) (Cycle, []Statement, error)
	// NetworkStatements returns a cycle's network statements.
	NetworkStatements(ctx context.Context, cycleID string) ([]NetworkStatement, error)
	// ListNetworkStatements returns up to limit network statements, of one
	// network when networkID is set, with a cutoff before before (all when
	// zero), newest first.
	ListNetworkStatements(ctx context.Context, networkID string, before time.Time, limit int) ([]NetworkStatement, error)
	// LatestCutoff returns the newest cutoff of the closed cycles that took
	// or could take the partner's postings (its own and those of every
	// partner), or zero.
	LatestCutoff(ctx context.Context, partner string) (time.Time, error)
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

// CloseCycle closes the cycle of every partner at cutoff. fence is nil
// for an operator's close and the elected writer's token for a scheduled
// one (ErrFenced if a newer writer exists).
func (s *Service) CloseCycle(ctx context.Context, cutoff time.Time, fence *Fence) (Cycle, []Statement, error) {
	return s.ClosePartnerCycle(ctx, "", cutoff, fence)
}

// ClosePartnerCycle closes one partner's cycle at cutoff (every partner's
// when partner is ""), as CloseCycle.
func (s *Service) ClosePartnerCycle(ctx context.Context, partner string, cutoff time.Time, fence *Fence) (Cycle, []Statement, error) {
	cutoff = cutoff.UTC().Truncate(time.Microsecond)
	if cutoff.After(s.now()) {
		return Cycle{}, nil, rpcerr.Field(rpcerr.InvalidArgument, "cutoff", "%s is in the future", cutoff.Format(time.RFC3339Nano))
	}
	now := s.now()
	c, sts, err := s.store.CloseCycle(ctx, partner, cutoff, now, fence, s.fees)
	if err == nil {
		countClose(c, now, fence)
	}
	return c, sts, err
}

// NetworkStatements returns a cycle's network statements.
func (s *Service) NetworkStatements(ctx context.Context, cycleID string) ([]NetworkStatement, error) {
	return s.store.NetworkStatements(ctx, cycleID)
}

// ListNetworkStatements returns network statements, newest first.
func (s *Service) ListNetworkStatements(ctx context.Context, networkID string, before time.Time, limit int) ([]NetworkStatement, error) {
	return s.store.ListNetworkStatements(ctx, networkID, before, limit)
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

// Schedule is when one partner's cycles close: daily at a time of day in
// its time zone, or at every multiple of an interval (UTC).
type Schedule struct {
	PartnerID string
	// Location set: the cutoff is at Daily after midnight, wall-clock, in
	// Location, every day.
	Location *time.Location
	Daily    time.Duration
	// Location nil: cutoffs at every multiple of Interval (none if zero).
	Interval time.Duration
}

// LastCutoff returns the schedule's latest cutoff at or before now, or
// zero if it has none. A daily cutoff is the wall-clock time in its zone:
// on a day when the clock skips that time the cutoff is where time.Date
// normalises it (an hour later); on a day it repeats, the first.
func (sc Schedule) LastCutoff(now time.Time) time.Time {
	if sc.Location == nil {
		if sc.Interval <= 0 {
			return time.Time{}
		}
		return now.UTC().Truncate(sc.Interval)
	}
	local := now.In(sc.Location)
	h, m := int(sc.Daily/time.Hour), int(sc.Daily%time.Hour/time.Minute)
	at := time.Date(local.Year(), local.Month(), local.Day(), h, m, 0, 0, sc.Location)
	if at.After(now) {
		at = time.Date(local.Year(), local.Month(), local.Day()-1, h, m, 0, 0, sc.Location)
	}
	return at.UTC()
}

// CutoffTick is how often RunCutoffs looks for a cutoff that has passed.
var CutoffTick = time.Second

// RunCutoffs closes, until ctx ends, each partner's cycle once its
// schedule's cutoff has passed, as the elected writer of the election term
// at revision: it claims the fence CutoffFence at that revision first and
// every close carries it. schedules is read at every tick, so a partner's
// new cutoff applies at once. A partner whose cutoffs were missed (the
// writer was down) gets one cycle at the latest: nothing is lost, the
// cycle takes every open posting before it. It returns an error if a
// newer writer has claimed the fence (ErrFenced); other failed closes go
// to onError and are tried again at the next tick.
func (s *Service) RunCutoffs(ctx context.Context, revision int64, schedules func() []Schedule, onError func(error)) error {
	ok, err := s.store.ClaimFence(ctx, CutoffFence, revision)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: revision %d is stale", ErrFenced, revision)
	}
	fence := &Fence{Name: CutoffFence, Revision: revision}
	closed := map[string]time.Time{} // the newest cutoff known closed, per partner
	tick := time.NewTicker(CutoffTick)
	defer tick.Stop()
	for {
		for _, sc := range schedules() {
			due := sc.LastCutoff(s.now())
			if due.IsZero() || !due.After(closed[sc.PartnerID]) {
				continue
			}
			latest, err := s.store.LatestCutoff(ctx, sc.PartnerID)
			if err != nil {
				onError(err)
				continue
			}
			if due.After(latest) {
				_, _, err = s.ClosePartnerCycle(ctx, sc.PartnerID, due, fence)
			}
			switch {
			case err == nil || rpcerr.ReasonOf(err) == rpcerr.CutoffOutOfOrder:
				// A later cycle took the postings: nothing is left to close.
				closed[sc.PartnerID] = due
			case errors.Is(err, ErrFenced):
				return err
			case ctx.Err() == nil:
				onError(fmt.Errorf("partner %s cutoff %s: %w", sc.PartnerID, due.Format(time.RFC3339), err))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
