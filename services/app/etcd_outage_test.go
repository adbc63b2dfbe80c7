package app_test

import (
	"context"
	"fmt"
	"testing"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/services/walletsim"
)

// TestEtcdOutage: with etcd gone, payments keep flowing on the routing
// table in memory, and an acquirer replica started during the outage
// starts on the cached table and takes payments too.
func TestEtcdOutage(t *testing.T) {
	e := startEnv(t, "")
	ctx := context.Background()
	pay := func(t *testing.T, w *walletsim.Wallet, key string) {
		t.Helper()
		_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(1000), key, "u-outage")
		if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("payment %s during the outage: %v %v", key, p, err)
		}
	}
	w := walletsim.New("hipay", e.partner("hipay"))
	pay(t, w, "outage-0")
	e.stack.StopEtcd()
	for i := 1; i <= 3; i++ {
		pay(t, w, fmt.Sprintf("outage-%d", i))
	}
	if _, err := e.stack.StartAcquirer("acquirer-during-outage", 0); err != nil {
		t.Fatalf("an acquirer started during the outage: %v", err)
	}
	conn, err := e.stack.Dial("acquirer-during-outage", authn.Partner, "hipay")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pay(t, walletsim.New("hipay", conn), "outage-new-replica")
}
