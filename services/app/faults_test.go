package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"
	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/walletsim"
)

// mode is how an injected fault strikes a store write.
type mode int

const (
	// fail: the write does not happen; the caller gets an error (a
	// database blip, a pool closed under it).
	fail mode = iota
	// lose: the write commits but the caller gets an error (the answer
	// was lost on the way back).
	lose
	// die: the write commits and the process dies right after it: the
	// request path stops there (a panic, which the server turns into
	// INTERNAL), nothing after that line runs.
	die
)

func (m mode) String() string { return [...]string{"fail", "lose", "die"}[m] }

// faults arms one-time faults on store writes, per method and row id.
type faults struct {
	mu    sync.Mutex
	armed map[string]mode // method + "/" + id
	fired map[string]bool
}

func newFaults() *faults { return &faults{armed: map[string]mode{}, fired: map[string]bool{}} }

func (f *faults) arm(method, id string, m mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed[method+"/"+id] = m
}

func (f *faults) hasFired(method, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired[method+"/"+id]
}

var errInjected = errors.New("injected fault")

// write runs one store write under whatever fault is armed for it.
func write[T any](f *faults, method string, ids []string, do func() (T, error)) (T, error) {
	f.mu.Lock()
	var (
		m     mode
		armed bool
	)
	for _, id := range ids {
		if m, armed = f.armed[method+"/"+id]; armed {
			delete(f.armed, method+"/"+id)
			f.fired[method+"/"+id] = true
			break
		}
	}
	f.mu.Unlock()
	var zero T
	if !armed {
		return do()
	}
	if m == fail {
		return zero, errInjected
	}
	if _, err := do(); err != nil {
		return zero, err
	}
	if m == die {
		panic(fmt.Sprintf("process died after %s", method))
	}
	return zero, errInjected
}

type applied struct {
	p  acquirer.Payment
	ok bool
}

type appliedRefund struct {
	r  acquirer.Refund
	ok bool
}

// faultyStore is the real store with faults injected on its writes.
type faultyStore struct {
	acquirer.Store
	f *faults
}

func (s faultyStore) payment(method, id string, do func() (acquirer.Payment, bool, error)) (acquirer.Payment, bool, error) {
	a, err := write(s.f, method, []string{id}, func() (applied, error) {
		p, ok, err := do()
		return applied{p, ok}, err
	})
	return a.p, a.ok, err
}

func (s faultyStore) refund(method, id string, do func() (acquirer.Refund, bool, error)) (acquirer.Refund, bool, error) {
	a, err := write(s.f, method, []string{id}, func() (appliedRefund, error) {
		r, ok, err := do()
		return appliedRefund{r, ok}, err
	})
	return a.r, a.ok, err
}

func (s faultyStore) InsertPayment(ctx context.Context, p acquirer.Payment) (acquirer.Payment, bool, error) {
	return s.payment("InsertPayment", p.ID, func() (acquirer.Payment, bool, error) { return s.Store.InsertPayment(ctx, p) })
}

func (s faultyStore) MarkSucceeded(ctx context.Context, id, ref, user string, at time.Time, fe *acquirer.Fence) (acquirer.Payment, bool, error) {
	return s.payment("MarkSucceeded", id, func() (acquirer.Payment, bool, error) { return s.Store.MarkSucceeded(ctx, id, ref, user, at, fe) })
}

func (s faultyStore) MarkCredited(ctx context.Context, id, ref string, at time.Time, fe *acquirer.Fence) (acquirer.Payment, bool, error) {
	return s.payment("MarkCredited", id, func() (acquirer.Payment, bool, error) { return s.Store.MarkCredited(ctx, id, ref, at, fe) })
}

func (s faultyStore) MarkFailed(ctx context.Context, id string, r rpcerr.Reason, msg string, at time.Time, fe *acquirer.Fence) (acquirer.Payment, bool, error) {
	return s.payment("MarkFailed", id, func() (acquirer.Payment, bool, error) { return s.Store.MarkFailed(ctx, id, r, msg, at, fe) })
}

func (s faultyStore) Reschedule(ctx context.Context, id string, next, at time.Time, fe *acquirer.Fence) (acquirer.Payment, bool, error) {
	return s.payment("Reschedule", id, func() (acquirer.Payment, bool, error) { return s.Store.Reschedule(ctx, id, next, at, fe) })
}

