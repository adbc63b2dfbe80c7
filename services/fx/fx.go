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

// Direction is which side of a quote is fixed.
type Direction string

// Directions.
const (
	// FixMerchant fixes the merchant amount; the wallet amount is computed.
	FixMerchant Direction = "FIX_MERCHANT"
	// FixWallet fixes what the user pays; the merchant amount is computed.
	FixWallet Direction = "FIX_WALLET"
)

// Quote is a firm price for one payment.
type Quote struct {
	ID             string
	PartnerID      string
	State          QuoteState
	Direction      Direction
	MerchantAmount money.Amount
	WalletAmount   money.Amount
	// SettlementAmount is what the partner owes, in its settlement
	// currency; CostAmount (same currency) covers the merchant amount at
	// CostRate, and the rest is FX revenue.
	SettlementAmount money.Amount
	CostAmount       money.Amount
	// MidRate and Rate are wallet units per merchant unit at mid market
	// and as applied (cost plus markup); CostRate is settlement units per
	// merchant unit at which Unigate buys the merchant currency.
	MidRate   money.Rate
	Rate      money.Rate
	CostRate  money.Rate
	SpreadBps int // the markup, in basis points over the cost rate
	// Legs price the wallet amount, SettlementLegs the settlement amount
	// when it is in a third currency.
	Legs           []Leg
	SettlementLegs []Leg
	CreateTime     time.Time
	ExpireTime     time.Time
	PaymentID      string
}

// Tier is a markup from an amount upward.
type Tier struct {
	// FromMinor: payments worth at least this many minor units of the
	// partner's settlement currency (at Unigate's cost rate).
	FromMinor int64
	Bps       int
}

// Terms are a partner's FX terms, from the routing table.
type Terms struct {
	// WalletCurrency is the currency its users pay in.
	WalletCurrency string
	// SettlementCurrency is the currency it settles in (the wallet's when
	// empty).
	SettlementCurrency string
	// Tiers, ascending by FromMinor, the first from 0; the service's
	// default markup when empty.
	Tiers []Tier
}

// TermsSource finds a partner's terms.
type TermsSource interface {
	// Terms returns the partner's terms, or an error (PARTNER_NOT_FOUND).
	Terms(partnerID string) (Terms, error)
}

// ValidateTiers checks a markup tier list.
func ValidateTiers(ts []Tier) error {
	for i, t := range ts {
		if t.Bps < 0 || t.Bps > 2000 {
			return fmt.Errorf("tier %d: markup %d bps outside 0..2000", i, t.Bps)
		}
		if i == 0 && t.FromMinor != 0 {
			return fmt.Errorf("tier 0 must start at 0, not %d", t.FromMinor)
		}
		if i > 0 && t.FromMinor <= ts[i-1].FromMinor {
			return fmt.Errorf("tier %d: from %d is not above tier %d's %d", i, t.FromMinor, i-1, ts[i-1].FromMinor)
		}
	}
	return nil
}

// markup returns the tier's markup for a value of v minor units.
func markup(ts []Tier, v int64, def int) int {
	bps := def
	for _, t := range ts {
		if v >= t.FromMinor {
			bps = t.Bps
		}
	}
	return bps
}

// Config configures the FX service.
type Config struct {
	QuoteTTL time.Duration
	// DefaultMarkupBps applies to a partner without markup tiers.
	DefaultMarkupBps int
	Book             BookConfig
}

