package acquirer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Service orchestrates payments.
type Service struct {
	d    Deps
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	kick chan struct{} // wakes the poster

	mu       sync.Mutex
	inflight sync.WaitGroup // request-path work past its row's insert
	draining bool

	stats struct{ reviews, unnamed, deferred atomic.Int64 }
}

// Stats are counts of risk outcomes an operator watches, since the
// service started.
type Stats struct {
	// Reviews: payments risk let through for an analyst's review.
	Reviews int64
	// UnnamedUsers: CPM payments that succeeded without risk moving them to
	// their user's limits — the partner named no user (in Authorize's
	// answer, or in the inquiry's when that answer was lost), or risk
	// cannot name users.
	UnnamedUsers int64
	// NamingDeferred: NameUser calls that got no answer; the payment stayed
	// U and the resolver asked again.
	NamingDeferred int64
}

// Stats returns the counts so far.
func (s *Service) Stats() Stats {
	return Stats{Reviews: s.stats.reviews.Load(), UnnamedUsers: s.stats.unnamed.Load(), NamingDeferred: s.stats.deferred.Load()}
}

// NewService returns a Service; cfg must be valid.
func NewService(d Deps, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{d: d, cfg: cfg.WithDefaults(), log: log, now: now, kick: make(chan struct{}, 1)}
}

// Config returns the lifecycle configuration in force.
func (s *Service) Config() Config { return s.cfg }

// begin marks request-path work that will outlive its caller (bounded by
// ProcessBound): the returned context survives the caller hanging up.
// Drain waits for it. ok=false when the service is draining: the row is
// then left to the resolver, which owns it from birth.
func (s *Service) begin(ctx context.Context) (_ context.Context, done func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, nil, false
	}
	s.inflight.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProcessBound)
	return ctx, func() { cancel(); s.inflight.Done() }, true
}

// Drain stops the request path from starting new downstream work and
// waits, until ctx ends, for the work in flight. Call it after the gRPC
// server stopped and before the database closes; whatever it leaves is in
// rows the resolver owns.
func (s *Service) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// at is the time of a write, at the database's precision.
func (s *Service) at() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// succeed records that the money moved. If a cancel was accepted while the
// payment was in flight, the cancel wins: the payment is reversed instead.
func (s *Service) succeed(ctx context.Context, p Payment, out Outcome, f *Fence) (Payment, error) {
	ref, user := Clean(out.Reference, MaxReference), Clean(out.UserRef, MaxReference)
	done, applied, err := s.d.Store.MarkSucceeded(ctx, p.ID, ref, user, s.at(), f)
	if err != nil {
		return s.keep(ctx, p, "recording success", err)
	}
	if applied {
		counted(p, resultS)
		s.kickPoster()
		return done, nil
	}
	return s.overtaken(ctx, done, ref, f)
}

// overtaken handles money that moved for a payment that changed under us
// (cur as it now stands): if a cancel was accepted meanwhile, the cancel
// wins and the money is taken back; otherwise cur is already past this.
func (s *Service) overtaken(ctx context.Context, cur Payment, ref string, f *Fence) (Payment, error) {
	if cur.Status == Processing && cur.CancelRequested {
		credited, _, err := s.d.Store.MarkCredited(ctx, cur.ID, ref, s.at(), f)
		if err != nil {
			return s.keep(ctx, cur, "recording a late credit", err)
		}
		return s.reverse(ctx, credited, f)
	}
	return cur, nil
}

// fail records that no money moved.
func (s *Service) fail(ctx context.Context, p Payment, reason rpcerr.Reason, msg string, f *Fence) (Payment, error) {
	done, applied, err := s.d.Store.MarkFailed(ctx, p.ID, reason, Clean(msg, MaxMessage), s.at(), f)
	if err != nil {
		return s.keep(ctx, p, "recording failure", err)
	}
	if applied {
		counted(p, resultF)
		s.release(ctx, p.ID)
	}
	return done, nil
}

// unknown leaves the payment in U and brings the resolver's first inquiry
// forward.
func (s *Service) unknown(ctx context.Context, p Payment, why error) (Payment, error) {
	s.log.WarnContext(ctx, "payment outcome unknown; resolver takes over", "payment_id", p.ID, "err", paycode.Redact(why.Error()))
	done, _, err := s.d.Store.Reschedule(ctx, p.ID, s.now().Add(s.cfg.Schedule[0]), s.at(), nil)
	if err != nil {
		return s.keep(ctx, p, "scheduling inquiry", err)
	}
	counted(p, resultU)
	return done, nil
}

// keep answers with p as it stood when a write that would have finished
// it failed: the row is still scheduled for the resolver, which finishes
// it, so the caller gets U (or the last known state), never an error that
// could be mistaken for F.
func (s *Service) keep(ctx context.Context, p Payment, what string, err error) (Payment, error) {
	if errors.Is(err, ErrFenced) {
		return p, err
	}
	s.log.ErrorContext(ctx, "write failed; the resolver finishes the payment", "what", what, "payment_id", p.ID, "err", err)
	return p, nil
}

func (s *Service) release(ctx context.Context, id string) {
	if err := s.d.Risk.Release(ctx, id); err != nil {
		s.log.WarnContext(ctx, "risk release failed", "payment_id", id, "err", err)
	}
}

// Get returns a partner's payment by id or key. Another partner's payment
// is reported as not found.
func (s *Service) Get(ctx context.Context, partnerID, id, key string) (Payment, error) {
	var (
		p   Payment
		err error
	)
	if id != "" {
		p, err = s.d.Store.Payment(ctx, id)
	} else {
		p, err = s.d.Store.PaymentByKey(ctx, partnerID, key)
	}
	if err != nil {
		return Payment{}, err
	}
	if p.PartnerID != partnerID {
		return Payment{}, ErrPaymentNotFound
	}
	return p, nil
}

// GetByOrder returns a network's CPM payment by order id.
func (s *Service) GetByOrder(ctx context.Context, networkID, orderID string) (Payment, error) {
	return s.d.Store.PaymentByOrder(ctx, networkID, orderID)
}

// GetForNetwork returns a payment by id if it is one of the network's.
func (s *Service) GetForNetwork(ctx context.Context, networkID, id string) (Payment, error) {
	p, err := s.d.Store.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if p.Merchant.NetworkID != networkID {
		return Payment{}, ErrPaymentNotFound
	}
	return p, nil
}
