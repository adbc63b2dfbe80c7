package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/grpcapi"
	acqstore "github.com/unigate/unigate/services/acquirer/store"
	"github.com/unigate/unigate/services/merchantsim"
	"github.com/unigate/unigate/services/walletsim"
)

// backlogPayment is a valid MPM payment row for tests that build rows
// directly.
func backlogPayment(id, endpoint string, at time.Time) acquirer.Payment {
	next := at
	return acquirer.Payment{ID: id, PartnerID: "hipay", PartnerPaymentID: id, RequestHash: "h", Mode: acquirer.MPM,
		Status: acquirer.Processing, UserRef: "u-backlog",
		Merchant:       acquirer.Merchant{ID: "M10001", NetworkID: "cnsim", Name: "Backlog", City: "Erenhot", MCC: "5812", Country: "CN", Currency: "CNY"},
		MerchantAmount: money.Amount{Currency: "CNY", Minor: 1000}, WalletAmount: money.Amount{Currency: "MNT", Minor: 487454},
		CostAmount: money.Amount{Currency: "MNT", Minor: 480250}, QuoteID: "q-" + id, Rate: "487.454",
		CreateTime: at, UpdateTime: at, NextAttempt: &next, NetworkEndpoint: endpoint, PartnerEndpoint: endpoint}
}

// TestPosterDrainsBacklog: a backlog of 2,000 mixed outbox rows — 1,000
// succeeded payments, 500 cancels whose money had moved (two postings
// each), 500 refunds — one of them poisoned (the ledger holds another
// posting for it) is posted in batches of at most the ledger's limit, the
// poisoned row is set aside with its reason, and every other row is
// posted exactly once.
func TestPosterDrainsBacklog(t *testing.T) {
	for _, b := range sqlstoretest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn, backlogDSN := "", "sqlite://"+filepath.Join(t.TempDir(), "backlog.db")
			if b.Name == "postgres" {
				dsn, backlogDSN = b.DSN(t), b.DSN(t)
			}
			e := startEnv(t, dsn)
			db, err := sqlstore.Open(ctx, backlogDSN)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := acqstore.Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
			st := acqstore.New(db)
			conn, err := e.stack.Dial("settlement", authn.Service, "acquirer")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			svc := acquirer.NewService(grpcapi.Deps(st, grpcapi.Conns{Settlement: conn}), fastLifecycle,
				slog.New(slog.NewTextHandler(io.Discard, nil)), nil)

			must := func(_ acquirer.Payment, applied bool, err error) {
				t.Helper()
				if err != nil || !applied {
					t.Fatalf("applied %v, err %v", applied, err)
				}
			}
			mustR := func(_ acquirer.Refund, applied bool, err error) {
				t.Helper()
				if err != nil || !applied {
					t.Fatalf("applied %v, err %v", applied, err)
				}
			}
			run := fmt.Sprintf("backlog-%d", time.Now().UnixNano())
			at := time.Now().UTC().Truncate(time.Microsecond)
			var poisoned string
			for i := range 1500 {
				p := backlogPayment(fmt.Sprintf("%s-p%04d", run, i), "unused:1", at)
				must(st.InsertPayment(ctx, p))
				must(st.MarkSucceeded(ctx, p.ID, "ref", "", at, nil))
				switch {
				case i >= 1000: // cancelled after the money moved
					must(st.RequestCancel(ctx, p.ID, at.Add(-time.Hour), at.Add(time.Hour), at))
					must(st.MarkReversed(ctx, p.ID, at, nil))
				case i < 500: // refunded in part
					r := acquirer.Refund{ID: p.ID + "-r", PaymentID: p.ID, PartnerID: p.PartnerID, NetworkID: "cnsim",
						RequestID: p.ID + "-r", RequestHash: "h", Status: acquirer.Processing,
						MerchantAmount: money.Amount{Currency: "CNY", Minor: 300}, WalletAmount: money.Amount{Currency: "MNT"},
						CostAmount: money.Amount{Currency: "MNT"}, CreateTime: at, UpdateTime: at, NextAttempt: &at}
					if _, _, err := st.InsertRefund(ctx, r, acquirer.Proportional); err != nil {
						t.Fatal(err)
					}
					mustR(st.MarkRefundSucceeded(ctx, r.ID, "pref", at, nil))
				}
				if i == 777 {
					poisoned = p.ID
				}
			}
			// The ledger already holds a different posting for one payment.
			if _, err := settlementv1.NewSettlementServiceClient(conn).PostPayment(ctx, &settlementv1.PostPaymentRequest{
				PaymentId: poisoned, PartnerId: "hipay", NetworkId: "cnsim", MerchantId: "M10001",
				WalletAmount: mpb("MNT", 5), CostAmount: mpb("MNT", 5), MerchantAmount: mpb("CNY", 1)}); err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			n, err := svc.PostPending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("posted a backlog of 2,000 rows (2,500 postings) in %v", time.Since(start))
			if n != 1999 {
				t.Fatalf("marked %d rows posted, want 1,999", n)
			}
			if n, err := svc.PostPending(ctx); err != nil || n != 0 {
				t.Fatalf("a second pass posted %d (%v), want nothing", n, err)
			}
			var unposted, poison int
			if err := db.QueryRowContext(ctx, `SELECT
				(SELECT count(*) FROM acq_payments WHERE NOT ledger_posted AND posting_error = '')
				+ (SELECT count(*) FROM acq_refunds WHERE NOT ledger_posted AND posting_error = ''),
				(SELECT count(*) FROM acq_payments WHERE posting_error <> '' AND payment_id = $1)`, poisoned).Scan(&unposted, &poison); err != nil {
				t.Fatal(err)
			}
			if unposted != 0 || poison != 1 {
				t.Fatalf("%d rows left unposted, poisoned row set aside: %d", unposted, poison)
			}
			var postings int
			if err := e.ledgerDB.QueryRowContext(ctx, `SELECT count(*) FROM ledger_postings WHERE payment_id LIKE $1`, run+"-%").Scan(&postings); err != nil {
				t.Fatal(err)
			}
			// 1,000 payments (less the poisoned one, plus its conflicting
			// posting), 500 × 2 for the cancels, 500 refunds.
			if postings != 2500 {
				t.Fatalf("ledger holds %d postings of the backlog, want 2,500", postings)
			}
			if bad, err := st.CheckInvariants(ctx); err != nil || len(bad) > 0 {
				t.Fatalf("invariants: %v %v", bad, err)
			}
		})
	}
}

