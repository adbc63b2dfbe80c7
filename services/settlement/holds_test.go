package settlement

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// clock is a test's settable time, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testLedger migrates db and returns a service on it whose time is clk.
func testLedger(t *testing.T, db *sqlstore.DB, clk *clock) *Service {
	t.Helper()
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return NewService(NewSQLStore(db), clk.now)
}

// payment is a payment of wallet MNT by hipay, or its reversal.
func payment(id string, wallet int64, reversal string) PaymentFacts {
	return PaymentFacts{PaymentID: id, PartnerID: "hipay", NetworkID: "cnsim",
		WalletAmount: money.Amount{Currency: "MNT", Minor: wallet}, CostAmount: money.Amount{Currency: "MNT", Minor: wallet - wallet/100},
		MerchantAmount: money.Amount{Currency: "CNY", Minor: wallet / 400}, ReversalID: reversal}
}

// cancelOf is the acquirer's posting of a cancel's reversal.
func cancelOf(f PaymentFacts) PaymentFacts {
	f.ReversalID = "cancel-" + f.PaymentID
	return f
}

func mustPost(t *testing.T, svc *Service, fs ...PaymentFacts) {
	t.Helper()
	if _, err := svc.PostPayments(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
}

func mustHold(t *testing.T, svc *Service, paymentID string, wantHeld bool, wantCycle string) {
	t.Helper()
	held, cycle, err := svc.HoldForCancel(context.Background(), paymentID)
	if err != nil || held != wantHeld || cycle != wantCycle {
		t.Fatalf("HoldForCancel(%s) = %v, %q, %v; want %v, %q", paymentID, held, cycle, err, wantHeld, wantCycle)
	}
}

func mustCycle(t *testing.T, svc *Service, paymentID, want string) {
	t.Helper()
	if got, err := svc.PaymentCycle(context.Background(), paymentID); err != nil || got != want {
		t.Fatalf("%s settled in %q (%v), want %q", paymentID, got, err, want)
	}
}

func mustHoldInvariants(t *testing.T, svc *Service) {
	t.Helper()
	if vs, err := svc.CheckInvariants(context.Background()); err != nil || len(vs) > 0 {
		t.Fatalf("invariants: %v %v", vs, err)
	}
}

// TestHoldForCancel: a settled payment cannot be held; a held one stays out
// of every cycle until its cancel reversal is posted before a cutoff, then
// joins the next cycle with it, netting to zero.
func TestHoldForCancel(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		clk := &clock{t: t0}
		svc := testLedger(t, db, clk)
		settled, held := payment("p-settled", 1000, ""), payment("p-held", 4000, "")
		mustPost(t, svc, settled, held)
		clk.set(t0.Add(2 * time.Minute))
		mustHold(t, svc, "p-held", true, "")
		mustHold(t, svc, "p-unposted", true, "") // its posting has not arrived yet

		c1, sts, err := svc.CloseCycle(ctx, t0.Add(time.Minute), nil)
		if err != nil || c1.Postings != 1 || len(sts) != 1 || sts[0].NetReceivable.Minor != 1000 {
			t.Fatalf("cycle %+v, statements %+v, %v; want p-settled alone", c1, sts, err)
		}
		mustCycle(t, svc, "p-settled", c1.ID)
		mustCycle(t, svc, "p-held", "")
		mustHold(t, svc, "p-settled", false, c1.ID)
		mustHold(t, svc, "p-held", true, "") // again: still held

		clk.set(t0.Add(3 * time.Minute))
		mustPost(t, svc, cancelOf(held), payment("p-unposted", 2000, ""))
		// The cutoff falls before the reversal was posted: the payment waits
		// for the cycle that takes its reversal too.
		clk.set(t0.Add(5 * time.Minute))
		c2, _, err := svc.CloseCycle(ctx, t0.Add(150*time.Second), nil)
		if err != nil || c2.Postings != 0 {
			t.Fatalf("cycle %+v, %v; want it empty", c2, err)
		}
		c3, sts, err := svc.CloseCycle(ctx, t0.Add(4*time.Minute), nil)
		if err != nil || c3.Postings != 2 || len(sts) != 1 || sts[0].NetReceivable.Minor != 0 || sts[0].Postings != 2 {
			t.Fatalf("cycle %+v, statements %+v, %v; want p-held and its cancel, netting to zero", c3, sts, err)
		}
		mustCycle(t, svc, "p-held", c3.ID)
		mustCycle(t, svc, "p-unposted", "") // held, no reversal yet
		mustHold(t, svc, "p-held", true, "")
		mustHoldInvariants(t, svc)

		srv := NewServer(svc)
		if _, err := srv.HoldForCancel(ctx, &settlementv1.HoldForCancelRequest{}); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
			t.Fatalf("HoldForCancel without a payment id: %v", err)
		}
		if resp, err := srv.HoldForCancel(ctx, &settlementv1.HoldForCancelRequest{PaymentId: "p-settled"}); err != nil ||
			resp.GetHeld() || resp.GetCycleId() != c1.ID {
			t.Fatalf("HoldForCancel(p-settled) = %v, %v", resp, err)
		}
	})
}

