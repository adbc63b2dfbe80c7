package fx

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/fx/feed"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

var bookCfg = BookConfig{Staleness: 10 * time.Second, OutlierBandBps: 100, Reference: "USD"}

func rate(provider, base, quote, bid, ask string, age time.Duration) feed.Rate {
	return feed.Rate{Provider: provider, Base: base, Quote: quote, Bid: money.MustRate(bid), Ask: money.MustRate(ask),
		SourceTime: t0.Add(-age), ReceiveTime: t0.Add(-age)}
}

func put(b *Book, rs ...feed.Rate) {
	for _, r := range rs {
		b.Replace(r.Provider, []feed.Rate{r})
	}
}

func verdictOf(js []Judged, provider string) Verdict {
	for _, j := range js {
		if j.Provider == provider {
			return j.Verdict
		}
	}
	return ""
}

func TestBestExecution(t *testing.T) {
	b := NewBook(bookCfg)
	put(b,
		rate("alpha", "CNY", "MNT", "477.0", "478.0", time.Second),
		rate("beta", "CNY", "MNT", "477.2", "477.8", time.Second),
		rate("gamma", "CNY", "MNT", "476.9", "478.2", time.Second),
	)
	c, err := b.Convert("CNY", "MNT", t0)
	if err != nil {
		t.Fatal(err)
	}
	// Unigate buys CNY: the lowest ask wins.
	if c.Cost.String() != "477.8" || c.Legs[0].Provider != "beta" || len(c.Legs) != 1 {
		t.Fatalf("cost %s from %+v; want 477.8 from beta", c.Cost, c.Legs)
	}

	t.Run("a stale provider is skipped for the next fresh one", func(t *testing.T) {
		put(b, rate("beta", "CNY", "MNT", "477.2", "477.8", 11*time.Second)) // older than the limit
		b2 := NewBook(bookCfg)
		put(b2, rate("alpha", "CNY", "MNT", "477.0", "478.0", time.Second),
			rate("beta", "CNY", "MNT", "477.2", "477.8", 11*time.Second),
			rate("gamma", "CNY", "MNT", "476.9", "478.2", time.Second))
		c, err := b2.Convert("CNY", "MNT", t0)
		if err != nil || c.Cost.String() != "478" || c.Legs[0].Provider != "alpha" {
			t.Fatalf("got %s from %+v, %v; want 478 from alpha", c.Cost, c.Legs, err)
		}
		if v := verdictOf(b2.Judge(Pair{"CNY", "MNT"}, t0), "beta"); v != Stale {
			t.Fatalf("beta %s, want STALE", v)
		}
	})

	t.Run("all stale: refused with the reason, never an old rate", func(t *testing.T) {
		b := NewBook(bookCfg)
		put(b, rate("alpha", "CNY", "MNT", "477.0", "478.0", 30*time.Second),
			rate("beta", "CNY", "MNT", "477.2", "477.8", 11*time.Second))
		_, err := b.Convert("CNY", "MNT", t0)
		if !errors.Is(err, ErrRateNotAvailable) || rpcerr.ReasonOf(err) != rpcerr.RateNotAvailable {
			t.Fatalf("got %v, want RATE_NOT_AVAILABLE", err)
		}
		for _, want := range []string{"alpha stale", "beta stale", "no cross through USD"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("reason %q does not say %q", err, want)
			}
		}
	})

	t.Run("an outlier is rejected even with the best price", func(t *testing.T) {
		b := NewBook(bookCfg)
		put(b, rate("alpha", "CNY", "MNT", "477.0", "478.0", time.Second),
			rate("beta", "CNY", "MNT", "477.2", "477.8", time.Second),
			rate("gamma", "CNY", "MNT", "450.0", "451.0", time.Second)) // 5.6% off the others
		js := b.Judge(Pair{"CNY", "MNT"}, t0)
		if v := verdictOf(js, "gamma"); v != Outlier {
			t.Fatalf("gamma %s, want OUTLIER", v)
		}
		c, err := b.Convert("CNY", "MNT", t0)
		if err != nil || c.Legs[0].Provider != "beta" {
			t.Fatalf("chose %+v, %v; want beta", c.Legs, err)
		}
	})

	t.Run("a crossed quote is rejected", func(t *testing.T) {
		b := NewBook(bookCfg)
		put(b, rate("alpha", "CNY", "MNT", "477.0", "478.0", time.Second),
			rate("beta", "CNY", "MNT", "477.9", "477.1", time.Second)) // bid above ask
		if v := verdictOf(b.Judge(Pair{"CNY", "MNT"}, t0), "beta"); v != Crossed {
			t.Fatalf("beta %s, want CROSSED", v)
		}
		c, err := b.Convert("CNY", "MNT", t0)
		if err != nil || c.Legs[0].Provider != "alpha" {
			t.Fatalf("chose %+v, %v; want alpha", c.Legs, err)
		}
	})

	t.Run("a pair read the other way round uses the bid, inverted up", func(t *testing.T) {
		// MNT→CNY through CNY/MNT: one MNT costs 1/bid CNY.
		c, err := b.Convert("MNT", "CNY", t0)
		if err != nil {
			t.Fatal(err)
		}
		// beta's stale rate above was older than the one it had, so the
		// book kept the fresh one: the best bid is beta's 477.2.
		exact := new(big.Rat).SetFrac64(10, 4772)
		if got := ratOf(c.Cost); got.Cmp(exact) < 0 || new(big.Rat).Sub(got, exact).Cmp(big.NewRat(1, 1e18)) > 0 {
			t.Fatalf("cost %s, want 1/477 rounded up to 20 digits", c.Cost)
		}
	})
}

