package grpcapi

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
	"github.com/unigate/unigate/services/settlement"
)

// TestSettlingInUSD runs a partner with an MNT wallet that settles in USD
// through a payment at a CNY merchant, a partial refund and, for a second
// payment, a cancel: through the partner and merchant-side handlers, the
// real domain and store, and the real ledger behind its gRPC server. The
// quote fixes what the partner owes in USD; the refund gives back its
// share at the payment's rates; the ledger holds exactly those amounts.
func TestSettlingInUSD(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		if err := settlement.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		ledger := settlement.NewService(settlement.NewSQLStore(db), nil)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		settlementv1.RegisterSettlementServiceServer(srv, settlement.NewServer(ledger))
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })

		st := store.New(db)
		d := Deps(st, Conns{Settlement: conn})
		d.Router, d.FX, d.Risk, d.Networks, d.Wallets = fakeRouter{}, newFakeFX(), approveAll{}, succeeding{}, succeeding{}
		svc := acquirer.NewService(d, acquirer.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
		partner, network := NewPartnerServer(svc), NewAcquiringServer(svc)

		pay := func(key string) *partnerv1.Payment {
			t.Helper()
			q, err := partner.CreateQuote(partnerCtx(), &partnerv1.CreateQuoteRequest{Code: staticCode, Amount: pbMoney("CNY", 10000)})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(q.GetQuote().GetSettlementAmount(), pbMoney("USD", 1410)) {
				t.Fatalf("quote %v: want 14.10 USD owed", q.GetQuote())
			}
			resp, err := partner.Pay(partnerCtx(), &partnerv1.PayRequest{PartnerPaymentId: key, Code: staticCode,
				Amount: q.GetQuote().GetMerchantAmount(), QuoteId: q.GetQuote().GetQuoteId(), UserRef: "user-1"})
			if err != nil {
				t.Fatal(err)
			}
			p := resp.GetPayment()
			if p.GetResult() != commonv1.Result_RESULT_SUCCESS || !proto.Equal(p.GetWalletAmount(), pbMoney("MNT", 4875000)) ||
				!proto.Equal(p.GetSettlementAmount(), pbMoney("USD", 1410)) {
				t.Fatalf("payment %v: want S, 48,750.00 MNT paid and 14.10 USD owed", p)
			}
			stored, err := st.Payment(ctx, p.GetPaymentId())
			if err != nil || stored.CostAmount.String() != "13.90 USD" {
				t.Fatalf("stored payment costs %v (%v), want 13.90 USD", stored.CostAmount, err)
			}
			return p
		}

		// A payment, then a quarter of it refunded.
		paid := pay("order-1")
		refund, err := network.RefundPayment(networkCtx(), &acquiringv1.RefundPaymentRequest{RefundRequestId: "refund-1",
			PaymentId: paid.GetPaymentId(), Amount: pbMoney("CNY", 2500), Reason: "one tea returned"})
		if err != nil {
			t.Fatal(err)
		}
		if r := refund.GetRefund(); r.GetResult() != commonv1.Result_RESULT_SUCCESS || !proto.Equal(r.GetWalletAmount(), pbMoney("MNT", 1218750)) {
			t.Fatalf("refund %v: want S, 12,187.50 MNT back", r)
		}
		r, err := st.RefundByRequest(ctx, testNetwork, "refund-1")
		if err != nil || r.SettlementAmount.String() != "3.52 USD" || r.CostAmount.String() != "3.47 USD" {
			t.Fatalf("stored refund settles %v, costs %v (%v); want 3.52 and 3.47 USD", r.SettlementAmount, r.CostAmount, err)
		}

		// A second payment, cancelled.
		cancelled := pay("order-2")
		cancel, err := partner.CancelPayment(partnerCtx(), &partnerv1.CancelPaymentRequest{
			Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: cancelled.GetPaymentId()}})
		if err != nil || cancel.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("cancel = %v, %v; want S", cancel, err)
		}

		if n, err := svc.PostPending(ctx); err != nil || n != 3 {
			t.Fatalf("PostPending = %d, %v; want the two payments and the refund", n, err)
		}
		entries := func(paymentID string) map[string]string {
			ps, err := ledger.ListPostings(ctx, paymentID)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, p := range ps {
				var es []string
				for _, e := range p.Entries() {
					es = append(es, string(e.Side)+" "+e.Account+" "+e.Amount.String())
				}
				sort.Strings(es)
				out[p.Kind()] = strings.Join(es, "; ")
			}
			return out
		}
		payment := "C fx_position:USD 13.90 USD; C fx_revenue 0.20 USD; C merchant_payable:unionpay 100.00 CNY; " +
			"D fx_position:CNY 100.00 CNY; D partner_receivable:hipay 14.10 USD"
		want := map[string]string{
			"payment": payment,
			"reversal:" + acquirer.RefundID(testNetwork, "refund-1"): "C fx_position:CNY 25.00 CNY; C partner_receivable:hipay 3.52 USD; " +
				"D fx_position:USD 3.47 USD; D fx_revenue 0.05 USD; D merchant_payable:unionpay 25.00 CNY",
		}
		if got := entries(paid.GetPaymentId()); !maps.Equal(got, want) {
			t.Fatalf("postings of the refunded payment:\n\t%v\nwant\n\t%v", got, want)
		}
		want = map[string]string{
			"payment": payment,
			"reversal:cancel-" + cancelled.GetPaymentId(): "C fx_position:CNY 100.00 CNY; C partner_receivable:hipay 14.10 USD; " +
				"D fx_position:USD 13.90 USD; D fx_revenue 0.20 USD; D merchant_payable:unionpay 100.00 CNY",
		}
		if got := entries(cancelled.GetPaymentId()); !maps.Equal(got, want) {
			t.Fatalf("postings of the cancelled payment:\n\t%v\nwant\n\t%v", got, want)
		}

		// What the partner owes is in USD: the payment less the refund.
		bs, err := ledger.TrialBalance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, b := range bs {
			if n := b.Debit - b.Credit; n != 0 {
				got[b.Account+" "+b.Currency] = n
			}
		}
		wantNets := map[string]int64{"partner_receivable:hipay USD": 1058, "fx_revenue USD": -15, "fx_position:USD USD": -1043,
			"fx_position:CNY CNY": 7500, "merchant_payable:unionpay CNY": -7500}
		if !maps.Equal(got, wantNets) {
			t.Fatalf("trial balance %v, want %v", got, wantNets)
		}
		// The cycle nets the partner's receivable in its settlement currency.
		_, sts, err := ledger.CloseCycle(ctx, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) != 1 || sts[0].PartnerID != testPartner || sts[0].NetReceivable.String() != "10.58 USD" || sts[0].Postings != 4 {
			t.Fatalf("statements %+v, want hipay's 10.58 USD over 4 postings", sts)
		}
		if v, err := ledger.CheckInvariants(ctx); err != nil || len(v) != 0 {
			t.Fatalf("ledger invariants: %v, %v", v, err)
		}
		if v, err := st.CheckInvariants(ctx); err != nil || len(v) != 0 {
			t.Fatalf("acquirer invariants: %v, %v", v, err)
		}
	})
}