func (s faultyStore) RequestCancel(ctx context.Context, id string, window, next, at time.Time) (acquirer.Payment, bool, error) {
	return s.payment("RequestCancel", id, func() (acquirer.Payment, bool, error) { return s.Store.RequestCancel(ctx, id, window, next, at) })
}

func (s faultyStore) TimeOut(ctx context.Context, id, msg string, next, at time.Time, fe *acquirer.Fence) (acquirer.Payment, bool, error) {
	return s.payment("TimeOut", id, func() (acquirer.Payment, bool, error) { return s.Store.TimeOut(ctx, id, msg, next, at, fe) })
}

func (s faultyStore) MarkReversed(ctx context.Context, id string, at time.Time, fe *acquirer.Fence) (acquirer.Payment, bool, error) {
	return s.payment("MarkReversed", id, func() (acquirer.Payment, bool, error) { return s.Store.MarkReversed(ctx, id, at, fe) })
}

func (s faultyStore) InsertRefund(ctx context.Context, r acquirer.Refund, price acquirer.Pricer) (acquirer.Refund, bool, error) {
	return s.refund("InsertRefund", r.ID, func() (acquirer.Refund, bool, error) { return s.Store.InsertRefund(ctx, r, price) })
}

func (s faultyStore) MarkRefundSucceeded(ctx context.Context, id, ref string, at time.Time, fe *acquirer.Fence) (acquirer.Refund, bool, error) {
	return s.refund("MarkRefundSucceeded", id, func() (acquirer.Refund, bool, error) { return s.Store.MarkRefundSucceeded(ctx, id, ref, at, fe) })
}

func (s faultyStore) MarkPosted(ctx context.Context, ps []acquirer.Payment) error {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	_, err := write(s.f, "MarkPosted", ids, func() (struct{}, error) { return struct{}{}, s.Store.MarkPosted(ctx, ps) })
	return err
}

func (s faultyStore) MarkRefundsPosted(ctx context.Context, ids []string) error {
	_, err := write(s.f, "MarkRefundsPosted", ids, func() (struct{}, error) { return struct{}{}, s.Store.MarkRefundsPosted(ctx, ids) })
	return err
}