func ratOf(r money.Rate) *big.Rat {
	x, ok := new(big.Rat).SetString(r.String())
	if !ok {
		panic(r.String())
	}
	return x
}

func TestCrossThroughReference(t *testing.T) {
	b := NewBook(bookCfg)
	put(b, rate("alpha", "USD", "CNY", "7.1", "7.2", time.Second),
		rate("beta", "USD", "MNT", "3380", "3400", time.Second))
	c, err := b.Convert("CNY", "MNT", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Legs) != 2 || c.Legs[0].Pair.String() != "USD/CNY" || c.Legs[1].Pair.String() != "USD/MNT" {
		t.Fatalf("legs %+v; want USD/CNY then USD/MNT", c.Legs)
	}
	// One CNY: sell USD/CNY at the bid (1/7.1 USD), then buy MNT... no:
	// pay MNT for USD at the USD/MNT ask: 3400/7.1 MNT, rounded up.
	exact := new(big.Rat).SetFrac64(3400*10, 71)
	got := ratOf(c.Cost)
	if got.Cmp(exact) < 0 || new(big.Rat).Sub(got, exact).Cmp(big.NewRat(1, 1e15)) > 0 {
		t.Fatalf("cross cost %s; want 3400/7.1 = %s rounded up", c.Cost, exact.FloatString(20))
	}
	// No path at all.
	if _, err := b.Convert("CNY", "JPY", t0); !errors.Is(err, ErrRateNotAvailable) || !strings.Contains(err.Error(), "no provider quotes") {
		t.Fatalf("CNY→JPY: %v", err)
	}
}

// staticBook is a book of mid rates with no spread: cost = mid.
func staticBook(pairs ...[3]string) *Book {
	b := NewBook(bookCfg)
	for _, p := range pairs {
		put(b, rate("static", p[0], p[1], p[2], p[2], 0))
	}
	return b
}

var terms = StaticTerms{
	"hipay":  {WalletCurrency: "MNT"},
	"usdpay": {WalletCurrency: "MNT", SettlementCurrency: "USD", Tiers: []Tier{{0, 150}, {100_000, 80}}},
	"vnpay":  {WalletCurrency: "VND", SettlementCurrency: "USD", Tiers: []Tier{{0, 100}}},
	"kwpay":  {WalletCurrency: "KWD", Tiers: []Tier{{0, 50}}},
	"cnpay":  {WalletCurrency: "CNY"},
	"hkpay":  {WalletCurrency: "HKD", SettlementCurrency: "CNY"},
}

func amt(c string, minor int64) money.Amount { return money.Amount{Currency: c, Minor: minor} }

func testService(b *Book, store Store, now func() time.Time) *Service {
	cfg := DefaultConfig()
	cfg.DefaultMarkupBps = 150
	cfg.Book = bookCfg
	if now == nil {
		now = func() time.Time { return t0 }
	}
	return NewService(cfg, store, b, terms, now)
}

var demoBook = [][3]string{{"CNY", "MNT", "480"}, {"USD", "CNY", "7.1"}, {"USD", "MNT", "3408"},
	{"USD", "VND", "25380"}, {"USD", "KWD", "0.3075"}, {"CNY", "HKD", "1.097"}}

