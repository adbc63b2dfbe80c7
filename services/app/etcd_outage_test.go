package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/walletsim"
)

// TestEtcdOutage: with etcd gone, payments keep flowing on the routing
// table in memory, and an acquirer replica started during the outage
// starts on the cached table and takes payments too. Rates, though, reach
// the fx replicas through etcd: once the last ones are older than the
// staleness limit, a payment that converts currency is refused with
// RATE_NOT_AVAILABLE naming the stale providers — never priced at an old
// rate — while one that converts nothing still goes through.
func TestEtcdOutage(t *testing.T) {
	const staleness = 2 * time.Second
	e := startEnv(t, "", func(c *app.StackConfig) { c.RateStaleness = staleness })
	ctx := context.Background()
	pay := func(t *testing.T, w *walletsim.Wallet, key string) {
		t.Helper()
		_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(1000), key, "u-outage")
		if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("payment %s during the outage: %v %v", key, p, err)
		}
	}
	hipay := walletsim.New("hipay", e.partner("hipay"))
	cnbank := walletsim.New("cnbank", e.partner("cnbank"))
	pay(t, hipay, "outage-0")
	e.stack.StopEtcd()
	stopped := time.Now()
	for i := 1; i <= 3; i++ {
		pay(t, cnbank, fmt.Sprintf("outage-%d", i))
	}
	time.Sleep(time.Until(stopped.Add(staleness + 500*time.Millisecond)))
	_, err := hipay.SDK.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: e.staticCode(0), Amount: cny(1000)})
	if rpcerr.ReasonOf(err) != rpcerr.RateNotAvailable || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a quote on rates older than the limit: %v; want RATE_NOT_AVAILABLE naming them stale", err)
	}
	if _, err := e.stack.StartAcquirer("acquirer-during-outage", 0); err != nil {
		t.Fatalf("an acquirer started during the outage: %v", err)
	}
	conn, err := e.stack.Dial("acquirer-during-outage", authn.Partner, "cnbank")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pay(t, walletsim.New("cnbank", conn), "outage-new-replica")
}
