package fx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

var testConfig = Config{
	QuoteTTL: time.Minute,
	Rates: []RateConfig{
		{WalletCurrency: "MNT", MerchantCurrency: "CNY", Mid: money.MustRate("480"), SpreadBps: 150},
		{WalletCurrency: "VND", MerchantCurrency: "CNY", Mid: money.MustRate("3450.5"), SpreadBps: 100},
	},
}

func TestPrice(t *testing.T) {
	svc := NewService(testConfig, nil, nil)
	for _, tc := range []struct {
		name                 string
		wallet               string
		merchant             money.Amount
		wantWallet, wantCost int64
		wantRate             string
	}{
		// 100.00 CNY at 480 + 1.5% = 487.2 -> 48,720.00 MNT; cost 48,000.00 MNT.
		{"MNT", "MNT", money.Amount{Currency: "CNY", Minor: 10000}, 4872000, 4800000, "487.2"},
		// 0.01 CNY at 487.2 = 4.872 MNT -> up 4.88; cost 4.80.
		{"MNT rounding", "MNT", money.Amount{Currency: "CNY", Minor: 1}, 488, 480, "487.2"},
		// 12.34 CNY at 3450.5 + 1% = 3485.005 -> 43,004.9617 VND -> up 43,005; cost 42,579.17 -> 42,579.
		{"VND zero digits", "VND", money.Amount{Currency: "CNY", Minor: 1234}, 43005, 42579, "3485.005"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := svc.Price(tc.wallet, tc.merchant)
			if err != nil {
				t.Fatal(err)
			}
			if q.WalletAmount.Minor != tc.wantWallet || q.CostAmount.Minor != tc.wantCost || q.Rate.String() != tc.wantRate {
				t.Fatalf("wallet %d cost %d rate %s; want %d %d %s", q.WalletAmount.Minor, q.CostAmount.Minor, q.Rate, tc.wantWallet, tc.wantCost, tc.wantRate)
			}
			if q.WalletAmount.Minor < q.CostAmount.Minor {
				t.Fatal("negative FX revenue")
			}
		})
	}
	if _, err := svc.Price("JPY", money.Amount{Currency: "CNY", Minor: 1}); !errors.Is(err, ErrRateNotAvailable) {
		t.Fatalf("unknown pair: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := testConfig
	bad.Rates = append([]RateConfig{}, testConfig.Rates...)
	bad.Rates = append(bad.Rates, testConfig.Rates[0])
	if bad.Validate() == nil {
		t.Fatal("duplicate pair accepted")
	}
	if (Config{}).Validate() == nil {
		t.Fatal("zero TTL accepted")
	}
}

// TestStoreConformance runs quote storage and locking on every back end.
func TestStoreConformance(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		svc := NewService(testConfig, NewSQLStore(db), clock)
		amount := money.Amount{Currency: "CNY", Minor: 10000}

		q, err := svc.CreateQuote(ctx, "hipay", "MNT", amount)
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.GetQuote(ctx, q.ID)
		if err != nil || got.WalletAmount != q.WalletAmount || got.Rate.String() != q.Rate.String() || !got.ExpireTime.Equal(q.ExpireTime) {
			t.Fatalf("GetQuote = %+v, %v; want %+v", got, err, q)
		}

		t.Run("errors", func(t *testing.T) {
			if _, err := svc.LockQuote(ctx, "no-such-quote", "pay-x", "hipay", amount); !errors.Is(err, ErrQuoteNotFound) {
				t.Errorf("unknown quote: %v", err)
			}
			if _, err := svc.LockQuote(ctx, q.ID, "pay-x", "other-partner", amount); !errors.Is(err, ErrQuoteNotFound) {
				t.Errorf("other partner's quote: %v", err)
			}
			if _, err := svc.LockQuote(ctx, q.ID, "pay-x", "hipay", money.Amount{Currency: "CNY", Minor: 9999}); !errors.Is(err, ErrQuoteMismatch) {
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
					_, err := svc.LockQuote(ctx, q.ID, "pay-"+string(rune('a'+i)), "hipay", amount)
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
			again, err := svc.LockQuote(ctx, q.ID, locked.PaymentID, "hipay", amount)
			if err != nil || again.PaymentID != locked.PaymentID {
				t.Fatalf("relock by owner: %v", err)
			}
		})

		t.Run("expired quote cannot be locked", func(t *testing.T) {
			q2, err := svc.CreateQuote(ctx, "hipay", "MNT", amount)
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(testConfig.QuoteTTL)
			if _, err := svc.LockQuote(ctx, q2.ID, "pay-late", "hipay", amount); !errors.Is(err, ErrQuoteExpired) {
				t.Fatalf("got %v, want ErrQuoteExpired", err)
			}
		})
	})
}
