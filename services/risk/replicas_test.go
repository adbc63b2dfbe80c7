package risk

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
)

// serveReplica serves a service's RiskPeerService on loopback and runs
// its sharer towards peer (an address filled in later).
func serveReplica(t *testing.T, ctx context.Context, svc *Service, peer *atomic.Value) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	riskv1.RegisterRiskPeerServiceServer(srv, svc.Sharer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	go func() {
		_ = svc.Sharer().Run(ctx, 2*time.Millisecond, func() []string {
			if a, _ := peer.Load().(string); a != "" {
				return []string{a}
			}
			return nil
		}, func(ctx context.Context, addr string) (riskv1.RiskPeerServiceClient, io.Closer, error) {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return nil, nil, err
			}
			return riskv1.NewRiskPeerServiceClient(conn), conn, nil
		})
	}()
	return lis.Addr().String()
}

// TestBurstAcrossReplicas: a user's burst, decided half by each of two
// replicas, is caught by a velocity rule as if one replica had seen it
// all: each streams its counted payments to the other.
func TestBurstAcrossReplicas(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		p := testPolicy()
		p.Rules = RuleSet{Version: 1, Rules: []rules.Rule{
			{ID: "burst.user", Expr: "user_count_1m > 5", Action: rules.Decline, Mode: rules.Enforce},
		}}
		clk := &clock{t: time.Now()}
		a, b := newTestService(t, db, clk, p), newTestService(t, db, clk, p)
		var toA, toB atomic.Value
		toA.Store(serveReplica(t, ctx, a, &toB))
		toB.Store(serveReplica(t, ctx, b, &toA))
		replicas := []*Service{a, b}
		var sent [2]int64
		for i := range 8 {
			svc := replicas[i%2]
			d, err := svc.Evaluate(ctx, Payment{PaymentID: fmt.Sprintf("burst-%d", i), PartnerID: "hipay", UserRef: "prober",
				NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(100)})
			if err != nil {
				t.Fatal(err)
			}
			want := Approve
			if i >= 5 {
				want = Decline
			}
			if d.Outcome != want || (want == Decline && d.RuleID != "burst.user") {
				t.Fatalf("payment %d on replica %d: %+v, want %s", i, i%2, d, want)
			}
			// Each counted payment reaches the other replica before the next.
			if d.Outcome == Approve {
				sent[i%2]++
				other := replicas[(i+1)%2].Sharer()
				deadline := time.Now().Add(5 * time.Second)
				for other.Received() < sent[i%2] {
					if time.Now().After(deadline) {
						t.Fatalf("payment %d never reached the other replica", i)
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
	})
}

// TestSwapsUnderLoad: rule sets and models swap while payments are
// decided on four goroutines, and no decision fails or mixes versions.
func TestSwapsUnderLoad(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		p := testPolicy()
		p.Limits = nil
		clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		svc := newTestService(t, db, clk, p)
		m, err := model.Default()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		good := filepath.Join(dir, "model.json")
		bad := filepath.Join(dir, "broken.json")
		raw, err := os.ReadFile("model/testdata/model-v1.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(good, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bad, raw[:len(raw)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		var (
			wg     sync.WaitGroup
			stop   atomic.Bool
			done   atomic.Int64
			failed atomic.Int64
		)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					d, err := svc.Evaluate(ctx, Payment{PaymentID: fmt.Sprintf("swap-%d-%d", g, i), PartnerID: "hipay",
						UserRef: fmt.Sprintf("u-%d-%d", g, i), NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(1000)})
					if err != nil || d.ModelVersion != m.ID() {
						failed.Add(1)
						t.Errorf("decision failed during swaps: %+v %v", d, err)
						return
					}
					// A rule set's rules all carry its version: a decision sees
					// one set whole.
					for _, r := range d.Reasons {
						if r.RuleID != fmt.Sprintf("marker.%d", d.RulesVersion) {
							t.Errorf("decision under set %d names %s", d.RulesVersion, r.RuleID)
						}
					}
					done.Add(1)
				}
			}()
		}
		for v := int64(1); v <= 20; v++ {
			p.Version, p.Rules = v, RuleSet{Version: v, Rules: []rules.Rule{
				{ID: fmt.Sprintf("marker.%d", v), Expr: "amount > 0", Action: rules.Review, Mode: rules.Shadow}}}
			if err := svc.SetPolicy(p); err != nil {
				t.Fatal(err)
			}
			if err := svc.Model().SwapFile(good); err != nil {
				t.Fatal(err)
			}
			if err := svc.Model().SwapFile(bad); err == nil {
				t.Fatal("a truncated model was put in force")
			}
			// A set that does not compile is refused; the one in force stays.
			broken := p
			broken.Version, broken.Rules = v+100, RuleSet{Version: v + 100, Rules: []rules.Rule{{ID: "x", Expr: "nosuch > 1", Action: rules.Decline, Mode: rules.Enforce}}}
			if err := svc.SetPolicy(broken); err == nil || svc.Rules().Current().Version != v {
				t.Fatalf("a broken set: %v, in force %d", err, svc.Rules().Current().Version)
			}
			time.Sleep(5 * time.Millisecond)
		}
		stop.Store(true)
		wg.Wait()
		if failed.Load() > 0 || done.Load() < 20 {
			t.Fatalf("%d decisions, %d failed", done.Load(), failed.Load())
		}
		t.Logf("%d decisions during 20 rule and 40 model swaps", done.Load())
	})
}

// TestModelPutInForce: a model put through the policy store is in force
// on a replica watching the policy within its poll, and decisions record
// it; a replica started later loads it too.
func TestModelPutInForce(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		policy := NewPolicyStore(db, nil)
		clk := &clock{t: time.Now()}
		svc := newTestService(t, db, clk, Policy{})
		go svc.WatchPolicy(ctx, policy, 5*time.Millisecond, nil)
		raw, err := os.ReadFile("model/testdata/model-v1.json")
		if err != nil {
			t.Fatal(err)
		}
		// The same trees in another file: another id.
		stored, err := policy.PutModel(ctx, append(raw, []byte("\n\n")...), "retrained", "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		committed, _ := svc.Model().Current()
		if stored.ID == committed.ID() {
			t.Fatalf("the stored model has the committed one's id %s", stored.ID)
		}
		n := 0
		decide := func(s *Service) Decision {
			n++
			d, err := s.Evaluate(ctx, Payment{PaymentID: fmt.Sprintf("mp-%d", n), PartnerID: "hipay", UserRef: fmt.Sprintf("u-%d", n),
				NetworkID: "unionpay", MerchantID: "m1", MCC: "5812", MerchantAmount: cny(1000)})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		deadline := time.Now().Add(5 * time.Second)
		for decide(svc).ModelVersion != stored.ID {
			if time.Now().After(deadline) {
				t.Fatal("the stored model never came in force")
			}
			time.Sleep(5 * time.Millisecond)
		}
		later := newTestService(t, db, clk, Policy{})
		p, err := policy.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := later.UseModel(ctx, policy, p.ModelID); err != nil || decide(later).ModelVersion != stored.ID {
			t.Fatalf("a replica started later: %v", err)
		}
	})
}
