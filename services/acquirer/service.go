package acquirer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Clients are the services the acquirer calls.
type Clients struct {
	Router     routerv1.RouterServiceClient
	FX         fxv1.FxServiceClient
	Risk       riskv1.RiskServiceClient
	Settlement settlementv1.SettlementServiceClient
	// Conns reaches merchant networks and partners' WalletPartnerService
	// at the endpoints the routing table names.
	Conns *grpcx.Pool
}

// Config tunes the lifecycle.
type Config struct {
	// CancelWindow is how long after creation a payment may be cancelled.
	CancelWindow time.Duration
	// Schedule is the resolver's back-off for a payment in U: the wait
	// before each inquiry. When it is used up the payment is reversed.
	Schedule []time.Duration
	// ReverseRetry is the wait between attempts to reverse or to finish a
	// refund once the schedule is used up.
	ReverseRetry time.Duration
	// Tick is how often the resolver and the event relay look for work.
	Tick time.Duration
}

// DefaultConfig follows the usual inquiry schedule of QR switches: a few
// seconds, then tens of seconds, then minutes (about 20 minutes in all).
func DefaultConfig() Config {
	return Config{
		CancelWindow: 24 * time.Hour,
		Schedule: []time.Duration{5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
			2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		ReverseRetry: time.Minute,
		Tick:         time.Second,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.CancelWindow <= 0 || len(c.Schedule) == 0 || c.ReverseRetry <= 0 || c.Tick <= 0 {
		return fmt.Errorf("acquirer: cancel window, schedule, reverse retry and tick must be set")
	}
	for _, d := range c.Schedule {
		if d <= 0 {
			return fmt.Errorf("acquirer: schedule steps must be positive")
		}
	}
	return nil
}

// Service orchestrates payments.
type Service struct {
	store Store
	c     Clients
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	kick  chan struct{} // wakes the poster
}

// NewService returns a Service; cfg must be valid.
func NewService(store Store, c Clients, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, c: c, cfg: cfg, log: log, now: now, kick: make(chan struct{}, 1)}
}

// processTimeout bounds the steps after a payment is recorded.
const processTimeout = 15 * time.Second

// detach returns a context that survives the caller hanging up, bounded
// by processTimeout: once recorded, a payment is driven on.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), processTimeout)
}

// idNamespace derives payment and refund ids from callers' keys (UUIDv5).
var idNamespace = uuid.MustParse("5b0f7a2e-8f1c-4d1e-9a57-0c6f3b1d2e40")

// PaymentID is the id of partner's MPM payment with key: the same key
// always names the same payment, so every step keyed by it is idempotent.
func PaymentID(partnerID, key string) string { return derivedID("mpm", partnerID, key) }

// OrderPaymentID is the id of a network's CPM payment for an order.
func OrderPaymentID(networkID, orderID string) string { return derivedID("order", networkID, orderID) }

// RefundID is the id of a network's refund request.
func RefundID(networkID, requestID string) string { return derivedID("refund", networkID, requestID) }

// derivedID is a UUIDv5 of length-prefixed parts, so no two different
// lists of parts share an id.
func derivedID(parts ...string) string {
	var b []byte
	for _, p := range parts {
		b = fmt.Appendf(b, "%d:%s;", len(p), p)
	}
	return uuid.NewSHA1(idNamespace, b).String()
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ValidateKey checks an idempotency key.
func ValidateKey(field, key string) error {
	if !keyPattern.MatchString(key) {
		return rpcerr.Field(rpcerr.InvalidArgument, field, "must be 1 to 64 characters of [A-Za-z0-9._:-]")
	}
	return nil
}

// fingerprint hashes a request's fields to tell a repeat from a reuse of
// its key.
func fingerprint(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sameRequest(p Payment, hash string) (Payment, error) {
	if p.RequestHash != hash {
		return Payment{}, rpcerr.New(rpcerr.RepeatRequestInconsistent,
			"the key was used for payment %s with a different request", p.ID)
	}
	return p, nil
}

func amountOf(m *commonv1.Money) money.Amount {
	return money.Amount{Currency: m.GetCurrency(), Minor: m.GetMinorUnits()}
}

// paymentEvent is a new payment event of type typ.
func paymentEvent(typ partnerv1.EventType) *PaymentEvent {
	return &PaymentEvent{ID: uuid.NewString(), Type: typ.String()}
}

func refundEvent(s *Service, typ partnerv1.EventType, partnerID string) func(Refund) (Event, bool) {
	return func(r Refund) (Event, bool) {
		at := s.now().UTC()
		e := &partnerv1.Event{EventId: uuid.NewString(), Type: typ, CreateTime: timestamppb.New(at), Refund: RefundToProto(r)}
		body, err := proto.Marshal(e)
		if err != nil {
			return Event{}, false
		}
		return Event{ID: e.GetEventId(), PartnerID: partnerID, Type: typ.String(), PaymentID: r.PaymentID, Body: body, Time: at}, true
	}
}

// succeed records that the money moved. If a cancel was accepted while the
// payment was in flight, the cancel wins: the payment is reversed instead.
func (s *Service) succeed(ctx context.Context, p Payment, ref, userRef string) (Payment, error) {
	done, applied, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing}, NotCancelRequested: true},
		Change{Status: Succeeded, NetworkReference: ref, UserRef: userRef, Credited: true, Unschedule: true, Unposted: true},
		s.now(), paymentEvent(partnerv1.EventType_EVENT_TYPE_PAYMENT_SUCCEEDED))
	if err != nil {
		return Payment{}, err
	}
	if applied {
		s.kickPoster()
		return done, nil
	}
	if done.Status == Processing && done.CancelRequested {
		// The cancel won the race: the money moved, so take it back.
		cur, _, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing}},
			Change{Credited: true, NetworkReference: ref}, s.now(), nil)
		if err != nil {
			return Payment{}, err
		}
		return s.reverse(ctx, cur)
	}
	return done, nil
}

// fail records that no money moved.
func (s *Service) fail(ctx context.Context, p Payment, reason rpcerr.Reason, msg string) (Payment, error) {
	done, applied, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing}},
		Change{Status: Failed, FailureReason: reason, FailureMessage: msg, Unschedule: true},
		s.now(), paymentEvent(partnerv1.EventType_EVENT_TYPE_PAYMENT_FAILED))
	if err != nil {
		return Payment{}, err
	}
	if applied {
		s.release(ctx, p.ID)
	}
	return done, nil
}

// unknown leaves the payment in U and hands it to the resolver.
func (s *Service) unknown(ctx context.Context, p Payment, why error) (Payment, error) {
	s.log.WarnContext(ctx, "payment outcome unknown; resolver takes over", "payment_id", p.ID, "err", why)
	next := s.now().Add(s.cfg.Schedule[0])
	done, _, err := s.store.Update(ctx, p.ID, Cond{Statuses: []Status{Processing}}, Change{Schedule: &next}, s.now(), nil)
	return done, err
}

func (s *Service) release(ctx context.Context, id string) {
	if _, err := s.c.Risk.Release(ctx, &riskv1.ReleaseRequest{PaymentId: id}); err != nil {
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
		p, err = s.store.Get(ctx, id)
	} else {
		p, err = s.store.GetByKey(ctx, partnerID, key)
	}
	if err != nil {
		return Payment{}, err
	}
	if p.PartnerID != partnerID {
		return Payment{}, ErrPaymentNotFound
	}
	return p, nil
}
