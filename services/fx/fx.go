package fx

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// The FX service's domain errors.
var (
	ErrRateNotAvailable = rpcerr.New(rpcerr.RateNotAvailable, "no rate for the currency pair")
	ErrQuoteNotFound    = rpcerr.New(rpcerr.QuoteNotFound, "quote not found")
	ErrQuoteExpired     = rpcerr.New(rpcerr.QuoteExpired, "quote expired")
	ErrQuoteAlreadyUsed = rpcerr.New(rpcerr.QuoteAlreadyUsed, "quote already used by another payment")
	ErrQuoteMismatch    = rpcerr.New(rpcerr.QuoteMismatch, "quote does not match the payment")
)

// QuoteState is whether a quote can still be locked.
type QuoteState string

// Quote states.
const (
	QuoteOpen   QuoteState = "OPEN"
	QuoteLocked QuoteState = "LOCKED"
)

// Quote is a firm price for one payment.
type Quote struct {
	ID             string
	PartnerID      string
	State          QuoteState
	MerchantAmount money.Amount
	WalletAmount   money.Amount
	CostAmount     money.Amount
	MidRate        money.Rate
	Rate           money.Rate
	SpreadBps      int
	CreateTime     time.Time
	ExpireTime     time.Time
	PaymentID      string
}

// RateConfig is the configured rate of one pair.
type RateConfig struct {
	WalletCurrency   string
	MerchantCurrency string
	// Mid is wallet units per merchant unit at mid market.
	Mid       money.Rate
	SpreadBps int
}

// Config configures the FX service.
type Config struct {
	Rates    []RateConfig
	QuoteTTL time.Duration
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.QuoteTTL <= 0 {
		return fmt.Errorf("fx: quote TTL must be positive")
	}
	seen := map[[2]string]bool{}
	for _, r := range c.Rates {
		if _, err := money.LookupCurrency(r.WalletCurrency); err != nil {
			return fmt.Errorf("fx: rate %s/%s: %w", r.WalletCurrency, r.MerchantCurrency, err)
		}
		if _, err := money.LookupCurrency(r.MerchantCurrency); err != nil {
			return fmt.Errorf("fx: rate %s/%s: %w", r.WalletCurrency, r.MerchantCurrency, err)
		}
		if r.Mid.IsZero() {
			return fmt.Errorf("fx: rate %s/%s has no mid rate", r.WalletCurrency, r.MerchantCurrency)
		}
		if r.SpreadBps < 0 || r.SpreadBps > 2000 {
			return fmt.Errorf("fx: rate %s/%s: spread %d bps outside 0..2000", r.WalletCurrency, r.MerchantCurrency, r.SpreadBps)
		}
		k := [2]string{r.WalletCurrency, r.MerchantCurrency}
		if seen[k] {
			return fmt.Errorf("fx: rate %s/%s configured twice", r.WalletCurrency, r.MerchantCurrency)
		}
		seen[k] = true
	}
	return nil
}

// Store keeps quotes. Implemented by *SQLStore.
type Store interface {
	// InsertQuote stores a new quote.
	InsertQuote(ctx context.Context, q Quote) error
	// GetQuote returns a quote or ErrQuoteNotFound.
	GetQuote(ctx context.Context, id string) (Quote, error)
	// LockQuote locks an OPEN, unexpired quote of partnerID for merchant
	// amount m to paymentID and returns it. It returns ok=false, with no
	// error, if no quote matched those conditions.
	LockQuote(ctx context.Context, id, paymentID, partnerID string, m money.Amount, now time.Time) (q Quote, ok bool, err error)
}

// Service is the FX domain.
type Service struct {
	store Store
	rates map[[2]string]RateConfig
	ttl   time.Duration
	now   func() time.Time
}

// NewService returns a Service; cfg must be valid.
func NewService(cfg Config, store Store, now func() time.Time) *Service {
	rates := make(map[[2]string]RateConfig, len(cfg.Rates))
	for _, r := range cfg.Rates {
		rates[[2]string{r.WalletCurrency, r.MerchantCurrency}] = r
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, rates: rates, ttl: cfg.QuoteTTL, now: now}
}

// Rates returns the configured rates.
func (s *Service) Rates() []RateConfig {
	out := make([]RateConfig, 0, len(s.rates))
	for _, r := range s.rates {
		out = append(out, r)
	}
	return out
}

// Price computes a quote's amounts without storing it.
func (s *Service) Price(walletCurrency string, m money.Amount) (Quote, error) {
	r, ok := s.rates[[2]string{walletCurrency, m.Currency}]
	if !ok {
		return Quote{}, fmt.Errorf("%w: %s to %s", ErrRateNotAvailable, walletCurrency, m.Currency)
	}
	rate := r.Mid.WithSpread(r.SpreadBps)
	wallet, err := rate.Convert(m, walletCurrency, money.RoundUp)
	if err != nil {
		return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "merchant_amount", "%v", err)
	}
	cost, err := r.Mid.Convert(m, walletCurrency, money.RoundHalfEven)
	if err != nil {
		return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "merchant_amount", "%v", err)
	}
	return Quote{
		State: QuoteOpen, MerchantAmount: m, WalletAmount: wallet, CostAmount: cost,
		MidRate: r.Mid, Rate: rate, SpreadBps: r.SpreadBps,
	}, nil
}

// CreateQuote prices and stores a quote for partnerID.
func (s *Service) CreateQuote(ctx context.Context, partnerID, walletCurrency string, m money.Amount) (Quote, error) {
	q, err := s.Price(walletCurrency, m)
	if err != nil {
		return Quote{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	q.ID = uuid.NewString()
	q.PartnerID = partnerID
	q.CreateTime = now
	q.ExpireTime = now.Add(s.ttl)
	if err := s.store.InsertQuote(ctx, q); err != nil {
		return Quote{}, err
	}
	return q, nil
}

// GetQuote returns a quote.
func (s *Service) GetQuote(ctx context.Context, id string) (Quote, error) {
	return s.store.GetQuote(ctx, id)
}

// LockQuote consumes a quote for paymentID. Locking again for the same
// payment returns the locked quote, so a retried payment succeeds.
func (s *Service) LockQuote(ctx context.Context, id, paymentID, partnerID string, m money.Amount) (Quote, error) {
	now := s.now().UTC()
	q, ok, err := s.store.LockQuote(ctx, id, paymentID, partnerID, m, now)
	if err != nil || ok {
		return q, err
	}
	// Nothing locked: say why.
	q, err = s.store.GetQuote(ctx, id)
	if err != nil {
		return Quote{}, err
	}
	switch {
	case q.PartnerID != partnerID:
		// Another partner's quote is reported as absent: partners see only
		// their own.
		return Quote{}, ErrQuoteNotFound
	case q.MerchantAmount != m:
		return Quote{}, fmt.Errorf("%w: quote is for %s, payment is for %s", ErrQuoteMismatch, q.MerchantAmount, m)
	case q.State == QuoteLocked && q.PaymentID == paymentID:
		return q, nil
	case q.State == QuoteLocked:
		return Quote{}, ErrQuoteAlreadyUsed
	case !now.Before(q.ExpireTime):
		return Quote{}, fmt.Errorf("%w at %s", ErrQuoteExpired, q.ExpireTime.Format(time.RFC3339))
	}
	return Quote{}, fmt.Errorf("fx: quote %s could not be locked in state %s", id, q.State)
}
