package app_test

import (
	"context"
	"testing"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/walletsim"
)

// TestResolverSurvivesLeaderStop leaves a payment in U, stops the acquirer
// that took it (the resolver's leader), and checks that a second replica
// is elected and drives the payment to its end from the database.
func TestResolverSurvivesLeaderStop(t *testing.T) {
	for _, b := range sqlstoretest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := ""
			if b.Name == "postgres" {
				dsn = b.DSN(t)
			}
			e := startEnv(t, dsn)
			ctx := context.Background()
			cli, err := e.stack.EtcdClient()
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			waitFor(t, "first acquirer elected", func() bool {
				who, _, ok, _ := election.Leader(ctx, cli, acquirer.SingletonName)
				return ok && who == "acquirer"
			})
			addrB, err := e.stack.StartAcquirer("acquirer-b", 0)
			if err != nil {
				t.Fatal(err)
			}
			_ = addrB
			connB, err := e.stack.Dial("acquirer-b", authn.Partner, "hipay")
			if err != nil {
				t.Fatal(err)
			}
			defer connB.Close()

			w := walletsim.New("hipay", e.partner("hipay"))
			_, _, lost, err := w.ScanAndPay(ctx, e.staticCode(4), cny(900), "failover-1", "u-failover")
			if err != nil || lost.GetResult() != commonv1.Result_RESULT_UNKNOWN {
				t.Fatalf("pay: %v %v", lost, err)
			}
			e.stack.StopService("acquirer")
			waitFor(t, "second acquirer elected", func() bool {
				who, _, ok, _ := election.Leader(ctx, cli, acquirer.SingletonName)
				return ok && who == "acquirer-b"
			})
			wb := walletsim.New("hipay", connB)
			var final *partnerv1.Payment
			waitFor(t, "payment resolved by the new leader", func() bool {
				resp, err := wb.Client.GetPayment(wb.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: lost.GetPaymentId()}})
				if err != nil {
					return false
				}
				final = resp.GetPayment()
				return final.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_PROCESSING
			})
			if final.GetResult() != commonv1.Result_RESULT_FAILURE || final.GetFailureReason() != string(rpcerr.PaymentTimedOut) {
				t.Fatalf("payment ended %v", final)
			}
		})
	}
}