func mpb(currency string, minor int64) *commonv1.Money {
	return &commonv1.Money{Currency: currency, MinorUnits: minor}
}

// silentNetwork accepts connections and never answers a byte.
type silentNetwork struct {
	lis   net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newSilentNetwork(t *testing.T) *silentNetwork {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentNetwork{lis: lis}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	return s
}

func (s *silentNetwork) close() {
	s.lis.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// testSilentNetwork: while the resolver works through payments at a
// network that never answers, another partner's events still reach it
// within a second; once the network is back, those payments end F.
func (e *env) testSilentNetwork(t *testing.T) {
	ctx := context.Background()
	silent := newSilentNetwork(t)
	addr := silent.lis.Addr().String()
	st := acqstore.New(e.db)
	at := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for i := range 20 {
		p := backlogPayment(fmt.Sprintf("silent-%d-%d", at.UnixNano(), i), addr, at)
		if _, _, err := st.InsertPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	// The resolver is calling the silent network: its first calls time out
	// and it goes on retrying.
	waitFor(t, "the resolver at the silent network", func() bool {
		var tried int
		err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM acq_payments WHERE payment_id LIKE 'silent-%' AND attempts > 0
			AND status = 'PROCESSING'`).Scan(&tried)
		return err == nil && tried > 0
	})

	w := walletsim.New("zalopay", e.partner("zalopay"))
	sctx, stop := context.WithTimeout(w.Context(ctx), 20*time.Second)
	defer stop()
	stream, err := w.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(111), fmt.Sprintf("silent-other-%d-%d", at.UnixNano(), i), "u-other")
		if err != nil {
			t.Fatal(err)
		}
		paid := time.Now()
		for {
			ev, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetEvent().GetPayment().GetPaymentId() == p.GetPaymentId() {
				if d := time.Since(paid); d > time.Second {
					t.Fatalf("event delivered %v after the payment, want under a second", d)
				} else {
					t.Logf("event %d delivered %v after the payment", i, d)
				}
				break
			}
		}
	}
	// The network comes back: the reversals go through, the payments end F.
	silent.close()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := e.stack.PKI.ServerConfig(authn.Network, "cnsim")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcx.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), grpc.Creds(credentials.NewTLS(tlsCfg)))
	merchantv1.RegisterMerchantNetworkServiceServer(srv, merchantsim.New(merchantsim.DefaultConfig()))
	sctx2, stopSrv := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx2, lis, time.Second) }()
	defer func() { stopSrv(); <-done }()
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			p, err := st.Payment(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status == acquirer.Failed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment %s still %s with the network back", id, p.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