// DefaultConfig returns the defaults: quotes for 2 minutes, a 100 bps markup,
// rates stale after 10 s, outliers beyond 100 bps of the median, crosses
// through USD.
func DefaultConfig() Config {
	return Config{QuoteTTL: 2 * time.Minute, DefaultMarkupBps: 100,
		Book: BookConfig{Staleness: 10 * time.Second, OutlierBandBps: 100, Reference: "USD"}}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.QuoteTTL <= 0 {
		return fmt.Errorf("fx: quote TTL must be positive")
	}
	if c.DefaultMarkupBps < 0 || c.DefaultMarkupBps > 2000 {
		return fmt.Errorf("fx: default markup %d bps outside 0..2000", c.DefaultMarkupBps)
	}
	if c.Book.Staleness <= 0 {
		return fmt.Errorf("fx: staleness limit must be positive")
	}
	if c.Book.OutlierBandBps <= 0 {
		return fmt.Errorf("fx: outlier band must be positive")
	}
	if c.Book.Reference != "" {
		if _, err := money.LookupCurrency(c.Book.Reference); err != nil {
			return fmt.Errorf("fx: reference currency: %w", err)
		}
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

// Service is the FX domain: quotes priced from the rates in its Book.
type Service struct {
	cfg   Config
	store Store
	book  *Book
	terms TermsSource
	now   func() time.Time
}

// NewService returns a Service; cfg must be valid.
func NewService(cfg Config, store Store, book *Book, terms TermsSource, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, store: store, book: book, terms: terms, now: now}
}

// Book returns the rates the service prices from.
func (s *Service) Book() *Book { return s.book }

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// QuoteRequest asks for a price.
type QuoteRequest struct {
	PartnerID string
	// WalletCurrency, if set, must be the partner's wallet currency.
	WalletCurrency string
	Direction      Direction
	// Merchant is the merchant amount for FixMerchant; for FixWallet only
	// its currency counts.
	Merchant money.Amount
	// Wallet is what the user pays, for FixWallet.
	Wallet money.Amount
}

// Price computes a quote without storing it. The rounding rule of each
// step, for a merchant amount M, a partner markup of b bps, and cost rates
// c (Unigate's price of one merchant unit, from Book.Convert):
//
//	applied rate     = c_wallet × (1 + b/10000), rounded up to 20 significant digits
//	wallet amount    = M × applied, rounded up                   (FixMerchant)
//	merchant amount  = W / applied, rounded down                 (FixWallet)
//	cost             = M × c_settlement, rounded half-even
//	settlement       = the wallet amount when it settles in the wallet's
//	                   currency; M when in the merchant's; else
//	                   M × (c_settlement × (1 + b/10000), up to 20 digits), rounded up
//
// So what the user pays and what the partner owes are never below cost,
// the merchant never gets more than the user's money bought, and FX
// revenue (settlement − cost) is never negative. The tier is chosen by the
// payment's cost in the settlement currency; for FixWallet, by the
// merchant amount the wallet amount buys at the first tier's markup.
// No conversion means no markup.
func (s *Service) Price(req QuoteRequest) (Quote, error) {
	t, err := s.terms.Terms(req.PartnerID)
	if err != nil {
		return Quote{}, err
	}
	if req.WalletCurrency != "" && req.WalletCurrency != t.WalletCurrency {
		return Quote{}, rpcerr.Field(rpcerr.UnsupportedCurrency, "wallet_currency", "partner %s pays in %s, not %s", req.PartnerID, t.WalletCurrency, req.WalletCurrency)
	}
	wc, mc := t.WalletCurrency, req.Merchant.Currency
	sc := t.SettlementCurrency
	if sc == "" {
		sc = wc
	}
	now := s.now()
	wConv, err := s.book.Convert(mc, wc, now)
	if err != nil {
		return Quote{}, err
	}
	sConv := wConv
	if sc != wc {
		if sConv, err = s.book.Convert(mc, sc, now); err != nil {
			return Quote{}, err
		}
	}
	tierOf := func(m money.Amount) (int, error) {
		if len(t.Tiers) == 0 {
			return s.cfg.DefaultMarkupBps, nil
		}
		v := m.Minor
		if sc != mc {
			c, err := sConv.Cost.Convert(m, sc, money.RoundHalfEven)
			if err != nil {
				return 0, rpcerr.Field(rpcerr.InvalidAmount, "merchant_amount", "%v", err)
			}
			v = c.Minor
		}
		return markup(t.Tiers, v, s.cfg.DefaultMarkupBps), nil
	}
	applied := func(c money.Rate, bps int, converts bool) money.Rate {
		if !converts {
			return c
		}
		return c.WithSpread(bps).Rounded(money.RoundUp)
	}

	q := Quote{State: QuoteOpen, Direction: req.Direction, MidRate: wConv.Mid, CostRate: sConv.Cost,
		Legs: wConv.Legs}
	if sc != wc {
		q.SettlementLegs = sConv.Legs
	}
	var bps int
	switch req.Direction {
	case FixMerchant:
		m := req.Merchant
		if bps, err = tierOf(m); err != nil {
			return Quote{}, err
		}
		q.MerchantAmount = m
		q.Rate = applied(wConv.Cost, bps, wc != mc)
		if q.WalletAmount, err = q.Rate.Convert(m, wc, money.RoundUp); err != nil {
			return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "merchant_amount", "%v", err)
		}
	case FixWallet:
		w := req.Wallet
		if w.Currency != wc {
			return Quote{}, rpcerr.Field(rpcerr.UnsupportedCurrency, "wallet_amount.currency", "partner %s pays in %s, not %s", req.PartnerID, wc, w.Currency)
		}
		first := s.cfg.DefaultMarkupBps
		if len(t.Tiers) > 0 {
			first = t.Tiers[0].Bps
		}
		m, err := applied(wConv.Cost, first, wc != mc).ConvertBack(w, mc, money.RoundDown)
		if err != nil {
			return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "wallet_amount", "%v", err)
		}
		if bps, err = tierOf(m); err != nil {
			return Quote{}, err
		}
		q.Rate = applied(wConv.Cost, bps, wc != mc)
		if m, err = q.Rate.ConvertBack(w, mc, money.RoundDown); err != nil {
			return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "wallet_amount", "%v", err)
		}
		q.MerchantAmount, q.WalletAmount = m, w
	default:
		return Quote{}, rpcerr.Field(rpcerr.InvalidArgument, "direction", "must be FIX_MERCHANT or FIX_WALLET")
	}
	m := q.MerchantAmount
	if wc == mc {
		bps = 0
	}
	q.SpreadBps = bps
	switch sc {
	case mc:
		q.CostAmount, q.SettlementAmount, q.CostRate = m, m, money.One
	default:
		if q.CostAmount, err = sConv.Cost.Convert(m, sc, money.RoundHalfEven); err != nil {
			return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "merchant_amount", "%v", err)
		}
		if sc == wc {
			q.SettlementAmount = q.WalletAmount
		} else if q.SettlementAmount, err = applied(sConv.Cost, bps, true).Convert(m, sc, money.RoundUp); err != nil {
			return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "merchant_amount", "%v", err)
		}
	}
	if q.SettlementAmount.Minor < q.CostAmount.Minor {
		// Cannot happen by the rules above; refuse rather than lose money.
		return Quote{}, fmt.Errorf("fx: settlement %s below cost %s", q.SettlementAmount, q.CostAmount)
	}
	return q, nil
}

