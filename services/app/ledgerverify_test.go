package app_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/walletsim"
)

// TestVerifyLedger proves the books of a switch that paid, refunded,
// cancelled and closed cycles, in three currencies, then posts a payment
// the acquirer never made, corrupts an entry, counts a refund twice and
// deletes a posting, and checks that the proof names each.
func TestVerifyLedger(t *testing.T) {
	e := startEnv(t, sqlstoretest.PostgresDSN(t))
	ctx := context.Background()
	settle := func() {
		t.Helper()
		e.checkBooks(t) // waits until everything is final and posted
		if _, err := e.settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for i, partner := range []string{"hipay", "zalopay", "kwallet"} {
		w := walletsim.New(partner, e.partner(partner))
		_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(int64(10000+i)), "verify-"+partner, "u-verify")
		if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("%s: %v %v", partner, p, err)
		}
		e.waitPosted(p.GetPaymentId())
		e.stack.Wallets.Wallet(partner).SetBalance("u-verify", p.GetWalletAmount().GetMinorUnits())
		if err := e.stack.Wallets.Wallet(partner).RecordPayment(p.GetPaymentId(), "u-verify", p.GetWalletAmount().GetMinorUnits()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pos().refund("verify-refund-"+partner, p.GetPaymentId(), 1234); err != nil {
			t.Fatal(err)
		}
		settle()
	}
	w := walletsim.New("hipay", e.partner("hipay"))
	_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(777), "verify-cancel", "u-verify")
	if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", p, err)
	}
	if resp, err := w.Client.CancelPayment(w.Context(ctx), &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}); err != nil ||
		resp.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	settle()

	var refunds, cycles, statements int
	if err := e.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM acq_refunds WHERE status = 'SUCCEEDED'),
		(SELECT count(*) FROM settlement_cycles WHERE partner_id = ''), (SELECT count(*) FROM settlement_statements)`).Scan(&refunds, &cycles, &statements); err != nil {
		t.Fatal(err)
	}
	if refunds != 3 || cycles != 4 || statements < 4 {
		t.Fatalf("%d refunds succeeded, %d cycles, %d statements; want 3, 4 of every partner and at least 4", refunds, cycles, statements)
	}
	vs, err := app.VerifyLedger(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("sound books reported: %s", v)
	}
	listed, err := e.settlement.ListCycles(ctx, &settlementv1.ListCyclesRequest{})
	// The four closed here, and any scheduled cycles of the partners with
	// a daily cutoff (closed at start, empty, unless ours came first).
	all := 0
	for _, c := range listed.GetCycles() {
		if c.GetPartnerId() == "" {
			all++
		}
	}
	if err != nil || all != 4 {
		t.Fatalf("ListCycles: %v %v", listed, err)
	}
	for _, c := range listed.GetCycles() {
		vs, err := app.VerifyCycle(ctx, e.db, c.GetCycleId())
		if err != nil || len(vs) != 0 {
			t.Errorf("cycle %s: %v %v", c.GetCycleId(), vs, err)
		}
	}
	if _, err := app.VerifyCycle(ctx, e.db, "cycle-nope"); err == nil {
		t.Error("an unknown cycle verified")
	}

	// A posting for a payment the acquirer never made: money from nowhere.
	ledger := settlementv1.NewSettlementServiceClient(e.conn("settlement", authn.Service, "acquirer"))
	if _, err := ledger.PostPayment(ctx, &settlementv1.PostPaymentRequest{PaymentId: "forged", PartnerId: "hipay", NetworkId: "cnsim",
		MerchantId: "M10001", WalletAmount: &commonv1.Money{Currency: "MNT", MinorUnits: 500}, CostAmount: &commonv1.Money{Currency: "MNT", MinorUnits: 480},
		MerchantAmount: cny(1)}); err != nil {
		t.Fatal(err)
	}
	vs, err = app.VerifyLedger(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, v := range vs {
		if strings.Contains(v.Detail, "forged") || strings.Contains(v.Detail, "partner_receivable:hipay") {
			found[v.Invariant] = true
		}
	}
	if !found[app.InvPosting] || !found[app.InvMoney] {
		t.Fatalf("the forged posting was not named as unexpected and as money from nowhere: %v", vs)
	}
	// Settled into a cycle, the forgery is named by that cycle's proof.
	closed, err := e.settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	vs, err = app.VerifyCycle(ctx, e.db, closed.GetCycle().GetCycleId())
	if err != nil {
		t.Fatal(err)
	}
	found = map[string]bool{}
	for _, v := range vs {
		found[v.Invariant] = true
	}
	if !found[app.InvPosting] || !found[app.InvMoney] {
		t.Fatalf("cycle %s with the forged posting: %v", closed.GetCycle().GetCycleId(), vs)
	}

	// Tampering behind the services' backs is named: an entry's amount
	// changed, a refund counted twice, a posting gone.
	var paymentPosting, refundPosting, refundKind, refundPayment string
	if err := e.db.QueryRowContext(ctx, `SELECT posting_id FROM ledger_postings WHERE kind = 'payment' AND payment_id <> 'forged'
		ORDER BY posting_id LIMIT 1`).Scan(&paymentPosting); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRowContext(ctx, `SELECT posting_id, kind, payment_id FROM ledger_postings
		WHERE kind LIKE 'reversal:%' AND kind NOT LIKE 'reversal:cancel-%' ORDER BY posting_id LIMIT 1`).Scan(&refundPosting, &refundKind, &refundPayment); err != nil {
		t.Fatal(err)
	}
	names := func(what, inv, detail string) {
		t.Helper()
		vs, err := app.VerifyLedger(ctx, e.db)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Invariant == inv && strings.Contains(v.Detail, detail) {
				return
			}
		}
		t.Fatalf("%s: no %s violation naming %q in %v", what, inv, detail, vs)
	}
	sqlstoretest.MustExec(t, e.db, `UPDATE ledger_entries SET minor_units = minor_units + 1 WHERE posting_id = $1 AND seq = 0`, paymentPosting)
	names("a corrupted entry", app.InvLedger, "posting "+paymentPosting+" does not balance")
	sqlstoretest.MustExec(t, e.db, `UPDATE ledger_entries SET minor_units = minor_units - 1 WHERE posting_id = $1 AND seq = 0`, paymentPosting)

	sqlstoretest.MustExec(t, e.db, `INSERT INTO ledger_postings (posting_id, payment_id, kind, create_time, partner_id, network_id)
		SELECT 'twice', payment_id, kind || '-again', create_time, partner_id, network_id FROM ledger_postings WHERE posting_id = $1`, refundPosting)
	sqlstoretest.MustExec(t, e.db, `INSERT INTO ledger_entries (posting_id, seq, account, side, currency, minor_units)
		SELECT 'twice', seq, account, side, currency, minor_units FROM ledger_entries WHERE posting_id = $1`, refundPosting)
	names("a refund counted twice", app.InvPosting, "unexpected posting "+refundKind+"-again of payment "+refundPayment)
	names("a refund counted twice", app.InvMoney, "account partner_receivable:")
	sqlstoretest.MustExec(t, e.db, `DELETE FROM ledger_entries WHERE posting_id = 'twice'`)
	sqlstoretest.MustExec(t, e.db, `DELETE FROM ledger_postings WHERE posting_id = 'twice'`)

	sqlstoretest.MustExec(t, e.db, `DELETE FROM settlement_cycle_postings WHERE posting_id = $1`, refundPosting)
	sqlstoretest.MustExec(t, e.db, `DELETE FROM ledger_entries WHERE posting_id = $1`, refundPosting)
	sqlstoretest.MustExec(t, e.db, `DELETE FROM ledger_postings WHERE posting_id = $1`, refundPosting)
	names("a missing posting", app.InvPosting, "missing posting "+refundKind+" of payment "+refundPayment)
}