// TestFaultInjection drives every payment, cancel and refund path, MPM and
// CPM, through injected failures — a store write failing once, a write
// whose answer is lost, the process dying right after a write, a network
// or wallet that succeeds and then drops the connection, a process
// stopped mid-call — and shows every request ends final within the
// resolver's schedule, nothing is credited, debited or reversed twice, and
// the books are exact (checkBooks after each case).
func TestFaultInjection(t *testing.T) {
	for _, b := range sqlstoretest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := ""
			if b.Name == "postgres" {
				dsn = b.DSN(t)
			}
			f := newFaults()
			e := startEnv(t, dsn, func(c *app.StackConfig) {
				c.WrapAcquirerStore = func(_ string, st acquirer.Store) acquirer.Store { return faultyStore{st, f} }
			})
			fx := &faultEnv{env: e, f: f, w: walletsim.New("hipay", e.partner("hipay")), wallet: e.stack.Wallets.Wallet("hipay")}
			fx.wallet.SetBalance("fault-user", 1_000_000_000)

			for _, m := range []mode{fail, lose, die} {
				e.scenario(t, "mpm InsertPayment "+m.String(), func(t *testing.T) {
					want := partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED
					if m != fail { // the row exists but nothing was sent: reversed, F
						want = partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED
					}
					fx.mpm(t, "M10001", 0, "InsertPayment", m, want)
				})
				e.scenario(t, "mpm MarkSucceeded "+m.String(), func(t *testing.T) {
					fx.mpm(t, "M10001", 0, "MarkSucceeded", m, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
				})
				e.scenario(t, "mpm declined MarkFailed "+m.String(), func(t *testing.T) {
					fx.mpm(t, "M10003", 2, "MarkFailed", m, partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED)
				})
				e.scenario(t, "cpm MarkSucceeded "+m.String(), func(t *testing.T) {
					fx.cpm(t, "MarkSucceeded", m, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
				})
				e.scenario(t, "mpm cancel MarkReversed "+m.String(), func(t *testing.T) { fx.cancelMPM(t, "MarkReversed", m) })
				e.scenario(t, "cpm cancel MarkReversed "+m.String(), func(t *testing.T) { fx.cancelCPM(t, "MarkReversed", m) })
				e.scenario(t, "cpm refund MarkRefundSucceeded "+m.String(), func(t *testing.T) { fx.refund(t, "MarkRefundSucceeded", m) })
			}
			e.scenario(t, "mpm cancel RequestCancel fail", func(t *testing.T) { fx.cancelMPM(t, "RequestCancel", fail) })
			e.scenario(t, "cpm refund InsertRefund fail", func(t *testing.T) { fx.refund(t, "InsertRefund", fail) })
			e.scenario(t, "network credits then drops the connection; first reschedule fails", func(t *testing.T) {
				fx.mpm(t, "M10006", 5, "Reschedule", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
			})
			e.scenario(t, "wallet debits then drops the connection", func(t *testing.T) {
				fx.wallet.HangNextAuthorizes(1, unigate.HangAfterDebit)
				fx.cpm(t, "", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
			})
			e.scenario(t, "a garbled network reference is cleaned, not fatal", func(t *testing.T) {
				p := fx.mpm(t, "M10007", 6, "", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
				if ref := p.GetNetworkReference(); len(ref) > acquirer.MaxReference || acquirer.CheckText("ref", ref, acquirer.MaxReference, true) != nil {
					t.Fatalf("reference stored as %q", ref)
				}
			})
			for _, m := range []mode{fail, lose} {
				e.scenario(t, "the poster's mark "+m.String()+"s once", func(t *testing.T) {
					// Posted, but the mark fails: the next pass posts again,
					// which the ledger takes as the same posting (checkBooks).
					key := fx.key("fault-mpm")
					id := acquirer.PaymentID("hipay", key)
					fx.f.arm("MarkPosted", id, m)
					fx.mpmWithKey(t, key, "M10001", 0, "", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
					waitFor(t, "the mark's fault", func() bool { return fx.f.hasFired("MarkPosted", id) })
				})
			}
			e.scenario(t, "a replica stops mid-call", fx.stopMidCall)
		})
	}
}

type faultEnv struct {
	*env
	f      *faults
	w      *walletsim.Wallet
	wallet *unigate.MemoryWallet
	n      int
}

func (fx *faultEnv) key(prefix string) string {
	fx.n++
	return fmt.Sprintf("%s-%d", prefix, fx.n)
}

func (fx *faultEnv) credits(t *testing.T, merchant string) int64 {
	t.Helper()
	c, err := fx.sim.GetCredits(context.Background(), &simulatorv1.GetCreditsRequest{MerchantId: merchant})
	if err != nil {
		t.Fatal(err)
	}
	return c.GetCount()
}

// final waits until a payment is final (and its cancel, if any, decided).
func (fx *faultEnv) final(t *testing.T, id string) *partnerv1.Payment {
	t.Helper()
	var p *partnerv1.Payment
	waitFor(t, "payment "+id+" final", func() bool {
		var err error
		p, err = fx.paymentOf(id)
		switch p.GetStatus() {
		case partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED, partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED:
			return err == nil
		case partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED:
			return err == nil && !p.GetCancelRequested()
		}
		return false
	})
	return p
}

func (fx *faultEnv) paymentOf(id string) (*partnerv1.Payment, error) {
	resp, err := acquiringv1.NewAcquiringServiceClient(fx.network("cnsim")).GetPayment(fx.pos().ctx, &acquiringv1.GetPaymentRequest{
		Id: &acquiringv1.GetPaymentRequest_PaymentId{PaymentId: id}})
	return resp.GetPayment(), err
}

// mpm pays merchant (static code i) with a fault armed on method (none if
// method is ""), retrying a refused Pay once as a wallet would, and
// checks the payment ends in want with the merchant credited once for S,
// never for F.
func (fx *faultEnv) mpm(t *testing.T, merchant string, i int, method string, m mode, want partnerv1.PaymentStatus) *partnerv1.Payment {
	t.Helper()
	return fx.mpmWithKey(t, fx.key("fault-mpm"), merchant, i, method, m, want)
}

func (fx *faultEnv) mpmWithKey(t *testing.T, key, merchant string, i int, method string, m mode, want partnerv1.PaymentStatus) *partnerv1.Payment {
	t.Helper()
	ctx := context.Background()
	id := acquirer.PaymentID("hipay", key)
	if method != "" {
		fx.f.arm(method, id, m)
	}
	before := fx.credits(t, merchant)
	code := fx.staticCode(i)
	q, err := fx.w.SDK.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(2345)})
	if err != nil {
		t.Fatal(err)
	}
	req := &partnerv1.PayRequest{PartnerPaymentId: key, Code: code, Amount: cny(2345), QuoteId: q.GetQuote().GetQuoteId(), UserRef: "fault-user"}
	if _, err := fx.w.Client.Pay(fx.w.Context(ctx), req); err != nil {
		if _, err := fx.w.Client.Pay(fx.w.Context(ctx), req); err != nil { // the wallet retries with the same key
			t.Fatalf("pay retried: %v", err)
		}
	}
	if method != "" && !fx.f.hasFired(method, id) {
		t.Fatalf("the %s fault never fired", method)
	}
	p := fx.final(t, id)
	if p.GetStatus() != want {
		t.Fatalf("payment ended %v (%s), want %v", p.GetStatus(), p.GetFailureReason(), want)
	}
	wantCredits := int64(0)
	if want == partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED {
		wantCredits = 1
	}
	if got := fx.credits(t, merchant) - before; got != wantCredits {
		t.Fatalf("merchant credited %d times, want %d", got, wantCredits)
	}
	return p
}

// cpm submits a CPM payment with a fault armed on method and checks the
// user was debited exactly once for S.
func (fx *faultEnv) cpm(t *testing.T, method string, m mode, want partnerv1.PaymentStatus) *partnerv1.Payment {
	t.Helper()
	order := fx.key("fault-order")
	id := acquirer.OrderPaymentID("cnsim", order)
	if method != "" {
		fx.f.arm(method, id, m)
	}
	before := fx.wallet.Balance("fault-user")
	code := fx.wallet.IssueCode("fault-user")
	if _, err := fx.pos().submit(order, "M10001", code, 3456); err != nil {
		if _, err := fx.pos().submit(order, "M10001", code, 3456); err != nil {
			t.Fatalf("submit retried: %v", err)
		}
	}
	if method != "" && !fx.f.hasFired(method, id) {
		t.Fatalf("the %s fault never fired", method)
	}
	p := fx.final(t, id)
	if p.GetStatus() != want {
		t.Fatalf("payment ended %v (%s), want %v", p.GetStatus(), p.GetFailureReason(), want)
	}
	debited := before - fx.wallet.Balance("fault-user")
	if wantDebit := p.GetWalletAmount().GetMinorUnits(); (want == partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED) != (debited == wantDebit) || debited < 0 {
		t.Fatalf("user debited %d for a %v payment of %d", debited, p.GetStatus(), wantDebit)
	}
	return p
}

// cancelMPM pays, then cancels with a fault armed, retrying a refused
// cancel; the payment must end CANCELLED with the credit reversed once.
func (fx *faultEnv) cancelMPM(t *testing.T, method string, m mode) {
	t.Helper()
	ctx := context.Background()
	p := fx.mpm(t, "M10001", 0, "", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
	before := fx.credits(t, "M10001")
	fx.f.arm(method, p.GetPaymentId(), m)
	req := &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}
	if _, err := fx.w.Client.CancelPayment(fx.w.Context(ctx), req); err != nil {
		if _, err := fx.w.Client.CancelPayment(fx.w.Context(ctx), req); err != nil {
			t.Fatalf("cancel retried: %v", err)
		}
	}
	if !fx.f.hasFired(method, p.GetPaymentId()) {
		t.Fatalf("the %s fault never fired", method)
	}
	if got := fx.final(t, p.GetPaymentId()); got.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		t.Fatalf("cancelled payment ended %v", got.GetStatus())
	}
	if got := fx.credits(t, "M10001"); got != before-1 {
		t.Fatalf("merchant credits %d -> %d, want the credit reversed once", before, got)
	}
}

