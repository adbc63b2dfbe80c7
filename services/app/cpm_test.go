package app_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer/grpcapi"
	"github.com/unigate/unigate/services/walletsim"
)

// pos is the merchant network's side: its POS submits CPM payments and
// its back office refunds.
type pos struct {
	c   acquiringv1.AcquiringServiceClient
	ctx context.Context
}

func (e *env) pos() pos {
	return pos{c: acquiringv1.NewAcquiringServiceClient(e.network("cnsim")),
		ctx: metadata.AppendToOutgoingContext(context.Background(), grpcapi.NetworkHeader, "cnsim")}
}

func (p pos) submit(order, merchant, code string, amount int64) (*partnerv1.Payment, error) {
	resp, err := p.c.SubmitPayment(p.ctx, &acquiringv1.SubmitPaymentRequest{OrderId: order, MerchantId: merchant, Code: code, Amount: cny(amount)})
	return resp.GetPayment(), err
}

func (p pos) refund(req, paymentID string, amount int64) (*partnerv1.Refund, error) {
	resp, err := p.c.RefundPayment(p.ctx, &acquiringv1.RefundPaymentRequest{RefundRequestId: req, PaymentId: paymentID, Amount: cny(amount)})
	return resp.GetRefund(), err
}

func (e *env) testCPM(t *testing.T) {
	ctx := context.Background()
	p := e.pos()
	wallet := e.stack.Wallets.Wallet("hipay")
	wallet.SetBalance("cpm-user", 10_000_000) // 100,000.00 MNT
	code := wallet.IssueCode("cpm-user")

	paid, err := p.submit("ord-1", "M10001", code, 5000)
	if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS || paid.GetMode() != partnerv1.PaymentMode_PAYMENT_MODE_CPM ||
		paid.GetPartnerId() != "hipay" || paid.GetWalletAmount().GetCurrency() != "MNT" || paid.GetMerchantOrderId() != "ord-1" {
		t.Fatalf("submit: %v %v", paid, err)
	}
	if got := wallet.Balance("cpm-user"); got != 10_000_000-paid.GetWalletAmount().GetMinorUnits() {
		t.Fatalf("balance %d after paying %d", got, paid.GetWalletAmount().GetMinorUnits())
	}
	// The same order again: the same payment; with another amount: refused.
	again, err := p.submit("ord-1", "M10001", code, 5000)
	if err != nil || again.GetPaymentId() != paid.GetPaymentId() || again.GetResult() != paid.GetResult() {
		t.Fatalf("repeat: %v %v", again, err)
	}
	if _, err := p.submit("ord-1", "M10001", code, 5001); rpcerr.ReasonOf(err) != rpcerr.RepeatRequestInconsistent {
		t.Fatalf("reused order: %v", err)
	}

	t.Run("refused submissions write nothing", func(t *testing.T) {
		before := e.count(e.db, "acq_payments")
		for _, tc := range []struct {
			name, order, merchant, code string
			amount                      int64
			code2                       codes.Code
			reason                      rpcerr.Reason
		}{
			{"unknown code range", "ord-x1", "M10001", "123456789012345678", 100, codes.NotFound, rpcerr.UnknownCodeRange},
			{"an MPM code", "ord-x2", "M10001", e.staticCode(0), 100, codes.InvalidArgument, rpcerr.UnsupportedCode},
			{"unknown merchant", "ord-x3", "M99999", wallet.IssueCode("cpm-user"), 100, codes.NotFound, rpcerr.MerchantNotFound},
			{"zero amount", "ord-x4", "M10001", wallet.IssueCode("cpm-user"), 0, codes.InvalidArgument, rpcerr.InvalidAmount},
			{"bad order id", "has space", "M10001", wallet.IssueCode("cpm-user"), 100, codes.InvalidArgument, rpcerr.InvalidArgument},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := p.submit(tc.order, tc.merchant, tc.code, tc.amount)
				if status.Code(err) != tc.code2 || rpcerr.ReasonOf(err) != tc.reason {
					t.Fatalf("got %v, want %v %s", err, tc.code2, tc.reason)
				}
			})
		}
		if _, err := acquiringv1.NewAcquiringServiceClient(e.partner("hipay")).SubmitPayment(context.Background(), &acquiringv1.SubmitPaymentRequest{
			OrderId: "ord-x5", MerchantId: "M10001", Code: code, Amount: cny(100)}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("a partner calling the network API: %v", err)
		}
		if got := e.count(e.db, "acq_payments"); got != before {
			t.Fatalf("refusals wrote %d payments", got-before)
		}
	})

	t.Run("the wallet declines", func(t *testing.T) {
		broke := wallet.IssueCode("broke-user")
		f, err := p.submit("ord-2", "M10001", broke, 5000)
		if err != nil || f.GetResult() != commonv1.Result_RESULT_FAILURE || f.GetFailureReason() != string(rpcerr.WalletDeclined) {
			t.Fatalf("declined: %v %v", f, err)
		}
		if _, err := p.refund("rf-failed", f.GetPaymentId(), 100); rpcerr.ReasonOf(err) != rpcerr.PaymentNotRefundable {
			t.Fatalf("refund of a failed payment: %v", err)
		}
	})

	t.Run("partial refunds at the locked rate return exactly what was paid", func(t *testing.T) {
		before := wallet.Balance("cpm-user")
		r1, err := p.refund("rf-1", paid.GetPaymentId(), 2000)
		if err != nil || r1.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("refund 1: %v %v", r1, err)
		}
		// Same request again: same refund; same id, other amount: refused.
		if again, err := p.refund("rf-1", paid.GetPaymentId(), 2000); err != nil || again.GetRefundId() != r1.GetRefundId() {
			t.Fatalf("repeat refund: %v %v", again, err)
		}
		if _, err := p.refund("rf-1", paid.GetPaymentId(), 2001); rpcerr.ReasonOf(err) != rpcerr.RepeatRequestInconsistent {
			t.Fatalf("reused refund id: %v", err)
		}
		if _, err := p.refund("rf-too-much", paid.GetPaymentId(), 3001); rpcerr.ReasonOf(err) != rpcerr.RefundExceedsRemaining {
			t.Fatalf("refund above the remainder: %v", err)
		}
		r2, err := p.refund("rf-2", paid.GetPaymentId(), 3000)
		if err != nil || r2.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("refund 2: %v %v", r2, err)
		}
		total := r1.GetWalletAmount().GetMinorUnits() + r2.GetWalletAmount().GetMinorUnits()
		if total != paid.GetWalletAmount().GetMinorUnits() {
			t.Fatalf("refunds returned %d of %d", total, paid.GetWalletAmount().GetMinorUnits())
		}
		if got := wallet.Balance("cpm-user"); got != before+total {
			t.Fatalf("balance %d, want %d", got, before+total)
		}
		if _, err := p.refund("rf-3", paid.GetPaymentId(), 1); rpcerr.ReasonOf(err) != rpcerr.RefundExceedsRemaining {
			t.Fatalf("refund of a fully refunded payment: %v", err)
		}
		// Cancelling a refunded payment is refused.
		if _, err := p.c.CancelPayment(p.ctx, &acquiringv1.CancelPaymentRequest{Id: &acquiringv1.CancelPaymentRequest_OrderId{OrderId: "ord-1"}}); rpcerr.ReasonOf(err) != rpcerr.CancelNotAllowed {
			t.Fatalf("cancel after refunds: %v", err)
		}
		// The payment and its two refunds net to zero in every account.
		waitFor(t, "refunds posted", func() bool {
			return len(e.netLedger(paid.GetPaymentId())) > 0 && allZero(e.netLedger(paid.GetPaymentId()))
		})
	})

	t.Run("cancel", func(t *testing.T) {
		before := wallet.Balance("cpm-user")
		c, err := p.submit("ord-3", "M10002", wallet.IssueCode("cpm-user"), 1234)
		if err != nil || c.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("submit: %v %v", c, err)
		}
		resp, err := p.c.CancelPayment(p.ctx, &acquiringv1.CancelPaymentRequest{Id: &acquiringv1.CancelPaymentRequest_OrderId{OrderId: "ord-3"}})
		if err != nil || resp.GetResult() != commonv1.Result_RESULT_SUCCESS || resp.GetPayment().GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
			t.Fatalf("cancel: %v %v", resp, err)
		}
		if got := wallet.Balance("cpm-user"); got != before {
			t.Fatalf("balance %d after the cancel, want %d", got, before)
		}
		if _, err := p.refund("rf-cancelled", c.GetPaymentId(), 100); rpcerr.ReasonOf(err) != rpcerr.PaymentNotRefundable {
			t.Fatalf("refund of a cancelled payment: %v", err)
		}
	})

	t.Run("a wallet that times out is resolved", func(t *testing.T) {
		wallet.HangNextAuthorizes(1, unigate.HangAfterDebit)
		u, err := p.submit("ord-4", "M10001", wallet.IssueCode("cpm-user"), 700)
		if err != nil || u.GetResult() != commonv1.Result_RESULT_UNKNOWN {
			t.Fatalf("submit: %v %v", u, err)
		}
		waitFor(t, "resolved", func() bool {
			resp, err := p.c.GetPayment(p.ctx, &acquiringv1.GetPaymentRequest{Id: &acquiringv1.GetPaymentRequest_OrderId{OrderId: "ord-4"}})
			return err == nil && resp.GetPayment().GetResult() == commonv1.Result_RESULT_SUCCESS
		})
	})

	t.Run("refund of an MPM payment", func(t *testing.T) {
		w := walletsim.New("hipay", e.partner("hipay"))
		w.Backend = wallet
		wallet.SetBalance("mpm-user", 1_000_000)
		_, _, m, err := w.ScanAndPay(ctx, e.staticCode(1), cny(990), "mpm-refund", "mpm-user")
		if err != nil || m.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("pay: %v %v", m, err)
		}
		before := wallet.Balance("mpm-user")
		r, err := p.refund("rf-mpm", m.GetPaymentId(), 990)
		if err != nil || r.GetResult() != commonv1.Result_RESULT_SUCCESS || r.GetWalletAmount().GetMinorUnits() != m.GetWalletAmount().GetMinorUnits() {
			t.Fatalf("refund: %v %v", r, err)
		}
		if got := wallet.Balance("mpm-user"); got != before+m.GetWalletAmount().GetMinorUnits() {
			t.Fatalf("balance %d, want %d", got, before+m.GetWalletAmount().GetMinorUnits())
		}
		got, err := w.SDK.GetPayment(ctx, m.GetPaymentId())
		if err != nil || got.GetPayment().GetRefundedAmount().GetMinorUnits() != 990 {
			t.Fatalf("refunded amount: %v %v", got, err)
		}
		// Another network cannot refund it.
		e.onboardNetwork("othernet")
		other := metadata.AppendToOutgoingContext(context.Background(), grpcapi.NetworkHeader, "othernet")
		if _, err := acquiringv1.NewAcquiringServiceClient(e.network("othernet")).RefundPayment(other, &acquiringv1.RefundPaymentRequest{RefundRequestId: "x", PaymentId: m.GetPaymentId(), Amount: cny(1)}); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
			t.Fatalf("another network's refund: %v", err)
		}
	})
}

func allZero(m map[string]int64) bool {
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
