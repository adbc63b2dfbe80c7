// Package risk is Unigate's risk service. For now it runs the
// pre-transaction checks: a block list (users, merchants, merchant
// categories), a per-payment limit per partner, a per-payment limit per
// user and a daily cumulative limit per user. A decision is recorded per
// payment, so evaluating a payment again returns the first decision, and
// the amount an approved payment reserves against the daily limit is given
// back by Release when the payment fails.
package risk

import (
	"context"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Limits are amount limits in one currency (the merchant currency they
// apply to). A zero Minor means "no limit" for that check.
type Limits struct {
	PerPayment     money.Amount
	PerUserPayment money.Amount
	PerUserDaily   money.Amount
}

// Config configures the checks.
type Config struct {
	// Default applies to partners without their own limits.
	Default  Limits
	Partners map[string]Limits
	// BlockedUsers holds "partner/user_ref"; BlockedMerchants
	// "network/merchant_id"; BlockedMCCs four-digit codes.
	BlockedUsers     []string
	BlockedMerchants []string
	BlockedMCCs      []string
	// Day is the time zone whose calendar day the daily limit counts.
	Day *time.Location
}

// Validate checks the configuration.
func (c Config) Validate() error {
	check := func(who string, l Limits) error {
		cur := ""
		for _, a := range []money.Amount{l.PerPayment, l.PerUserPayment, l.PerUserDaily} {
			if a.Minor == 0 {
				continue
			}
			if _, err := money.New(a.Currency, a.Minor); err != nil {
				return fmt.Errorf("risk: limits of %s: %w", who, err)
			}
			if cur != "" && a.Currency != cur {
				return fmt.Errorf("risk: limits of %s mix %s and %s", who, cur, a.Currency)
			}
			cur = a.Currency
		}
		return nil
	}
	if err := check("default", c.Default); err != nil {
		return err
	}
	for p, l := range c.Partners {
		if err := check(p, l); err != nil {
			return err
		}
	}
	return nil
}

// Decision is an evaluation's outcome.
type Decision struct {
	Approve bool
	Reason  rpcerr.Reason // for a decline
	RuleID  string
	Message string
}

// Payment is what the checks look at.
type Payment struct {
	PaymentID      string
	PartnerID      string
	UserRef        string
	NetworkID      string
	MerchantID     string
	MCC            string
	MerchantAmount money.Amount
}

// Reservation is an evaluated payment as the store keeps it.
type Reservation struct {
	Payment  Payment
	Day      string
	Decision Decision
}

// Store keeps decisions and daily usage. Implemented by *SQLStore.
type Store interface {
	// Decide records the payment's decision and returns it: pre if pre is
	// a decline; otherwise an approval, unless the user's approved,
	// unreleased usage for day in the payment's currency plus this payment
	// would exceed dailyLimit (0: no daily limit), which declines it with
	// rule limit.user.daily. Usage is read and the decision written
	// atomically (SERIALIZABLE). If the payment was evaluated before, it
	// returns the recorded decision.
	Decide(ctx context.Context, p Payment, day string, pre Decision, dailyLimit int64) (Decision, error)
	// Release marks a payment's reservation released; unknown or already
	// released payments are a no-op.
	Release(ctx context.Context, paymentID string) error
}

// Service is the risk domain.
type Service struct {
	cfg                    Config
	store                  Store
	now                    func() time.Time
	users, merchants, mccs map[string]bool
}

// NewService returns a Service; cfg must be valid.
func NewService(cfg Config, store Store, now func() time.Time) *Service {
	set := func(xs []string) map[string]bool {
		m := make(map[string]bool, len(xs))
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	if now == nil {
		now = time.Now
	}
	if cfg.Day == nil {
		cfg.Day = time.FixedZone("UTC+8", 8*3600)
	}
	return &Service{cfg: cfg, store: store, now: now,
		users: set(cfg.BlockedUsers), merchants: set(cfg.BlockedMerchants), mccs: set(cfg.BlockedMCCs)}
}

func decline(reason rpcerr.Reason, rule, format string, args ...any) Decision {
	return Decision{Reason: reason, RuleID: rule, Message: fmt.Sprintf(format, args...)}
}

// Evaluate decides whether p may proceed.
func (s *Service) Evaluate(ctx context.Context, p Payment) (Decision, error) {
	limits, ok := s.cfg.Partners[p.PartnerID]
	if !ok {
		limits = s.cfg.Default
	}
	day := s.now().In(s.cfg.Day).Format(time.DateOnly)
	return s.store.Decide(ctx, p, day, s.static(p, limits), limits.PerUserDaily.Minor)
}

// static runs the checks that need no stored state: block lists, the
// per-payment limits, and that the daily limit (if any) is in the
// payment's currency.
func (s *Service) static(p Payment, limits Limits) Decision {
	switch {
	case s.users[p.PartnerID+"/"+p.UserRef]:
		return decline(rpcerr.RiskBlocked, "block.user", "user is blocked")
	case s.merchants[p.NetworkID+"/"+p.MerchantID]:
		return decline(rpcerr.RiskBlocked, "block.merchant", "merchant is blocked")
	case s.mccs[p.MCC]:
		return decline(rpcerr.RiskBlocked, "block.mcc", "merchant category %s is blocked", p.MCC)
	}
	m := p.MerchantAmount
	for _, l := range []struct {
		rule  string
		limit money.Amount
	}{
		{"limit.partner.per_payment", limits.PerPayment},
		{"limit.user.per_payment", limits.PerUserPayment},
		{"limit.user.daily", limits.PerUserDaily},
	} {
		if l.limit.Minor == 0 {
			continue
		}
		if l.limit.Currency != m.Currency {
			return decline(rpcerr.RiskLimitExceeded, l.rule, "no limit is configured for %s", m.Currency)
		}
		if m.Minor > l.limit.Minor {
			return decline(rpcerr.RiskLimitExceeded, l.rule, "%s exceeds the limit of %s", m, l.limit)
		}
	}
	return Decision{Approve: true}
}

// dailyDecline is the decision when the daily limit is exceeded.
func dailyDecline(limit money.Amount) Decision {
	return decline(rpcerr.RiskLimitExceeded, "limit.user.daily", "the user's total today would exceed the daily limit of %s", limit)
}

// Release gives back what an approved payment reserved.
func (s *Service) Release(ctx context.Context, paymentID string) error {
	return s.store.Release(ctx, paymentID)
}