// CreateQuote prices and stores a quote.
func (s *Service) CreateQuote(ctx context.Context, req QuoteRequest) (Quote, error) {
	q, err := s.Price(req)
	if err != nil {
		return Quote{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	q.ID = uuid.NewString()
	q.PartnerID = req.PartnerID
	q.CreateTime = now
	q.ExpireTime = now.Add(s.cfg.QuoteTTL)
	if err := s.store.InsertQuote(ctx, q); err != nil {
		return Quote{}, err
	}
	quoteCounts.Inc(req.PartnerID)
	return q, nil
}

// GetQuote returns a quote.
func (s *Service) GetQuote(ctx context.Context, id string) (Quote, error) {
	return s.store.GetQuote(ctx, id)
}

// LockQuote consumes a quote for paymentID. Locking again for the same
// payment returns the locked quote, so a retried payment succeeds.
func (s *Service) LockQuote(ctx context.Context, id, paymentID, partnerID string, m money.Amount) (_ Quote, err error) {
	defer func() { countLock(err) }()
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
		return Quote{}, rpcerr.New(rpcerr.QuoteMismatch, "quote does not match the payment: quote is for %s, payment is for %s", q.MerchantAmount, m)
	case q.State == QuoteLocked && q.PaymentID == paymentID:
		return q, nil
	case q.State == QuoteLocked:
		return Quote{}, ErrQuoteAlreadyUsed
	case !now.Before(q.ExpireTime):
		return Quote{}, rpcerr.New(rpcerr.QuoteExpired, "quote expired at %s", q.ExpireTime.Format(time.RFC3339))
	}
	return Quote{}, fmt.Errorf("fx: quote %s could not be locked in state %s", id, q.State)
}

// StaticTerms is a TermsSource from a map, for tests and tools.
type StaticTerms map[string]Terms

// Terms implements TermsSource.
func (m StaticTerms) Terms(partnerID string) (Terms, error) {
	t, ok := m[partnerID]
	if !ok {
		return Terms{}, rpcerr.New(rpcerr.PartnerNotFound, "partner %s not found", partnerID)
	}
	return t, nil
}