// cancelCPM submits, then the network cancels with a fault armed; the
// user gets the debit back once.
func (fx *faultEnv) cancelCPM(t *testing.T, method string, m mode) {
	t.Helper()
	p := fx.cpm(t, "", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
	before := fx.wallet.Balance("fault-user")
	fx.f.arm(method, p.GetPaymentId(), m)
	pos := fx.pos()
	req := &acquiringv1.CancelPaymentRequest{Id: &acquiringv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}
	if _, err := pos.c.CancelPayment(pos.ctx, req); err != nil {
		if _, err := pos.c.CancelPayment(pos.ctx, req); err != nil {
			t.Fatalf("cancel retried: %v", err)
		}
	}
	if !fx.f.hasFired(method, p.GetPaymentId()) {
		t.Fatalf("the %s fault never fired", method)
	}
	if got := fx.final(t, p.GetPaymentId()); got.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		t.Fatalf("cancelled payment ended %v", got.GetStatus())
	}
	if got := fx.wallet.Balance("fault-user") - before; got != p.GetWalletAmount().GetMinorUnits() {
		t.Fatalf("user got back %d, want %d once", got, p.GetWalletAmount().GetMinorUnits())
	}
}

// refund refunds a CPM payment in two parts with a fault armed on the
// first; both end S and the user is credited exactly their sum.
func (fx *faultEnv) refund(t *testing.T, method string, m mode) {
	t.Helper()
	p := fx.cpm(t, "", fail, partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED)
	before := fx.wallet.Balance("fault-user")
	pos := fx.pos()
	req := fx.key("fault-refund")
	fx.f.arm(method, acquirer.RefundID("cnsim", req), m)
	if _, err := pos.refund(req, p.GetPaymentId(), 1000); err != nil {
		if _, err := pos.refund(req, p.GetPaymentId(), 1000); err != nil {
			t.Fatalf("refund retried: %v", err)
		}
	}
	if !fx.f.hasFired(method, acquirer.RefundID("cnsim", req)) {
		t.Fatalf("the %s fault never fired", method)
	}
	rest, err := pos.refund(fx.key("fault-refund"), p.GetPaymentId(), 3456-1000)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, id := range []string{acquirer.RefundID("cnsim", req), rest.GetRefundId()} {
		waitFor(t, "refund final", func() bool {
			r, err := pos.c.GetRefund(pos.ctx, &acquiringv1.GetRefundRequest{Id: &acquiringv1.GetRefundRequest_RefundId{RefundId: id}})
			if err == nil && r.GetRefund().GetStatus() == partnerv1.RefundStatus_REFUND_STATUS_SUCCEEDED {
				total += r.GetRefund().GetWalletAmount().GetMinorUnits()
				return true
			}
			return false
		})
	}
	if total != p.GetWalletAmount().GetMinorUnits() {
		t.Fatalf("refunds returned %d of %d paid", total, p.GetWalletAmount().GetMinorUnits())
	}
	if got := fx.wallet.Balance("fault-user") - before; got != total {
		t.Fatalf("user credited %d, want %d once", got, total)
	}
}

