package acquirer

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/unigate/unigate/pkg/telemetry"
)

func isFenced(err error) bool { return errors.Is(err, ErrFenced) }

// resolver drives payments and refunds whose next attempt is due. Each is
// worked on by its own goroutine, at most Workers at once and at most
// PerEndpoint per downstream endpoint, so a silent network holds up only
// its own payments.
type resolver struct {
	s     *Service
	fence *Fence

	mu       sync.Mutex
	busy     map[string]bool // payment and refund ids being worked on
	perEP    map[string]int  // calls in flight per endpoint
	inFlight int
	wg       sync.WaitGroup
	fenced   chan struct{}
	once     sync.Once
}

func (s *Service) runResolver(ctx context.Context, f Fence) error {
	r := &resolver{s: s, fence: &f, busy: map[string]bool{}, perEP: map[string]int{}, fenced: make(chan struct{})}
	defer r.wg.Wait()
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if err := r.dispatch(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "resolver", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.fenced:
			return ErrFenced
		case <-t.C:
		}
	}
}

// ResolveDue works once through what is due, waiting for it: the
// resolver's step, for tests and tools. f may be nil outside a term.
func (s *Service) ResolveDue(ctx context.Context, f *Fence) error {
	r := &resolver{s: s, fence: f, busy: map[string]bool{}, perEP: map[string]int{}, fenced: make(chan struct{})}
	err := r.dispatch(ctx)
	r.wg.Wait()
	return err
}

// saturated lists the ids in work and the endpoints at their limit.
func (r *resolver) saturated() (ids, endpoints []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.busy {
		ids = append(ids, id)
	}
	for ep, n := range r.perEP {
		if n >= r.s.cfg.PerEndpoint {
			endpoints = append(endpoints, ep)
		}
	}
	return ids, endpoints
}

// start claims a slot for id at endpoint; false if none is free.
func (r *resolver) start(id, endpoint string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[id] || r.perEP[endpoint] >= r.s.cfg.PerEndpoint || r.inFlight >= r.s.cfg.Workers {
		return false
	}
	r.busy[id] = true
	r.perEP[endpoint]++
	r.inFlight++
	return true
}

func (r *resolver) finish(id, endpoint string, err error) {
	r.mu.Lock()
	delete(r.busy, id)
	r.perEP[endpoint]--
	if r.perEP[endpoint] == 0 {
		delete(r.perEP, endpoint)
	}
	r.inFlight--
	r.mu.Unlock()
	if isFenced(err) {
		r.once.Do(func() { close(r.fenced) })
	}
}

func (r *resolver) dispatch(ctx context.Context) error {
	s := r.s
	ids, eps := r.saturated()
	limit := 2 * s.cfg.Workers
	ps, err := s.d.Store.DuePayments(ctx, s.now(), limit, ids, eps)
	if err != nil {
		return err
	}
	for _, p := range ps {
		ep := p.downstream()
		if !r.start(p.ID, ep) {
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			ctx, span := telemetry.Resume(ctx, p.TraceParent, "acquirer.resolve", telemetry.PaymentIDKey.String(p.ID),
				telemetry.PartnerIDKey.String(p.PartnerID), attribute.Int64("unigate.attempt", p.Attempts+1))
			defer span.End()
			_, err := s.resolve(ctx, p, r.fence)
			if err != nil && ctx.Err() == nil {
				span.SetStatus(codes.Error, err.Error())
				s.log.WarnContext(ctx, "resolving payment", "payment_id", p.ID, "err", err)
			}
			r.finish(p.ID, ep, err)
		}()
	}
	rs, err := s.d.Store.DueRefunds(ctx, s.now(), limit, ids)
	if err != nil {
		return err
	}
	for _, rf := range rs {
		p, err := s.d.Store.Payment(ctx, rf.PaymentID)
		if err != nil {
			return err
		}
		ep := p.PartnerEndpoint
		if !r.start(rf.ID, ep) {
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			ctx, span := telemetry.Resume(ctx, p.TraceParent, "acquirer.resolve-refund", telemetry.PaymentIDKey.String(p.ID),
				telemetry.RefundIDKey.String(rf.ID))
			defer span.End()
			_, err := s.creditUser(ctx, p, rf, r.fence)
			if err != nil && ctx.Err() == nil {
				span.SetStatus(codes.Error, err.Error())
				s.log.WarnContext(ctx, "resolving refund", "refund_id", rf.ID, "err", err)
			}
			r.finish(rf.ID, ep, err)
		}()
	}
	return nil
}

// resolve takes one step for a payment the resolver owns: a payment in U
// is inquired; a CPM payment authorized but whose user risk has not yet
// named is named; a payment whose cancel was accepted (or whose window
// ran out) is reversed; anything else has nothing left to do.
func (s *Service) resolve(ctx context.Context, p Payment, f *Fence) (Payment, error) {
	switch {
	case p.CancelRequested && !p.Status.Final():
		return s.reverse(ctx, p, f)
	case p.Status != Processing:
		cur, _, err := s.d.Store.Unschedule(ctx, p.ID, s.at(), f)
		return cur, err
	case p.Mode == CPM && p.Credited:
		// The authorization succeeded and was recorded with its user, and
		// then the request path died or risk did not answer: ask risk now.
		return s.name(ctx, p, f)
	}
	var (
		out Outcome
		err error
	)
	if p.Mode == CPM {
		out, err = s.d.Wallets.InquireAuthorization(ctx, p.PartnerEndpoint, p.ID)
	} else {
		out, err = s.d.Networks.InquireCredit(ctx, p.NetworkEndpoint, p.ID)
	}
	if err == nil && out.Result != Unknown {
		return s.finish(ctx, p, out, f)
	}
	// A request the downstream never received, past the request path's
	// bound, will not arrive: reverse now (which also refuses a straggler)
	// rather than wait out the schedule.
	if err == nil && out.NotReceived && !s.now().Before(p.CreateTime.Add(s.cfg.ProcessBound)) {
		return s.giveUp(ctx, p, f, "the downstream never received the request; reversed")
	}
	return s.later(ctx, p, f, "outcome unknown for the whole resolution window; reversed")
}

// later takes the resolver's next step for a payment still in U: the
// next attempt on the schedule or, once the schedule is used up, giving
// the payment up (with msg).
func (s *Service) later(ctx context.Context, p Payment, f *Fence, msg string) (Payment, error) {
	if int(p.Attempts) >= len(s.cfg.Schedule) {
		return s.giveUp(ctx, p, f, msg)
	}
	cur, _, err := s.d.Store.Reschedule(ctx, p.ID, s.now().Add(s.cfg.Schedule[p.Attempts]), s.at(), f)
	return cur, err
}

// giveUp times a payment out and reverses it: a confirmed reversal makes
// it FAILED with PAYMENT_TIMED_OUT.
func (s *Service) giveUp(ctx context.Context, p Payment, f *Fence, msg string) (Payment, error) {
	cur, applied, err := s.d.Store.TimeOut(ctx, p.ID, msg, s.now().Add(s.cfg.ReverseRetry), s.at(), f)
	if err != nil || !applied {
		return cur, err
	}
	return s.reverse(ctx, cur, f)
}
