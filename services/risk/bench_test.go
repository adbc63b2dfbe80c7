package risk

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk/rules"
)

// benchRules are ten rules over every kind of feature, as a production
// set might hold: every one is evaluated for every payment.
var benchRules = []rules.Rule{
	{ID: "burst.user", Expr: "user_count_1m > 5", Action: rules.Decline, Mode: rules.Enforce},
	{ID: "burst.device", Expr: "device_count_1h > 30", Action: rules.Decline, Mode: rules.Enforce},
	{ID: "day.user", Expr: "user_sum_24h > 5000000", Action: rules.Review, Mode: rules.Enforce},
	{ID: "new-device.high", Expr: "new_device && amount >= 500000", Action: rules.Review, Mode: rules.Enforce},
	{ID: "digital.big", Expr: `mcc in ["5816", "6540"] && amount > 200000`, Action: rules.Review, Mode: rules.Enforce},
	{ID: "night.jewels", Expr: `mcc == "5944" && (hour < 6 || hour > 22)`, Action: rules.Review, Mode: rules.Enforce},
	{ID: "merchant.rush", Expr: "merchant_count_1h > 5000", Action: rules.Review, Mode: rules.Shadow},
	{ID: "merchant.day", Expr: "merchant_sum_24h > 1000000000", Action: rules.Review, Mode: rules.Shadow},
	{ID: "partner.spike", Expr: "partner_count_1m > 1000000", Action: rules.Review, Mode: rules.Shadow},
	{ID: "model.high", Expr: "model_score > 0.9 && amount > 100000", Action: rules.Decline, Mode: rules.Enforce},
}

func benchPolicy() Policy {
	p := testPolicy()
	p.Limits = []PartnerLimits{{PartnerID: "*", Currency: "CNY", PerPayment: 5_000_000, UserPerPayment: 2_000_000,
		UserDaily: 5_000_000, UserMonthly: 20_000_000, MerchantDaily: math.MaxInt32 * 1000, PartnerDaily: math.MaxInt32 * 1000}}
	p.Rules = RuleSet{Version: 1, Rules: benchRules}
	return p
}

// latencies collects per-operation latencies from parallel workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(ds []time.Duration) { l.mu.Lock(); l.d = append(l.d, ds...); l.mu.Unlock() }

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(f float64) float64 { return float64(l.d[int(f*float64(len(l.d)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(len(l.d))/b.Elapsed().Seconds(), "ops/s")
}

// parallel runs op on b.N items over workers goroutines, recording each
// one's latency.
func parallel(b *testing.B, workers int, op func(i int64) error) {
	var (
		next atomic.Int64
		lat  latencies
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				start := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			lat.add(mine)
		}()
	}
	wg.Wait()
	b.StopTimer()
	lat.report(b)
}

// BenchmarkDecision measures the risk service's decisions, every rule and
// the model on, with same-run baselines (docs/BENCHMARKS.md):
//
//   - checks: the in-memory part of a decision — lists, limits, velocity,
//     the behaviour profile, the model and ten rules — on two goroutines;
//   - decide: a whole decision stored in PostgreSQL (the user's exact day
//     and month limits read and the decision written, with its reasons,
//     in one serializable statement), on 64 goroutines as concurrent
//     payments arrive;
//   - decide-batched: the same, group-committed (NewBatchingStore: four
//     workers, up to 128 decisions a statement), on 64 goroutines, and
//     on 8 for the latency of a lighter load;
//   - baseline-insert: a bare single-row PostgreSQL insert on 64
//     goroutines, the floor under decide.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstoretest.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, Migrations); err != nil {
		b.Fatal(err)
	}
	svc, err := NewService(NewSQLStore(db), Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.SetPolicy(benchPolicy()); err != nil {
		b.Fatal(err)
	}
	round := time.Now().UnixNano()
	payment := func(i int64) Payment {
		return Payment{PaymentID: fmt.Sprintf("bench-%d-%d", round, i), PartnerID: "hipay", UserRef: fmt.Sprintf("u-%d", i%5000),
			DeviceRef: fmt.Sprintf("d-%d", i%5000), Mode: ModeMPM, NetworkID: "unionpay", MerchantID: fmt.Sprintf("m-%d", i%300),
			MCC: "5812", City: "Beijing", MerchantAmount: cny(1000 + i%50000)}
	}
	b.Run("checks", func(b *testing.B) {
		pol := svc.policy.Load()
		lim := pol.limitsOf("hipay")
		parallel(b, 2, func(i int64) error {
			p := payment(i)
			now := time.Now()
			if d := svc.decide(p, now, pol, lim); d.Proceeds() {
				svc.count(p, now)
			}
			return nil
		})
	})
	b.Run("decide", func(b *testing.B) {
		round = time.Now().UnixNano()
		parallel(b, 64, func(i int64) error {
			_, err := svc.Evaluate(ctx, payment(i))
			return err
		})
	})
	batched := func(workers int) func(b *testing.B) {
		return func(b *testing.B) {
			bctx, cancel := context.WithCancel(ctx)
			defer cancel()
			svc, err := NewService(NewBatchingStore(bctx, db, 4, 128), Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := svc.SetPolicy(benchPolicy()); err != nil {
				b.Fatal(err)
			}
			round = time.Now().UnixNano()
			parallel(b, workers, func(i int64) error {
				_, err := svc.Evaluate(ctx, payment(i))
				return err
			})
		}
	}
	b.Run("decide-batched", batched(64))
	b.Run("decide-batched-8", batched(8))
	b.Run("baseline-insert", func(b *testing.B) {
		sqlstoretest.MustExec(b, db, `CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)
		round = time.Now().UnixNano()
		parallel(b, 64, func(i int64) error {
			_, err := db.ExecContext(ctx, `INSERT INTO bench_rows (id, body) VALUES ($1, $2)`, fmt.Sprintf("%d-%d", round, i), "x")
			return err
		})
	})
}
