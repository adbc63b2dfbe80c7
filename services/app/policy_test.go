package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/walletsim"
)

// testNetworkInput: what a merchant network sends is checked at the edge
// — InvalidArgument naming the field, before any quote is made or locked
// and before anything is written.
func (e *env) testNetworkInput(t *testing.T) {
	p := e.pos()
	wallet := e.stack.Wallets.Wallet("hipay")
	wallet.SetBalance("edge-user", 1_000_000)
	code := wallet.IssueCode("edge-user")
	payments, refunds := e.count(e.db, "acq_payments"), e.count(e.db, "acq_refunds")
	for _, tc := range []struct {
		name, order, merchant, code string
		reason                      rpcerr.Reason
		field                       string
	}{
		{"no merchant", "edge-1", "", code, rpcerr.InvalidArgument, "merchant_id"},
		{"NUL in merchant_id", "edge-2", "M10001\x00", code, rpcerr.InvalidArgument, "merchant_id"},
		{"merchant_id too long", "edge-3", strings.Repeat("M", 65), code, rpcerr.InvalidArgument, "merchant_id"},
		{"control character in merchant_id", "edge-4", "M1\x07", code, rpcerr.InvalidArgument, "merchant_id"},
		{"bad order id", "edge 5", "M10001", code, rpcerr.InvalidArgument, "order_id"},
		{"control character in code", "edge-6", "M10001", code + "\r", rpcerr.InvalidCode, "code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.submit(tc.order, tc.merchant, tc.code, 100)
			if status.Code(err) != codes.InvalidArgument || rpcerr.ReasonOf(err) != tc.reason || fieldOf(err) != tc.field {
				t.Fatalf("got %v %s field %q, want %s on %s", status.Code(err), rpcerr.ReasonOf(err), fieldOf(err), tc.reason, tc.field)
			}
		})
	}
	paid, err := p.submit("edge-ok", "M10001", code, 100)
	if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("the code is still good after the refusals: %v %v", paid, err)
	}
	resp, err := p.c.RefundPayment(p.ctx, refundRequest("edge-r1", paid.GetPaymentId(), 10, "reason\x00"))
	if rpcerr.ReasonOf(err) != rpcerr.InvalidArgument || fieldOf(err) != "reason" {
		t.Fatalf("refund with a NUL in its reason: %v %v", resp, err)
	}
	if got := e.count(e.db, "acq_payments"); got != payments+1 {
		t.Fatalf("refused submissions wrote %d payments", got-payments-1)
	}
	if got := e.count(e.db, "acq_refunds"); got != refunds {
		t.Fatalf("a refused refund wrote %d rows", got-refunds)
	}
}

// testPartnerPolicies: a partner with no WalletPartnerService cannot be
// refunded (refused at once, nothing held); a disabled partner can no
// longer pay, but can still read its payments, stream its events and
// cancel.
func (e *env) testPartnerPolicies(t *testing.T) {
	ctx := context.Background()
	cli, err := e.stack.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	partner := router.Partner{ID: "plainwallet", Name: "A wallet without an endpoint", Currency: "MNT", SigningKeys: e.keys(authn.Partner, "plainwallet")}
	if err := router.PutPartner(ctx, cli, partner); err != nil {
		t.Fatal(err)
	}
	w := walletsim.New("plainwallet", e.partner("plainwallet"))
	code := e.staticCode(0)
	waitFor(t, "onboarding", func() bool {
		_, err := w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: code})
		return err == nil
	})
	_, _, paid, err := w.ScanAndPay(ctx, code, cny(800), "plain-1", "u-plain")
	if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", paid, err)
	}
	_, _, second, err := w.ScanAndPay(ctx, code, cny(900), "plain-2", "u-plain")
	if err != nil || second.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", second, err)
	}
	refunds := e.count(e.db, "acq_refunds")
	_, err = e.pos().refund("plain-r1", paid.GetPaymentId(), 100)
	if rpcerr.ReasonOf(err) != rpcerr.PaymentNotRefundable {
		t.Fatalf("refund of a partner with no endpoint: %v", err)
	}
	if got := e.count(e.db, "acq_refunds"); got != refunds {
		t.Fatal("a refused refund was written")
	}
	if p := e.get(w, paid.GetPaymentId()); p.GetRefundedAmount() != nil {
		t.Fatalf("a refused refund held %v", p.GetRefundedAmount())
	}

	partner.Disabled = true
	if err := router.PutPartner(ctx, cli, partner); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disabling", func() bool {
		_, err := w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: code})
		return rpcerr.ReasonOf(err) == rpcerr.PartnerDisabled
	})
	if _, err := w.Client.CreateQuote(w.Context(ctx), &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(100)}); rpcerr.ReasonOf(err) != rpcerr.PartnerDisabled {
		t.Fatalf("quote of a disabled partner: %v", err)
	}
	if _, err := w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "plain-3", Code: code, Amount: cny(100),
		QuoteId: "any", UserRef: "u-plain"}); rpcerr.ReasonOf(err) != rpcerr.PartnerDisabled {
		t.Fatalf("pay of a disabled partner: %v", err)
	}
	if got := e.get(w, paid.GetPaymentId()); got.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED {
		t.Fatalf("reading as a disabled partner: %v", got)
	}
	sctx, stop := context.WithTimeout(w.Context(ctx), 5*time.Second)
	defer stop()
	stream, err := w.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := stream.Recv(); err != nil || ev.GetEvent().GetPayment().GetPaymentId() != paid.GetPaymentId() {
		t.Fatalf("streaming as a disabled partner: %v %v", ev, err)
	}
	c, err := w.Client.CancelPayment(w.Context(ctx), &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: second.GetPaymentId()}})
	if err != nil || c.GetPayment().GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		t.Fatalf("cancel as a disabled partner: %v %v", c, err)
	}
}

func fieldOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

func refundRequest(req, paymentID string, amount int64, reason string) *acquiringv1.RefundPaymentRequest {
	return &acquiringv1.RefundPaymentRequest{RefundRequestId: req, PaymentId: paymentID, Amount: cny(amount), Reason: reason}
}
