package app_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"
	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/walletsim"
)

// waitFor polls until ok holds or fails the test after 10 s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// netLedger sums one payment's postings per account and currency.
func (e *env) netLedger(paymentID string) map[string]int64 {
	e.t.Helper()
	ps, err := e.settlement.ListPostings(context.Background(), &settlementv1.ListPostingsRequest{PaymentId: paymentID})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range ps.GetPostings() {
		for _, en := range p.GetEntries() {
			v := en.GetAmount().GetMinorUnits()
			if en.GetSide() == settlementv1.Side_SIDE_CREDIT {
				v = -v
			}
			out[en.GetAccount()+"/"+en.GetAmount().GetCurrency()] += v
		}
	}
	return out
}

func (e *env) get(w *walletsim.Wallet, id string) *partnerv1.Payment {
	e.t.Helper()
	resp, err := w.Client.GetPayment(w.Context(context.Background()), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: id}})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GetPayment()
}

func (e *env) testCancel(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("hipay", e.partner("hipay"))
	_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(4200), "cancel-1", "u-cancel")
	if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", p, err)
	}
	before, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10001"})
	if err != nil {
		t.Fatal(err)
	}
	cancel := func(key string) (*partnerv1.CancelPaymentResponse, error) {
		return w.Client.CancelPayment(w.Context(ctx), &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PartnerPaymentId{PartnerPaymentId: key}})
	}
	resp, err := cancel("cancel-1")
	if err != nil || resp.GetResult() != commonv1.Result_RESULT_SUCCESS ||
		resp.GetPayment().GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	// Cancelling again answers the same.
	again, err := cancel("cancel-1")
	if err != nil || again.GetResult() != commonv1.Result_RESULT_SUCCESS || again.GetPayment().GetStatus() != resp.GetPayment().GetStatus() {
		t.Fatalf("second cancel: %v %v", again, err)
	}
	// The merchant's credit was reversed, and the ledger nets to zero for it.
	after, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10001"})
	if err != nil || after.GetCount() != before.GetCount()-1 {
		t.Fatalf("credits %d -> %d, want one fewer", before.GetCount(), after.GetCount())
	}
	waitFor(t, "payment and reversal posted", func() bool { return len(e.netLedger(p.GetPaymentId())) > 0 })
	e.waitPosted(p.GetPaymentId())
	for k, v := range e.netLedger(p.GetPaymentId()) {
		if v != 0 {
			t.Errorf("after the cancel %s nets %d, want 0", k, v)
		}
	}
	// Refusals: another partner; unknown payment.
	other := walletsim.New("zalopay", e.partner("zalopay"))
	_, err = other.Client.CancelPayment(other.Context(ctx), &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
	if rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		t.Fatalf("other partner's cancel: %v", err)
	}
	// A failed payment has nothing to cancel: S, unchanged.
	_, _, failed, err := w.ScanAndPay(ctx, e.staticCode(2), cny(100), "cancel-failed", "u-cancel")
	if err != nil || failed.GetResult() != commonv1.Result_RESULT_FAILURE {
		t.Fatalf("declined payment: %v %v", failed, err)
	}
	resp, err = cancel("cancel-failed")
	if err != nil || resp.GetResult() != commonv1.Result_RESULT_SUCCESS || resp.GetPayment().GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED {
		t.Fatalf("cancel of a failed payment: %v %v", resp, err)
	}
}

