package walletsim

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
)

// TestInquiryNamesUser checks that an inquiry of a successful
// authorization, whichever partner's wallet holds it, names the user as
// Authorize did, and that a cancelled one names nobody.
func TestInquiryNamesUser(t *testing.T) {
	ctx := context.Background()
	ws, err := NewWallets([]PartnerWallet{
		{PartnerID: "hipay", Currency: "MNT", CodePrefix: "2851"},
		{PartnerID: "kpay", Currency: "KRW", CodePrefix: "2852"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ partner, currency, user string }{{"hipay", "MNT", "u-mn-1"}, {"kpay", "KRW", "u-kr-1"}} {
		w := ws.Wallet(tc.partner)
		w.SetBalance(tc.user, 1_000_000)
		// The wallet debits and answers U: Unigate learns the outcome, and
		// the user, from the inquiry.
		w.AnswerUnknownNextAuthorizes(1)
		id := "pay-" + tc.partner
		auth, err := ws.Authorize(ctx, &partnerv1.AuthorizeRequest{PaymentId: id, Code: w.IssueCode(tc.user),
			WalletAmount: &commonv1.Money{Currency: tc.currency, MinorUnits: 5_000}})
		if err != nil || auth.GetResult() != commonv1.Result_RESULT_UNKNOWN {
			t.Fatalf("%s: Authorize = %v, %v; want U", tc.partner, auth, err)
		}
		inq, err := ws.InquireAuthorization(ctx, &partnerv1.InquireAuthorizationRequest{PaymentId: id})
		if err != nil || inq.GetResult() != commonv1.Result_RESULT_SUCCESS || inq.GetUserRef() != tc.user || inq.GetPartnerReference() == "" {
			t.Fatalf("%s: inquiry = %v, %v; want S naming %s", tc.partner, inq, err, tc.user)
		}
		if _, err := ws.CancelAuthorization(ctx, &partnerv1.CancelAuthorizationRequest{PaymentId: id}); err != nil {
			t.Fatal(err)
		}
		inq, err = ws.InquireAuthorization(ctx, &partnerv1.InquireAuthorizationRequest{PaymentId: id})
		if err != nil || inq.GetResult() != commonv1.Result_RESULT_FAILURE || inq.GetUserRef() != "" {
			t.Fatalf("%s: inquiry after the cancel = %v, %v; want F naming nobody", tc.partner, inq, err)
		}
		if got := w.Balance(tc.user); got != 1_000_000 {
			t.Fatalf("%s: balance %d after the cancel, want 1000000", tc.partner, got)
		}
	}
	if _, err := ws.InquireAuthorization(ctx, &partnerv1.InquireAuthorizationRequest{PaymentId: "pay-never"}); status.Code(err) != codes.NotFound {
		t.Fatalf("inquiry of an authorization that never arrived: %v, want NotFound", err)
	}
}