func TestPrice(t *testing.T) {
	svc := testService(staticBook(demoBook...), nil, nil)
	cny := func(minor int64) money.Amount { return money.Amount{Currency: "CNY", Minor: minor} }
	for _, tc := range []struct {
		name, partner          string
		dir                    Direction
		merchant, wallet       money.Amount
		wantMerchant           int64
		wantWallet, wantSettle money.Amount
		wantCost               money.Amount
		wantBps                int
	}{
		// 100.00 CNY at 480 + 1.5% = 487.2 → 48,720.00 MNT; settles in MNT.
		{name: "wallet currency settlement", partner: "hipay", dir: FixMerchant, merchant: cny(10000), wantMerchant: 10000,
			wantWallet: amt("MNT", 4872000), wantSettle: amt("MNT", 4872000), wantCost: amt("MNT", 4800000), wantBps: 150},
		// 0.01 CNY: 4.872 MNT up to 4.88; cost 4.80.
		{name: "rounding up one minor unit", partner: "hipay", dir: FixMerchant, merchant: cny(1), wantMerchant: 1,
			wantWallet: amt("MNT", 488), wantSettle: amt("MNT", 488), wantCost: amt("MNT", 480), wantBps: 150},
		// USD settlement: 100.00 CNY = 14.084507… USD at cost (1/7.1) → 14.08;
		// ×1.015 = 14.2957… → up 14.30; tier 0 (below 1,000.00 USD).
		{name: "USD settlement", partner: "usdpay", dir: FixMerchant, merchant: cny(10000), wantMerchant: 10000,
			wantWallet: amt("MNT", 4872000), wantSettle: amt("USD", 1430), wantCost: amt("USD", 1408), wantBps: 150},
		// 10,000.00 CNY = 1,408.45 USD: the 80 bps tier. 480 × 1.008 = 483.84.
		{name: "second tier", partner: "usdpay", dir: FixMerchant, merchant: cny(1_000_000), wantMerchant: 1_000_000,
			wantWallet: amt("MNT", 483840000), wantSettle: amt("USD", 141972), wantCost: amt("USD", 140845), wantBps: 80},
		// 0-digit VND through USD: 12.34 CNY × 25380/7.1 × 1.01 = 44,552.26 → up.
		{name: "VND cross", partner: "vnpay", dir: FixMerchant, merchant: cny(1234), wantMerchant: 1234,
			wantWallet: amt("VND", 44553), wantSettle: amt("USD", 176), wantCost: amt("USD", 174), wantBps: 100},
		// 3-digit KWD: 100.00 CNY × 0.3075/7.1 × 1.005 = 4.352640… → up 4.353.
		{name: "KWD 3 digits", partner: "kwpay", dir: FixMerchant, merchant: cny(10000), wantMerchant: 10000,
			wantWallet: amt("KWD", 4353), wantSettle: amt("KWD", 4353), wantCost: amt("KWD", 4331), wantBps: 50},
		// No conversion: no markup.
		{name: "same currency", partner: "cnpay", dir: FixMerchant, merchant: cny(10000), wantMerchant: 10000,
			wantWallet: cny(10000), wantSettle: cny(10000), wantCost: cny(10000), wantBps: 0},
		// Settles in the merchant currency: it carries the FX itself.
		{name: "merchant currency settlement", partner: "hkpay", dir: FixMerchant, merchant: cny(10000), wantMerchant: 10000,
			wantWallet: amt("HKD", 11135), wantSettle: cny(10000), wantCost: cny(10000), wantBps: 150},
		// The user pays exactly 50,000.00 MNT: 50000/487.2 = 102.627… CNY → down 102.62.
		{name: "wallet fixed", partner: "hipay", dir: FixWallet, merchant: money.Amount{Currency: "CNY"}, wallet: amt("MNT", 5000000),
			wantMerchant: 10262, wantWallet: amt("MNT", 5000000), wantSettle: amt("MNT", 5000000), wantCost: amt("MNT", 4925760), wantBps: 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := svc.Price(QuoteRequest{PartnerID: tc.partner, Direction: tc.dir, Merchant: tc.merchant, Wallet: tc.wallet})
			if err != nil {
				t.Fatal(err)
			}
			if q.MerchantAmount.Minor != tc.wantMerchant || q.WalletAmount != tc.wantWallet || q.SettlementAmount != tc.wantSettle ||
				q.CostAmount != tc.wantCost || q.SpreadBps != tc.wantBps {
				t.Fatalf("merchant %d wallet %s settle %s cost %s bps %d;\nwant %d %s %s %s %d", q.MerchantAmount.Minor, q.WalletAmount,
					q.SettlementAmount, q.CostAmount, q.SpreadBps, tc.wantMerchant, tc.wantWallet, tc.wantSettle, tc.wantCost, tc.wantBps)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		req    QuoteRequest
		reason rpcerr.Reason
	}{
		{"unknown partner", QuoteRequest{PartnerID: "nobody", Direction: FixMerchant, Merchant: cny(1)}, rpcerr.PartnerNotFound},
		{"not the partner's currency", QuoteRequest{PartnerID: "hipay", WalletCurrency: "VND", Direction: FixMerchant, Merchant: cny(1)}, rpcerr.UnsupportedCurrency},
		{"unsupported pair", QuoteRequest{PartnerID: "hipay", Direction: FixMerchant, Merchant: amt("JPY", 100)}, rpcerr.RateNotAvailable},
		{"wallet amount in another currency", QuoteRequest{PartnerID: "hipay", Direction: FixWallet, Merchant: cny(0), Wallet: amt("USD", 100)}, rpcerr.UnsupportedCurrency},
		{"wallet amount buys nothing", QuoteRequest{PartnerID: "hipay", Direction: FixWallet, Merchant: cny(0), Wallet: amt("MNT", 400)}, rpcerr.InvalidAmount},
		{"no direction", QuoteRequest{PartnerID: "hipay", Merchant: cny(1)}, rpcerr.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := svc.Price(tc.req); rpcerr.ReasonOf(err) != tc.reason {
				t.Fatalf("got %v (%s), want %s", err, rpcerr.ReasonOf(err), tc.reason)
			}
		})
	}
}

// TestPriceProperties checks the rounding rules over random rates,
// amounts, markups and currencies of 0, 2 and 3 digits: the user and the
// partner never pay below cost, the merchant never gets more than the
// user's money bought, and revenue is never negative.
func TestPriceProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	currencies := []string{"CNY", "MNT", "VND", "KWD", "USD", "JPY", "BHD", "KRW"}
	for i := range 3000 {
		mc := currencies[rng.IntN(len(currencies))]
		wc := currencies[rng.IntN(len(currencies))]
		sc := []string{wc, mc, "USD", "KWD"}[rng.IntN(4)]
		mid := money.MustRate(big.NewRat(int64(1+rng.IntN(40000000)), int64(1+rng.IntN(100000))).FloatString(6))
		b := NewBook(bookCfg)
		for _, p := range [][2]string{{mc, wc}, {mc, sc}, {wc, sc}} {
			if p[0] != p[1] {
				put(b, rate("p", p[0], p[1], mid.String(), mid.String(), 0))
			}
		}
		terms := StaticTerms{"x": {WalletCurrency: wc, SettlementCurrency: sc, Tiers: []Tier{{0, rng.IntN(500)}, {1_000_000, rng.IntN(100)}}}}
		svc := NewService(Config{QuoteTTL: time.Minute, Book: bookCfg}, nil, b, terms, func() time.Time { return t0 })
		m := money.Amount{Currency: mc, Minor: 1 + rng.Int64N(100_000_000)}
		req := QuoteRequest{PartnerID: "x", Direction: FixMerchant, Merchant: m}
		if rng.IntN(2) == 0 {
			req = QuoteRequest{PartnerID: "x", Direction: FixWallet, Merchant: money.Amount{Currency: mc}, Wallet: money.Amount{Currency: wc, Minor: 1 + rng.Int64N(100_000_000)}}
		}
		q, err := svc.Price(req)
		if err != nil {
			if rpcerr.ReasonOf(err) == rpcerr.InvalidAmount {
				continue // too small to convert: refused, nothing priced
			}
			t.Fatalf("case %d %+v: %v", i, req, err)
		}
		// Exact check with rationals: wallet ≥ merchant × applied rate ≥ merchant × cost.
		md, _ := money.LookupCurrency(mc)
		wd, _ := money.LookupCurrency(wc)
		major := func(minor int64, digits int) *big.Rat {
			return new(big.Rat).SetFrac(big.NewInt(minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil))
		}
		mMaj := major(q.MerchantAmount.Minor, md.Digits)
		wMaj := major(q.WalletAmount.Minor, wd.Digits)
		if wMaj.Cmp(new(big.Rat).Mul(mMaj, ratOf(q.Rate))) < 0 {
			t.Fatalf("case %d: wallet %s below merchant %s × rate %s", i, q.WalletAmount, q.MerchantAmount, q.Rate)
		}
		if q.SettlementAmount.Minor < q.CostAmount.Minor || q.SettlementAmount.Currency != q.CostAmount.Currency || q.SettlementAmount.Currency != sc {
			t.Fatalf("case %d: settlement %s cost %s in %s", i, q.SettlementAmount, q.CostAmount, sc)
		}
		if req.Direction == FixWallet {
			if q.WalletAmount != req.Wallet {
				t.Fatalf("case %d: the fixed wallet amount moved: %s → %s", i, req.Wallet, q.WalletAmount)
			}
			// One more merchant minor unit would cost more than the user pays.
			more := new(big.Rat).Mul(major(q.MerchantAmount.Minor+1, md.Digits), ratOf(q.Rate))
			if wc != mc && more.Cmp(wMaj) <= 0 {
				t.Fatalf("case %d: merchant %s rounded down too far for %s at %s", i, q.MerchantAmount, q.WalletAmount, q.Rate)
			}
		}
	}
}