func (e *env) testResolveUnknown(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("hipay", e.partner("hipay"))
	// M10004 credits but answers too late: U, then the resolver's inquiry
	// finds S.
	_, _, slow, err := w.ScanAndPay(ctx, e.staticCode(3), cny(1500), "u-slow", "u-resolve")
	if err != nil {
		t.Fatal(err)
	}
	if slow.GetResult() != commonv1.Result_RESULT_UNKNOWN {
		t.Fatalf("slow network answered %v, want U", slow.GetResult())
	}
	// M10005 never answers and never credits: U, then after the window a
	// reversal, then F.
	_, _, lost, err := w.ScanAndPay(ctx, e.staticCode(4), cny(1600), "u-lost", "u-resolve")
	if err != nil {
		t.Fatal(err)
	}
	if lost.GetResult() != commonv1.Result_RESULT_UNKNOWN {
		t.Fatalf("silent network answered %v, want U", lost.GetResult())
	}
	waitFor(t, "slow payment resolved", func() bool {
		return e.get(w, slow.GetPaymentId()).GetResult() == commonv1.Result_RESULT_SUCCESS
	})
	waitFor(t, "lost payment resolved", func() bool {
		return e.get(w, lost.GetPaymentId()).GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_PROCESSING
	})
	got := e.get(w, lost.GetPaymentId())
	if got.GetResult() != commonv1.Result_RESULT_FAILURE || got.GetFailureReason() != string(rpcerr.PaymentTimedOut) {
		t.Fatalf("lost payment ended %v", got)
	}
	e.waitPosted(slow.GetPaymentId())
	if n := e.netLedger(slow.GetPaymentId())["merchant_payable:cnsim/CNY"]; n != -1500 {
		t.Fatalf("slow payment's payable %d, want -1500", n)
	}
	if len(e.netLedger(lost.GetPaymentId())) != 0 {
		t.Fatal("a payment that never moved money was posted")
	}
	// A cancel accepted while a payment is in flight wins over its late
	// success: the credit that did happen is reversed, nothing is posted.
	_, _, inflight, err := w.ScanAndPay(ctx, e.staticCode(3), cny(1700), "u-cancelled", "u-resolve")
	if err != nil || inflight.GetResult() != commonv1.Result_RESULT_UNKNOWN {
		t.Fatalf("slow payment: %v %v", inflight, err)
	}
	creditsBefore, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10004"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.SDK.CancelPayment(ctx, inflight.GetPaymentId())
	if err != nil || c.GetResult() != commonv1.Result_RESULT_SUCCESS || c.GetPayment().GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		t.Fatalf("cancel in flight: %v %v", c, err)
	}
	creditsAfter, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10004"})
	if err != nil || creditsAfter.GetCount() != creditsBefore.GetCount()-1 {
		t.Fatalf("merchant credits %d -> %d, want the late credit reversed", creditsBefore.GetCount(), creditsAfter.GetCount())
	}
	time.Sleep(3 * fastLifecycle.Schedule[len(fastLifecycle.Schedule)-1]) // the resolver must not revive it
	if got := e.get(w, inflight.GetPaymentId()); got.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		t.Fatalf("cancelled payment became %v", got.GetStatus())
	}
	if len(e.netLedger(inflight.GetPaymentId())) != 0 {
		t.Fatal("a payment cancelled in flight was posted")
	}

	// Nothing is left for the resolver.
	var due int
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM acq_payments WHERE status = 'PROCESSING'`).Scan(&due); err != nil || due != 0 {
		t.Fatalf("%d payments still PROCESSING (%v)", due, err)
	}
}

func (e *env) testEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A partner of its own, so the sequence starts at 1.
	cli, err := e.stack.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := router.PutPartner(ctx, cli, router.Partner{ID: "eventwallet", Name: "Events", Currency: "SGD", SigningKeys: e.keys(authn.Partner, "eventwallet")}); err != nil {
		t.Fatal(err)
	}
	w := walletsim.New("eventwallet", e.partner("eventwallet"))
	waitFor(t, "onboarding", func() bool {
		_, err := w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: e.staticCode(0)})
		return err == nil
	})
	_, _, p1, err := w.ScanAndPay(ctx, e.staticCode(0), cny(300), "ev-1", "u-ev")
	if err != nil {
		t.Fatal(err)
	}
	_, _, p2, err := w.ScanAndPay(ctx, e.staticCode(2), cny(300), "ev-2", "u-ev")
	if err != nil {
		t.Fatal(err)
	}
	read := func(after int64, n int) []*partnerv1.Event {
		sctx, stop := context.WithCancel(w.Context(ctx))
		defer stop()
		stream, err := w.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{AfterSequence: after})
		if err != nil {
			t.Fatal(err)
		}
		var out []*partnerv1.Event
		for len(out) < n {
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("after %d events: %v", len(out), err)
			}
			out = append(out, resp.GetEvent())
		}
		return out
	}
	evs := read(0, 2)
	if evs[0].GetType() != partnerv1.EventType_EVENT_TYPE_PAYMENT_SUCCEEDED || evs[0].GetPayment().GetPaymentId() != p1.GetPaymentId() ||
		evs[1].GetType() != partnerv1.EventType_EVENT_TYPE_PAYMENT_FAILED || evs[1].GetPayment().GetPaymentId() != p2.GetPaymentId() {
		t.Fatalf("events %v", evs)
	}
	if evs[0].GetSequence() != 1 || evs[1].GetSequence() != 2 || evs[0].GetEventId() == "" {
		t.Fatalf("sequences %d %d", evs[0].GetSequence(), evs[1].GetSequence())
	}
	// Resuming after the first gives the second again, same id.
	again := read(evs[0].GetSequence(), 1)
	if again[0].GetEventId() != evs[1].GetEventId() {
		t.Fatalf("resumed at %v, want %v", again[0].GetEventId(), evs[1].GetEventId())
	}
	// A new event arrives on an open stream.
	sctx, stop := context.WithCancel(w.Context(ctx))
	defer stop()
	stream, err := w.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{AfterSequence: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, _, p3, err := w.ScanAndPay(ctx, e.staticCode(1), cny(300), "ev-3", "u-ev")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetEvent().GetPayment().GetPaymentId() != p3.GetPaymentId() || resp.GetEvent().GetSequence() != 3 {
		t.Fatalf("live event %v %v", resp, err)
	}
	// Partners see only their own events; a bad cursor is refused.
	other := walletsim.New("hkwallet", e.partner("hkwallet"))
	bad, err := other.Client.StreamEvents(other.Context(ctx), &partnerv1.StreamEventsRequest{AfterSequence: -1})
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("negative cursor: %v", err)
	}
}

// testSettlement closes a settlement cycle: the statement each partner is
// sent equals its receivable in the ledger, and a settled payment can no
// longer be cancelled.
func (e *env) testSettlement(t *testing.T) {
	ctx := context.Background()
	// Let the poster drain what earlier tests left owing, and close a cycle
	// over all of it, so the next cycle holds only what follows.
	drained := func() bool {
		var n int
		err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM acq_payments WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE`).Scan(&n)
		return err == nil && n == 0
	}
	waitFor(t, "earlier postings delivered", drained)
	if _, err := e.settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()}); err != nil {
		t.Fatal(err)
	}
	w := walletsim.New("hkwallet", e.partner("hkwallet"))
	_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(5555), "settle-1", "u-settle")
	if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", p, err)
	}
	e.waitPosted(p.GetPaymentId())
	waitFor(t, "postings delivered", drained)
	closed, err := e.settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()})
	if err != nil || closed.GetCycle().GetPostings() != 1 || len(closed.GetStatements()) != 1 {
		t.Fatalf("close cycle: %v %v", closed, err)
	}
	// Ledger invariant 5: the statement is the sum of its cycle's postings —
	// here the one payment's receivable entry, its wallet amount.
	st := closed.GetStatements()[0]
	if st.GetPartnerId() != "hkwallet" || st.GetNetReceivable().GetMinorUnits() != p.GetWalletAmount().GetMinorUnits() ||
		st.GetNetReceivable().GetCurrency() != "HKD" {
		t.Fatalf("statement %v for payment %v", st, p)
	}
	// The partner is told through its event stream.
	sctx, stop := context.WithTimeout(w.Context(ctx), 10*time.Second)
	defer stop()
	stream, err := w.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("no STATEMENT_READY event for %s: %v", st.GetStatementId(), err)
		}
		ev := resp.GetEvent()
		if ev.GetType() == partnerv1.EventType_EVENT_TYPE_STATEMENT_READY && ev.GetStatement().GetStatementId() == st.GetStatementId() {
			if ev.GetStatement().GetNetAmount().GetMinorUnits() != st.GetNetReceivable().GetMinorUnits() {
				t.Fatalf("statement event %v, want %v", ev.GetStatement(), st)
			}
			break
		}
	}
	// Settled: the cancel window is closed for it.
	if _, err := w.SDK.CancelPayment(ctx, p.GetPaymentId()); unigateReason(err) != string(rpcerr.CancelWindowClosed) {
		t.Fatalf("cancel of a settled payment: %v", err)
	}
}

func unigateReason(err error) string { return unigate.ReasonOf(err) }
