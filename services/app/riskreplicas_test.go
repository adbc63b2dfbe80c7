package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk"
	"github.com/unigate/unigate/services/risk/rules"
)

// TestRiskReplicasShareVelocity runs two risk replicas as RunRisk runs
// them in a deployment — mutual TLS, one database, membership in etcd —
// and decides a user's burst alternately on each, as the acquirer (its
// certificate) calls them: the velocity rule declines the sixth payment
// wherever it lands, which it can only do if each replica found the other
// in etcd and their streams crossed over TLS.
func TestRiskReplicasShareVelocity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	dev, err := pki.WriteDev(filepath.Join(dir, "pki"), pki.DevSpec{Services: []string{"risk", "acquirer", EtcdServer, EtcdAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := dev.Cert(authn.Service, EtcdServer)
	e, err := etcdx.StartEmbeddedTLS(ctx, filepath.Join(dir, "etcd"), "127.0.0.1:0",
		&etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: dev.CA("unigate")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	admin, err := ConnectEtcd(dev.Dir, authn.Service, EtcdAdmin, []string{e.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if err := etcdx.Bootstrap(ctx, admin, EtcdAccess()); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	dsn := sqlstoretest.PostgresDSN(t)
	policy := risk.Policy{Rules: risk.RuleSet{Version: 1, Rules: []rules.Rule{
		{ID: "burst.user", Expr: "user_count_1m > 5", Action: rules.Decline, Mode: rules.Enforce}}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(name string, seed *risk.Policy) string {
		t.Helper()
		ready := make(chan string, 1)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- RunRisk(rctx, RiskConfig{Common: Common{Listen: "127.0.0.1:0", DSN: dsn, Log: log, PKI: dev.Dir,
				Ready: func(addr string) { ready <- addr }}, Seed: seed, Etcd: []string{e.Endpoint}, Candidate: name})
		}()
		t.Cleanup(func() { stop(); <-done })
		select {
		case addr := <-ready:
			return addr
		case err := <-done:
			t.Fatalf("%s: %v", name, err)
		case <-ctx.Done():
			t.Fatalf("%s never served", name)
		}
		return ""
	}
	addrs := []string{start("risk-a", &policy)}
	addrs = append(addrs, start("risk-b", nil))

	acquirer, err := Common{PKI: dev.Dir}.security(authn.Service, "acquirer").dialOptions("unigate")
	if err != nil {
		t.Fatal(err)
	}
	var clients []riskv1.RiskServiceClient
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, acquirer...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		clients = append(clients, riskv1.NewRiskServiceClient(conn))
	}
	evaluate := func(i int) *riskv1.EvaluateResponse {
		t.Helper()
		r, err := clients[i%2].Evaluate(ctx, &riskv1.EvaluateRequest{PaymentId: fmt.Sprintf("burst-%d", i), PartnerId: "hipay",
			UserRef: "prober", Merchant: &commonv1.Merchant{MerchantId: "m1", NetworkId: "cnsim", Mcc: "5812", City: "Erenhot"},
			MerchantAmount: &commonv1.Money{Currency: "CNY", MinorUnits: 100}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The replicas find each other within the membership's first watch;
	// until then a burst is seen by halves. Wait for it with another user's
	// payments, alternating, until one is declined (the burst below then
	// shows the sharing: without it its sixth payment passes).
	deadline := time.Now().Add(20 * time.Second)
	warm := 0
	for {
		r, err := clients[0].Evaluate(ctx, &riskv1.EvaluateRequest{PaymentId: fmt.Sprintf("warm-%d", warm), PartnerId: "hipay",
			UserRef: "warmer", Merchant: &commonv1.Merchant{MerchantId: "m1", NetworkId: "cnsim", Mcc: "5812"},
			MerchantAmount: &commonv1.Money{Currency: "CNY", MinorUnits: 100}})
		if err != nil {
			t.Fatal(err)
		}
		warm++
		if r.GetDecision() == riskv1.Decision_DECISION_DECLINE {
			break // risk-a alone has not seen six of warmer's payments: risk-b's reached it
		}
		r, err = clients[1].Evaluate(ctx, &riskv1.EvaluateRequest{PaymentId: fmt.Sprintf("warm-%d", warm), PartnerId: "hipay",
			UserRef: "warmer", Merchant: &commonv1.Merchant{MerchantId: "m1", NetworkId: "cnsim", Mcc: "5812"},
			MerchantAmount: &commonv1.Money{Currency: "CNY", MinorUnits: 100}})
		if err != nil {
			t.Fatal(err)
		}
		warm++
		if r.GetDecision() == riskv1.Decision_DECISION_DECLINE {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d alternating payments none was declined", warm)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The windows lag a peer's payment by its stream's flush (a few ms).
	for i := range 8 {
		r := evaluate(i)
		want := riskv1.Decision_DECISION_APPROVE
		if i >= 5 {
			want = riskv1.Decision_DECISION_DECLINE
		}
		if r.GetDecision() != want || (i >= 5 && r.GetRuleId() != "burst.user") {
			t.Fatalf("payment %d on replica %d: %s %s, want %s", i, i%2, r.GetDecision(), r.GetRuleId(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