// TestStoreConformance runs quote storage and locking on every back end.
func TestStoreConformance(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		for _, batched := range []bool{false, true} {
			name := "alone"
			if batched {
				name = "group-committed"
			}
			t.Run(name, func(t *testing.T) { testQuoteStore(t, db, batched) })
		}
	})
}

func testQuoteStore(t *testing.T, db *sqlstore.DB, batched bool) {
	ctx := context.Background()
	now := t0
	clock := func() time.Time { return now }
	store := NewSQLStore(db)
	if batched {
		bctx, stop := context.WithCancel(ctx)
		t.Cleanup(stop)
		store = NewBatchingStore(bctx, db, 16)
	}
	svc := testService(staticBook(demoBook...), store, clock)
	amount := money.Amount{Currency: "CNY", Minor: 10000}

	q, err := svc.CreateQuote(ctx, QuoteRequest{PartnerID: "vnpay", Direction: FixMerchant, Merchant: amount})
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.GetQuote(ctx, q.ID)
	if err != nil || got.WalletAmount != q.WalletAmount || got.SettlementAmount != q.SettlementAmount || got.CostAmount != q.CostAmount ||
		got.Rate.String() != q.Rate.String() || got.CostRate.String() != q.CostRate.String() || !got.ExpireTime.Equal(q.ExpireTime) ||
		len(got.Legs) != 2 || got.Legs[1].Pair.String() != "USD/VND" || got.Direction != FixMerchant {
		t.Fatalf("GetQuote = %+v, %v;\nwant %+v", got, err, q)
	}

	t.Run("errors", func(t *testing.T) {
		if _, err := svc.LockQuote(ctx, "no-such-quote", "pay-x", "vnpay", amount); !errors.Is(err, ErrQuoteNotFound) {
			t.Errorf("unknown quote: %v", err)
		}
		if _, err := svc.LockQuote(ctx, q.ID, "pay-x", "other-partner", amount); !errors.Is(err, ErrQuoteNotFound) {
			t.Errorf("other partner's quote: %v", err)
		}
		if _, err := svc.LockQuote(ctx, q.ID, "pay-x", "vnpay", money.Amount{Currency: "CNY", Minor: 9999}); !errors.Is(err, ErrQuoteMismatch) {
			t.Errorf("other amount: %v", err)
		}
	})

	t.Run("one of many concurrent payments wins", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, used := 0, 0
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.LockQuote(ctx, q.ID, "pay-"+string(rune('a'+i)), "vnpay", amount)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrQuoteAlreadyUsed):
					used++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || used != 9 {
			t.Fatalf("wins %d used %d, want 1 and 9", wins, used)
		}
		locked, _ := svc.GetQuote(ctx, q.ID)
		// Locking again for the winner is idempotent.
		again, err := svc.LockQuote(ctx, q.ID, locked.PaymentID, "vnpay", amount)
		if err != nil || again.PaymentID != locked.PaymentID || again.SettlementAmount != q.SettlementAmount {
			t.Fatalf("relock by owner: %v", err)
		}
	})

	t.Run("many concurrent payments, each its own quote", func(t *testing.T) {
		// With group commit these share statements; each still gets
		// exactly its own quote, and a mismatch or a contested quote
		// among them fails only itself.
		const n = 40
		qs := make([]Quote, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if qs[i], err = svc.CreateQuote(ctx, QuoteRequest{PartnerID: "vnpay", Direction: FixMerchant, Merchant: amount}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		errs := make([]error, n+2)
		for i := range n + 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch {
				case i < n:
					_, errs[i] = svc.LockQuote(ctx, qs[i].ID, fmt.Sprintf("pay-many-%d", i), "vnpay", amount)
				case i == n: // another payment wants quote 0
					_, errs[i] = svc.LockQuote(ctx, qs[0].ID, "pay-thief", "vnpay", amount)
				default: // the wrong amount for quote 1
					_, errs[i] = svc.LockQuote(ctx, qs[1].ID, "pay-wrong", "vnpay", money.Amount{Currency: "CNY", Minor: 1})
				}
			}()
		}
		wg.Wait()
		thief := errs[n]
		for i := range n {
			got, err := svc.GetQuote(ctx, qs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("pay-many-%d", i)
			if i == 0 && got.PaymentID == "pay-thief" {
				want = "pay-thief" // the thief came first: then pay-many-0 was refused
				if !errors.Is(errs[0], ErrQuoteAlreadyUsed) || thief != nil {
					t.Errorf("quote 0 went to the thief, yet: owner %v, thief %v", errs[0], thief)
				}
			} else if errs[i] != nil {
				t.Errorf("lock %d: %v", i, errs[i])
			}
			if got.State != QuoteLocked || got.PaymentID != want {
				t.Errorf("quote %d: %s for %q, want LOCKED for %q", i, got.State, got.PaymentID, want)
			}
		}
		if errs[0] == nil && !errors.Is(thief, ErrQuoteAlreadyUsed) {
			t.Errorf("thief: %v, want ErrQuoteAlreadyUsed", thief)
		}
		if !errors.Is(errs[n+1], ErrQuoteMismatch) {
			t.Errorf("wrong amount: %v, want ErrQuoteMismatch", errs[n+1])
		}
		if batched && db.Dialect() != sqlstore.SQLite {
			st := store.BatchStats()
			if st.Requests == 0 || st.Statements >= st.Requests {
				t.Errorf("group commit: %d requests in %d statements, want fewer statements", st.Requests, st.Statements)
			}
		}
	})

	t.Run("expired quote cannot be locked", func(t *testing.T) {
		q2, err := svc.CreateQuote(ctx, QuoteRequest{PartnerID: "hipay", Direction: FixMerchant, Merchant: amount})
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(svc.Config().QuoteTTL)
		if _, err := svc.LockQuote(ctx, q2.ID, "pay-late", "hipay", amount); !errors.Is(err, ErrQuoteExpired) {
			t.Fatalf("got %v, want ErrQuoteExpired", err)
		}
	})

	t.Run("rate history", func(t *testing.T) {
		if batched {
			t.Skip("the history is not group-committed: tested alone")
		}
		st := NewSQLStore(db)
		if ok, err := st.ClaimFence(ctx, IngestFence, 10); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		r := rate("alpha", "USD", "CNY", "7.1", "7.2", time.Second)
		if err := st.AppendHistory(ctx, 10, []HistoricRate{{Rate: r}, {Rate: rate("beta", "USD", "CNY", "7.3", "7.2", 0), Rejected: "crossed"}}); err != nil {
			t.Fatal(err)
		}
		// A newer leader fences the old one out.
		if ok, _ := st.ClaimFence(ctx, IngestFence, 11); !ok {
			t.Fatal("newer claim refused")
		}
		if ok, _ := st.ClaimFence(ctx, IngestFence, 10); ok {
			t.Fatal("older claim accepted")
		}
		if err := st.AppendHistory(ctx, 10, []HistoricRate{{Rate: r}}); !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed leader wrote history: %v", err)
		}
		hs, err := st.History(ctx, Pair{"USD", "CNY"}, t0.Add(-time.Hour), 10)
		if err != nil || len(hs) != 2 {
			t.Fatalf("history %d rows, %v", len(hs), err)
		}
		var crossed int
		for _, h := range hs {
			if h.Rejected == "crossed" && h.Provider == "beta" {
				crossed++
			}
		}
		if crossed != 1 {
			t.Fatalf("history lost the rejection: %+v", hs)
		}
	})
}
