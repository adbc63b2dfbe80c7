package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/pkg/telemetry"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/walletsim"
)

// benchStack starts a switch on PostgreSQL for benchmarks, instrumented as
// the services run it: OpenTelemetry's SDK tracing every request (spans
// exported where OTEL_EXPORTER_OTLP_ENDPOINT says, dropped after they end
// without it), Prometheus metrics, one log line per request.
func benchStack(b *testing.B) (*app.Stack, *grpc.ClientConn, string) {
	b.Helper()
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "unigate-bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = shutdown(context.Background())
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
	})
	dsn := sqlstoretest.PostgresDSN(b)
	// Quotas well above what two cores can pay: the benchmark measures the
	// payment, not the rate limit (which a fast machine reaches when the
	// "pay" run makes its quotes beforehand).
	st, err := app.StartStack(context.Background(), app.StackConfig{DataDir: b.TempDir(), DSN: dsn,
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: quota.Limits{RatePerSecond: 100_000, Burst: 100_000, MaxConcurrent: 256, MaxStreams: 8}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Stop() })
	conn, err := st.Dial("acquirer", authn.Partner, "hipay")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	sim, err := st.Dial("merchantsim", authn.Operator, "admin")
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	ms, err := simulatorv1.NewMerchantSimulatorServiceClient(sim).ListMerchants(context.Background(), &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		b.Fatal(err)
	}
	return st, conn, ms.GetMerchants()[0].GetStaticCode()
}

// BenchmarkBaseline measures, in the same run as BenchmarkPayment, a no-op
// gRPC call (a health check on the acquirer) and a bare PostgreSQL insert,
// so the payment's cost can be read as a ratio.
func BenchmarkBaseline(b *testing.B) {
	st, conn, _ := benchStack(b)
	b.Run("grpc-health-check", func(b *testing.B) {
		h := healthpb.NewHealthClient(conn)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("postgres-insert", func(b *testing.B) {
		db, err := sqlstore.Open(context.Background(), st.DSN("acquirer"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		sqlstoretest.MustExec(b, db, `CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)
		var n atomic.Int64
		round := time.Now().UnixNano() // each round of the benchmark inserts new keys
		body := fmt.Sprintf("%0300d", 0)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.ExecContext(context.Background(), `INSERT INTO bench_rows (id, body) VALUES ($1, $2)`,
					fmt.Sprintf("r-%d-%d", round, n.Add(1)), body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkPayment measures durable MPM payments through every service on
// PostgreSQL: "quote+pay" is what a wallet does per payment (CreateQuote,
// then Pay); "pay" is the Pay call alone on pre-made quotes.
func BenchmarkPayment(b *testing.B) {
	_, conn, code := benchStack(b)
	w := walletsim.New("hipay", conn)
	ctx := w.Context(context.Background())
	amount := &commonv1.Money{Currency: "CNY", MinorUnits: 1000}
	var seq atomic.Int64
	pay := func(quoteID string) error {
		n := seq.Add(1)
		resp, err := w.Client.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: fmt.Sprintf("bench-%d", n), Code: code,
			Amount: amount, QuoteId: quoteID, UserRef: fmt.Sprintf("u-%d", n)})
		if err == nil && resp.GetPayment().GetResult() != commonv1.Result_RESULT_SUCCESS {
			err = fmt.Errorf("payment answered %s", resp.GetPayment().GetResult())
		}
		return err
	}
	quote := func() (string, error) {
		q, err := w.Client.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code, Amount: amount})
		return q.GetQuote().GetQuoteId(), err
	}
	b.Run("quote+pay", func(b *testing.B) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id, err := quote()
				if err == nil {
					err = pay(id)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
	})
	b.Run("pay", func(b *testing.B) {
		quotes := make(chan string, b.N)
		for range b.N {
			id, err := quote()
			if err != nil {
				b.Fatal(err)
			}
			quotes <- id
		}
		close(quotes)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := pay(<-quotes); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
	})
}

// BenchmarkFX measures the FX service on PostgreSQL as the acquirer calls
// it: creating a quote (priced from the rates in memory: one INSERT) and
// locking one (one conditional UPDATE), with a no-op gRPC call to the
// same server and a bare PostgreSQL insert as baselines in the same run.
func BenchmarkFX(b *testing.B) {
	st, _, _ := benchStack(b)
	conn, err := st.Dial("fx", authn.Service, "acquirer")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	fxc := fxv1.NewFxServiceClient(conn)
	ctx := context.Background()
	amount := &commonv1.Money{Currency: "CNY", MinorUnits: 1000}
	create := func() (string, error) {
		q, err := fxc.CreateQuote(ctx, &fxv1.CreateQuoteRequest{PartnerId: "hipay", MerchantAmount: amount})
		return q.GetQuote().GetQuoteId(), err
	}
	// The rates reach the replica through its watch a moment after start.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := create(); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	parallel := func(b *testing.B, op func() error) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	}
	b.Run("baseline-grpc-health-check", func(b *testing.B) {
		h := healthpb.NewHealthClient(conn)
		parallel(b, func() error { _, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); return err })
	})
	b.Run("baseline-postgres-insert", func(b *testing.B) {
		db, err := sqlstore.Open(ctx, st.DSN("fx"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		sqlstoretest.MustExec(b, db, `CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)
		var n atomic.Int64
		round := time.Now().UnixNano()
		body := fmt.Sprintf("%0300d", 0)
		parallel(b, func() error {
			_, err := db.ExecContext(ctx, `INSERT INTO bench_rows (id, body) VALUES ($1, $2)`, fmt.Sprintf("r-%d-%d", round, n.Add(1)), body)
			return err
		})
	})
	b.Run("create-quote", func(b *testing.B) {
		parallel(b, func() error { _, err := create(); return err })
	})
	b.Run("lock-quote", func(b *testing.B) {
		ids := make(chan string, b.N)
		for range b.N {
			id, err := create()
			if err != nil {
				b.Fatal(err)
			}
			ids <- id
		}
		close(ids)
		var n atomic.Int64
		round := time.Now().UnixNano()
		parallel(b, func() error {
			_, err := fxc.LockQuote(ctx, &fxv1.LockQuoteRequest{QuoteId: <-ids, PaymentId: fmt.Sprintf("p-%d-%d", round, n.Add(1)),
				PartnerId: "hipay", MerchantAmount: amount})
			return err
		})
	})
}