// TestHoldForCancelRacesCloseCycle races holds against closes: a payment is
// never both held and in a closed cycle without its cancel, and every
// payment ends one or the other.
func TestHoldForCancelRacesCloseCycle(t *testing.T) {
	const (
		rounds   = 4
		payments = 16 // per round, each with a holder
		closers  = 3  // per round
	)
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		clk := &clock{t: t0}
		svc := testLedger(t, db, clk)
		type answer struct {
			held  bool
			cycle string
		}
		answers := map[string]answer{}
		var facts []PaymentFacts
		for r := range rounds {
			start := t0.Add(time.Duration(r) * time.Hour)
			clk.set(start)
			var batch []PaymentFacts
			for i := range payments {
				batch = append(batch, payment(fmt.Sprintf("p-%d-%d", r, i), int64(1000+i), ""))
			}
			mustPost(t, svc, batch...)
			facts = append(facts, batch...)
			clk.set(start.Add(time.Minute))
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs []error
			)
			fail := func(err error) {
				mu.Lock()
				defer mu.Unlock()
				errs = append(errs, err)
			}
			for i, f := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i%2 == 1 {
						time.Sleep(time.Duration(i) * time.Millisecond)
					}
					held, cycle, err := svc.HoldForCancel(ctx, f.PaymentID)
					if err != nil {
						fail(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					answers[f.PaymentID] = answer{held, cycle}
				}()
			}
			for j := range closers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(time.Duration(3*j) * time.Millisecond)
					// Closers race: one whose cutoff is earlier than a cycle
					// that committed first is refused, as out of order.
					if _, _, err := svc.CloseCycle(ctx, start.Add(time.Second+time.Duration(j)*time.Microsecond), nil); err != nil &&
						rpcerr.ReasonOf(err) != rpcerr.CutoffOutOfOrder {
						fail(err)
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatal(errors.Join(errs...))
			}
		}
		// A last cycle takes whatever is still open and not held.
		clk.set(t0.Add(rounds * time.Hour))
		if _, _, err := svc.CloseCycle(ctx, clk.now(), nil); err != nil {
			t.Fatal(err)
		}
		var heldCount int
		var cancels []PaymentFacts
		for _, f := range facts {
			a := answers[f.PaymentID]
			got, err := svc.PaymentCycle(ctx, f.PaymentID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case a.held && got != "":
				t.Errorf("%s was held for cancel and settled in %s", f.PaymentID, got)
			case !a.held && (a.cycle == "" || got != a.cycle):
				t.Errorf("%s was refused a hold for cycle %q but settled in %q", f.PaymentID, a.cycle, got)
			case a.held:
				heldCount++
				cancels = append(cancels, cancelOf(f))
			}
		}
		t.Logf("%d of %d payments held, the others settled first", heldCount, len(facts))
		mustHoldInvariants(t, svc)

		// Once cancelled, the held payments settle with their cancels, at zero.
		mustPost(t, svc, cancels...)
		clk.set(clk.now().Add(time.Minute))
		c, sts, err := svc.CloseCycle(ctx, clk.now(), nil)
		if err != nil || c.Postings != int64(2*len(cancels)) {
			t.Fatalf("cycle %+v, %v; want %d postings", c, err, 2*len(cancels))
		}
		if len(cancels) > 0 && (len(sts) != 1 || sts[0].NetReceivable.Minor != 0) {
			t.Fatalf("statements %+v, want one at zero", sts)
		}
		mustHoldInvariants(t, svc)
	})
}

// TestFencedCutoffs: a close carrying a stale fence is refused and writes
// nothing, and RunCutoffs stops once a newer writer claims the fence.
func TestFencedCutoffs(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		clk := &clock{t: t0}
		svc := testLedger(t, db, clk)
		store := NewSQLStore(db)
		for _, tc := range []struct {
			rev  int64
			want bool
		}{{5, true}, {3, false}, {5, true}} {
			if ok, err := store.ClaimFence(ctx, CutoffFence, tc.rev); err != nil || ok != tc.want {
				t.Fatalf("ClaimFence(%d) = %v, %v; want %v", tc.rev, ok, err, tc.want)
			}
		}
		mustPost(t, svc, payment("p-1", 1000, ""))
		clk.set(t0.Add(time.Minute))
		for _, stale := range []*Fence{{CutoffFence, 3}, {CutoffFence, 6}, {"another", 5}} {
			if _, _, err := svc.CloseCycle(ctx, clk.now(), stale); !errors.Is(err, ErrFenced) {
				t.Fatalf("close with fence %+v: %v, want ErrFenced", stale, err)
			}
		}
		for _, table := range []string{"settlement_cycles", "settlement_cycle_postings", "settlement_statements"} {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s has %d rows after fenced closes (%v)", table, n, err)
			}
		}
		if c, _, err := svc.CloseCycle(ctx, clk.now(), &Fence{CutoffFence, 5}); err != nil || c.Postings != 1 {
			t.Fatalf("close with the fence: %+v %v", c, err)
		}

		// RunCutoffs, at real time.
		live := NewService(store, nil)
		every := func(d time.Duration) func() []Schedule {
			return func() []Schedule { return []Schedule{{PartnerID: "hipay", Interval: d}} }
		}
		defer func(tick time.Duration) { CutoffTick = tick }(CutoffTick)
		CutoffTick = 10 * time.Millisecond
		if err := live.RunCutoffs(ctx, 4, every(time.Hour), func(err error) { t.Error(err) }); !errors.Is(err, ErrFenced) {
			t.Fatalf("RunCutoffs at a stale revision: %v, want ErrFenced", err)
		}
		mustPost(t, live, payment("p-live", 1000, ""))
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- live.RunCutoffs(rctx, 6, every(20*time.Millisecond), func(err error) { t.Error(err) }) }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if c, err := live.PaymentCycle(ctx, "p-live"); err != nil || c != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("RunCutoffs closed no cycle")
			}
		}
		if ok, err := store.ClaimFence(ctx, CutoffFence, 7); err != nil || !ok {
			t.Fatalf("ClaimFence(7) = %v, %v", ok, err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("RunCutoffs returned %v, want ErrFenced", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("RunCutoffs kept running after a newer writer claimed the fence")
		}
	})
}
