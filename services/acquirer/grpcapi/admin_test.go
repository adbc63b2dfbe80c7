package grpcapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer/store"
)

// TestOperatorServerRefusesBadInput: every request names the field it
// lacks or that is malformed, InvalidArgument; unknown payments and
// refunds are NOT_FOUND with their reasons; an id nobody has finds
// nothing.
func TestOperatorServerRefusesBadInput(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		s := NewOperatorServer(store.New(db))
		long := strings.Repeat("x", maxLookupID+1)
		for _, tc := range []struct {
			name  string
			call  func() error
			field string
		}{
			{"find without an id", func() error { _, err := s.FindPayments(ctx, &acquiringv1.FindPaymentsRequest{}); return err }, "id"},
			{"find with a long id", func() error {
				_, err := s.FindPayments(ctx, &acquiringv1.FindPaymentsRequest{Id: long})
				return err
			}, "id"},
			{"find with a control character", func() error {
				_, err := s.FindPayments(ctx, &acquiringv1.FindPaymentsRequest{Id: "a\nb"})
				return err
			}, "id"},
			{"timeline without a payment", func() error {
				_, err := s.GetPaymentTimeline(ctx, &acquiringv1.GetPaymentTimelineRequest{})
				return err
			}, "payment_id"},
			{"refunds without a payment", func() error { _, err := s.ListRefunds(ctx, &acquiringv1.ListRefundsRequest{}); return err }, "payment_id"},
			{"refund without an id", func() error { _, err := s.FindRefund(ctx, &acquiringv1.FindRefundRequest{}); return err }, "id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := rpcerr.ToStatus(tc.call())
				var field string
				for _, d := range st.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
						field = br.GetFieldViolations()[0].GetField()
					}
				}
				if st.Code() != codes.InvalidArgument || field != tc.field {
					t.Fatalf("got %v (field %q), want InvalidArgument on %q", st, field, tc.field)
				}
			})
		}
		if _, err := s.GetPaymentTimeline(ctx, &acquiringv1.GetPaymentTimelineRequest{PaymentId: "nope"}); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
			t.Errorf("the timeline of an unknown payment: %v", err)
		}
		if _, err := s.ListRefunds(ctx, &acquiringv1.ListRefundsRequest{PaymentId: "nope"}); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
			t.Errorf("the refunds of an unknown payment: %v", err)
		}
		if _, err := s.FindRefund(ctx, &acquiringv1.FindRefundRequest{Id: "nope"}); rpcerr.ReasonOf(err) != rpcerr.RefundNotFound {
			t.Errorf("an unknown refund: %v", err)
		}
		if resp, err := s.FindPayments(ctx, &acquiringv1.FindPaymentsRequest{Id: "nope"}); err != nil || len(resp.GetMatches()) != 0 {
			t.Errorf("find an id nobody has: %v %v", resp, err)
		}
	})
}