// stopMidCall pays through a second replica at a merchant whose network
// answers late, and stops that replica while the credit is in flight:
// the stop waits for the call, the row is the resolver's, and the elected
// replica finishes the payment S with one credit.
func (fx *faultEnv) stopMidCall(t *testing.T) {
	ctx := context.Background()
	replica := fx.key("acq-stop")
	if _, err := fx.stack.StartAcquirer(replica, 0); err != nil {
		t.Fatal(err)
	}
	conn, err := fx.stack.Dial(replica, authn.Partner, "hipay")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := walletsim.New("hipay", conn)
	before := fx.credits(t, "M10004")
	code := fx.staticCode(3)
	q, err := w.SDK.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(999)})
	if err != nil {
		t.Fatal(err)
	}
	key := fx.key("fault-stop")
	done := make(chan error, 1)
	go func() {
		_, err := w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: key, Code: code, Amount: cny(999),
			QuoteId: q.GetQuote().GetQuoteId(), UserRef: "fault-user"})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the credit is in flight at the slow network
	fx.stack.StopService(replica)
	<-done // U, or the connection closed: either way not F
	p := fx.final(t, acquirer.PaymentID("hipay", key))
	if p.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED {
		t.Fatalf("payment ended %v", p.GetStatus())
	}
	if got := fx.credits(t, "M10004") - before; got != 1 {
		t.Fatalf("merchant credited %d times", got)
	}
}
