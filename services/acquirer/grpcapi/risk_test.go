package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	unigate "github.com/unigate/unigate/sdk"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
)

// The risk side of payments: device references, reviews, and CPM users
// named to risk after the partner's authorization. Each test runs the
// partner and merchant-side handlers over the real domain and store (on
// SQLite and PostgreSQL), with risk as a gRPC server on loopback reached
// through the real client, and an in-process wallet that keeps its
// authorizations.

// riskServer is a risk service that records what it is asked. Evaluate
// answers evaluate (APPROVE when unset); NameUser answers name, or
// UNIMPLEMENTED when name is nil (a risk service that predates it).
type riskServer struct {
	riskv1.UnimplementedRiskServiceServer

	mu          sync.Mutex
	evaluate    riskv1.Decision
	name        func(*riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error)
	evaluations []*riskv1.EvaluateRequest
	namings     []*riskv1.NameUserRequest
	releases    []string
}

func (r *riskServer) Evaluate(_ context.Context, req *riskv1.EvaluateRequest) (*riskv1.EvaluateResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evaluations = append(r.evaluations, req)
	d := r.evaluate
	if d == riskv1.Decision_DECISION_UNSPECIFIED {
		d = riskv1.Decision_DECISION_APPROVE
	}
	resp := &riskv1.EvaluateResponse{Decision: d, ScoreBp: 4200, RulesVersion: 3, ModelVersion: "m-1"}
	if d == riskv1.Decision_DECISION_REVIEW {
		resp.RuleId, resp.Reasons = "review.new_device", []*riskv1.DecisionReason{{RuleId: "review.new_device", Action: "review"}}
	}
	return resp, nil
}

func (r *riskServer) NameUser(ctx context.Context, req *riskv1.NameUserRequest) (*riskv1.NameUserResponse, error) {
	r.mu.Lock()
	r.namings = append(r.namings, req)
	name := r.name
	r.mu.Unlock()
	if name == nil {
		return r.UnimplementedRiskServiceServer.NameUser(ctx, req)
	}
	e, err := name(req)
	if err != nil {
		return nil, err
	}
	return &riskv1.NameUserResponse{Decision: e.GetDecision(), Reason: e.GetReason(), RuleId: e.GetRuleId(),
		Message: e.GetMessage(), ScoreBp: e.GetScoreBp(), Reasons: e.GetReasons()}, nil
}

func (r *riskServer) Release(_ context.Context, req *riskv1.ReleaseRequest) (*riskv1.ReleaseResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releases = append(r.releases, req.GetPaymentId())
	return &riskv1.ReleaseResponse{}, nil
}

func (r *riskServer) setName(fn func(*riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.name = fn
}

func (r *riskServer) calls() (evaluations []*riskv1.EvaluateRequest, namings []*riskv1.NameUserRequest, releases []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evaluations), slices.Clone(r.namings), slices.Clone(r.releases)
}

// Answers of NameUser.
func answer(d riskv1.Decision, reason, message string) func(*riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error) {
	return func(*riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error) {
		return &riskv1.EvaluateResponse{Decision: d, Reason: reason, RuleId: "limit.user.daily", Message: message}, nil
	}
}

func unavailable(*riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error) {
	return nil, status.Error(codes.Unavailable, "risk is restarting")
}

// processDied is what a simulated crash panics with: nothing after the
// line that panics runs, as if the process died there.
const processDied = "the acquirer process died here"

// fakeWallet is a partner's WalletPartnerService: it authorizes every
// code for user, and keeps each payment's authorization ("authorized" or
// "cancelled"); a cancel makes a later Authorize fail, as the SDK asks.
// An inquiry of a successful authorization names user, as Authorize did.
type fakeWallet struct {
	user string
	// unnamedInquiry: inquiries do not name the user (a partner built
	// before InquireAuthorizationResponse.user_ref).
	unnamedInquiry bool

	mu          sync.Mutex
	auths       map[string]string
	authorizes  int
	cancels     []string
	failCancels int  // the next failCancels cancels fail (unreachable)
	dieInAuth   bool // the next Authorize debits the user, then the acquirer dies before reading the answer
}

func newFakeWallet(user string) *fakeWallet {
	return &fakeWallet{user: user, auths: map[string]string{}}
}

func (w *fakeWallet) Authorize(_ context.Context, _ string, p acquirer.Payment, _ string) (acquirer.Outcome, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.authorizes++
	if w.auths[p.ID] == "cancelled" {
		return acquirer.Outcome{Result: acquirer.Failure, FailureReason: "CANCELLED"}, nil
	}
	w.auths[p.ID] = "authorized"
	if w.dieInAuth {
		w.dieInAuth = false
		panic(processDied)
	}
	return acquirer.Outcome{Result: acquirer.Success, Reference: "w-" + p.ID[:8], UserRef: w.user}, nil
}

func (w *fakeWallet) InquireAuthorization(_ context.Context, _, id string) (acquirer.Outcome, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.auths[id] {
	case "authorized":
		out := acquirer.Outcome{Result: acquirer.Success, Reference: "w-" + id[:8], UserRef: w.user}
		if w.unnamedInquiry {
			out.UserRef = ""
		}
		return out, nil
	case "cancelled":
		return acquirer.Outcome{Result: acquirer.Failure, FailureReason: "CANCELLED"}, nil
	}
	return acquirer.Outcome{Result: acquirer.Unknown, NotReceived: true}, nil
}

func (w *fakeWallet) CancelAuthorization(_ context.Context, _, id string) (acquirer.Outcome, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancels = append(w.cancels, id)
	if w.failCancels > 0 {
		w.failCancels--
		return acquirer.Outcome{}, status.Error(codes.Unavailable, "wallet unreachable")
	}
	w.auths[id] = "cancelled"
	return acquirer.Outcome{Result: acquirer.Success}, nil
}

func (w *fakeWallet) RefundUser(_ context.Context, _ string, r acquirer.Refund) (acquirer.Outcome, error) {
	return acquirer.Outcome{Result: acquirer.Success, Reference: "wallet-" + r.ID[:8]}, nil
}

func (w *fakeWallet) state(id string) (auth string, cancels int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.cancels {
		if c == id {
			cancels++
		}
	}
	return w.auths[id], cancels
}

// cpmRouter also knows the wallet's codes: every code is hipay's.
type cpmRouter struct{ fakeRouter }

func (cpmRouter) WalletCodePartner(context.Context, string) (string, error) { return testPartner, nil }

// dyingStore is the real store, but the process dies right after the
// write named in dieAfter commits.
type dyingStore struct {
	acquirer.Store
	mu       sync.Mutex
	dieAfter string
}

// died reports whether the process dies after a write of method that
// committed (err == nil); it dies once.
func (s *dyingStore) died(method string, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dieAfter != method || err != nil {
		return false
	}
	s.dieAfter = ""
	return true
}

func (s *dyingStore) MarkAuthorized(ctx context.Context, id, ref, user string, at time.Time, f *acquirer.Fence) (acquirer.Payment, bool, error) {
	p, ok, err := s.Store.MarkAuthorized(ctx, id, ref, user, at, f)
	if s.died("MarkAuthorized", err) {
		panic(processDied)
	}
	return p, ok, err
}

func (s *dyingStore) RefuseAuthorized(ctx context.Context, id, ref, user string, reason rpcerr.Reason, msg string, next, at time.Time,
	f *acquirer.Fence) (acquirer.Payment, bool, error) {
	p, ok, err := s.Store.RefuseAuthorized(ctx, id, ref, user, reason, msg, next, at, f)
	if s.died("RefuseAuthorized", err) {
		panic(processDied)
	}
	return p, ok, err
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// riskEnv is one back end's acquirer, with its risk and wallet.
type riskEnv struct {
	t       *testing.T
	ctx     context.Context
	st      *store.SQLStore
	dying   *dyingStore
	risk    *riskServer
	wallet  *fakeWallet
	fx      *fakeFX
	clock   *testClock
	d       acquirer.Deps
	cfg     acquirer.Config
	svc     *acquirer.Service
	partner *PartnerServer
	network *AcquiringServer
}

// newRiskEnv migrates db and starts risk on loopback.
func newRiskEnv(t *testing.T, db *sqlstore.DB) *riskEnv {
	ctx := context.Background()
	if err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	e := &riskEnv{t: t, ctx: ctx, st: store.New(db), risk: &riskServer{}, wallet: newFakeWallet("wu-42"), fx: newFakeFX(),
		clock: &testClock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}}
	e.risk.name = answer(riskv1.Decision_DECISION_APPROVE, "", "")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	riskv1.RegisterRiskServiceServer(srv, e.risk)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	e.dying = &dyingStore{Store: e.st}
	e.d = Deps(e.dying, Conns{Risk: conn})
	e.d.Router, e.d.FX, e.d.Networks, e.d.Wallets = cpmRouter{}, e.fx, succeeding{}, e.wallet
	e.cfg = acquirer.DefaultConfig()
	e.cfg.Schedule = []time.Duration{5 * time.Second, 10 * time.Second}
	e.restart()
	return e
}

// restart starts a new acquirer process over the same database and
// services, as after a crash.
func (e *riskEnv) restart() {
	e.svc = acquirer.NewService(e.d, e.cfg, slog.New(slog.DiscardHandler), e.clock.now)
	e.partner, e.network = NewPartnerServer(e.svc), NewAcquiringServer(e.svc)
}

// resolveLater lets an hour pass and runs the resolver once.
func (e *riskEnv) resolveLater() {
	e.t.Helper()
	e.clock.advance(time.Hour)
	if err := e.svc.ResolveDue(e.ctx, nil); err != nil {
		e.t.Fatalf("ResolveDue: %v", err)
	}
}

func (e *riskEnv) payment(id string) acquirer.Payment {
	e.t.Helper()
	p, err := e.st.Payment(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Payment(%s): %v", id, err)
	}
	return p
}

// quote quotes 100.00 CNY at the static code.
func (e *riskEnv) quote() *partnerv1.Quote {
	e.t.Helper()
	q, err := e.partner.CreateQuote(partnerCtx(), &partnerv1.CreateQuoteRequest{Code: staticCode, Amount: pbMoney("CNY", 10000)})
	if err != nil {
		e.t.Fatal(err)
	}
	return q.GetQuote()
}

// payQuoted pays the static code at quote q.
func (e *riskEnv) payQuoted(key string, q *partnerv1.Quote, device string) (*partnerv1.Payment, error) {
	e.t.Helper()
	resp, err := e.partner.Pay(partnerCtx(), &partnerv1.PayRequest{PartnerPaymentId: key, Code: staticCode,
		Amount: q.GetMerchantAmount(), QuoteId: q.GetQuoteId(), UserRef: "user-1", DeviceRef: device})
	return resp.GetPayment(), err
}

// pay quotes and pays the static code.
func (e *riskEnv) pay(key, device string) (*partnerv1.Payment, error) {
	e.t.Helper()
	return e.payQuoted(key, e.quote(), device)
}

// submit sends a CPM payment for order; died reports that the acquirer
// died on the way (the network then has no answer).
func (e *riskEnv) submit(order string) (p *partnerv1.Payment, died bool) {
	e.t.Helper()
	return e.submitCode(order, "2851234567890123")
}

// submitCode is submit with the wallet's code.
func (e *riskEnv) submitCode(order, code string) (p *partnerv1.Payment, died bool) {
	e.t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if r != processDied {
				panic(r)
			}
			p, died = nil, true
		}
	}()
	resp, err := e.network.SubmitPayment(networkCtx(), &acquiringv1.SubmitPaymentRequest{OrderId: order, MerchantId: testMerchant.ID,
		Code: code, Amount: pbMoney("CNY", 10000)})
	if err != nil {
		e.t.Fatalf("SubmitPayment(%s): %v", order, err)
	}
	return resp.GetPayment(), false
}

// invariants checks the acquirer's books.
func (e *riskEnv) invariants() {
	e.t.Helper()
	if v, err := e.st.CheckInvariants(e.ctx); err != nil || len(v) != 0 {
		e.t.Fatalf("acquirer invariants: %v, %v", v, err)
	}
}

// wantFinal checks a stored payment's end.
func (e *riskEnv) wantFinal(id string, status acquirer.Status, reason rpcerr.Reason) acquirer.Payment {
	e.t.Helper()
	p := e.payment(id)
	if p.Status != status || p.FailureReason != reason || p.NextAttempt != nil {
		e.t.Fatalf("payment %s is %s (%s: %q), next attempt %v; want %s (%s), unscheduled",
			id, p.Status, p.FailureReason, p.FailureMessage, p.NextAttempt, status, reason)
	}
	return p
}

// TestDeviceRef checks that a payment's device reference is validated,
// stored, sent to risk with the mode, kept across a restart, and left out
// of the request hash without a retry changing it.
func TestDeviceRef(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		e := newRiskEnv(t, db)
		const device = "ios:A1b2.C3_d4-e5"
		quote := e.quote()
		p, err := e.payQuoted("order-dev-1", quote, device)
		if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("Pay = %v, %v; want S", p, err)
		}
		evals, _, _ := e.risk.calls()
		want := &riskv1.EvaluateRequest{PaymentId: p.GetPaymentId(), PartnerId: testPartner, UserRef: "user-1",
			Merchant: merchantToProto(testMerchant), MerchantAmount: pbMoney("CNY", 10000), WalletAmount: pbMoney("MNT", 4875000),
			DeviceRef: device, Mode: riskv1.PaymentMode_PAYMENT_MODE_MPM}
		if len(evals) != 1 || !proto.Equal(evals[0], want) {
			t.Fatalf("risk was asked %v, want once %v", evals, want)
		}
		if got := e.payment(p.GetPaymentId()).DeviceRef; got != device {
			t.Fatalf("stored device_ref %q, want %q", got, device)
		}

		// A retry of the same payment from another device (or none) is the
		// same request: the stored payment comes back, unchanged, and risk
		// is not asked again.
		before := e.payment(p.GetPaymentId())
		for _, other := range []string{"android:zz-9", ""} {
			again, err := e.payQuoted("order-dev-1", quote, other)
			if err != nil || again.GetPaymentId() != p.GetPaymentId() || again.GetResult() != commonv1.Result_RESULT_SUCCESS {
				t.Fatalf("retry from device %q = %v, %v; want the same payment, S", other, again, err)
			}
		}
		if after := e.payment(p.GetPaymentId()); after.DeviceRef != device || !after.UpdateTime.Equal(before.UpdateTime) {
			t.Fatalf("after retries the payment has device %q, updated %s; want %q, unchanged %s", after.DeviceRef, after.UpdateTime, device, before.UpdateTime)
		}
		if evals, _, _ := e.risk.calls(); len(evals) != 1 {
			t.Fatalf("retries reached risk: %d evaluations", len(evals))
		}
		// A different payment under the same key is still refused.
		q, _ := e.partner.CreateQuote(partnerCtx(), &partnerv1.CreateQuoteRequest{Code: staticCode, Amount: pbMoney("CNY", 20000)})
		_, err = e.partner.Pay(partnerCtx(), &partnerv1.PayRequest{PartnerPaymentId: "order-dev-1", Code: staticCode,
			Amount: q.GetQuote().GetMerchantAmount(), QuoteId: q.GetQuote().GetQuoteId(), UserRef: "user-1", DeviceRef: device})
		if rpcerr.ReasonOf(err) != rpcerr.RepeatRequestInconsistent {
			t.Fatalf("another amount under the key: %v, want %s", err, rpcerr.RepeatRequestInconsistent)
		}

		// A new process reads the device back from the row.
		e.restart()
		got, err := e.partner.GetPayment(partnerCtx(), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
		if err != nil || got.GetPayment().GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("GetPayment after a restart = %v, %v", got, err)
		}
		if d := e.payment(p.GetPaymentId()).DeviceRef; d != device {
			t.Fatalf("after a restart the stored device_ref is %q, want %q", d, device)
		}

		// The longest reference there may be, and none at all.
		long := strings.Repeat("d", 64)
		if p, err := e.pay("order-dev-2", long); err != nil || e.payment(p.GetPaymentId()).DeviceRef != long {
			t.Fatalf("a 64-character device_ref: %v, %v", p, err)
		}
		p3, err := e.pay("order-dev-3", "")
		if err != nil || e.payment(p3.GetPaymentId()).DeviceRef != "" {
			t.Fatalf("no device_ref: %v, %v", p3, err)
		}
		evals, _, _ = e.risk.calls()
		if last := evals[len(evals)-1]; last.GetDeviceRef() != "" || last.GetPaymentId() != p3.GetPaymentId() {
			t.Fatalf("risk was asked %v, want no device", last)
		}

		// A CPM payment goes to risk as one, without a device.
		cpm, _ := e.submit("order-cpm-dev")
		evals, _, _ = e.risk.calls()
		last := evals[len(evals)-1]
		if last.GetPaymentId() != cpm.GetPaymentId() || last.GetMode() != riskv1.PaymentMode_PAYMENT_MODE_CPM || last.GetDeviceRef() != "" {
			t.Fatalf("risk was asked %v, want the CPM payment %s as CPM", last, cpm.GetPaymentId())
		}
		e.invariants()
	})
}

// TestBadDeviceRef checks that a malformed device reference is refused
// with INVALID_ARGUMENT on device_ref before anything is written or
// asked.
func TestBadDeviceRef(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		e := newRiskEnv(t, db)
		for i, bad := range []string{strings.Repeat("d", 65), "dev 1", "dev/1", "dév", "dev\n1", "dev%1", "dev@1"} {
			key := fmt.Sprintf("order-bad-%d", i)
			_, err := e.pay(key, bad)
			var re *rpcerr.Error
			if !errors.As(err, &re) || re.Reason != rpcerr.InvalidArgument || re.Field != "device_ref" {
				t.Fatalf("device_ref %q: %v, want INVALID_ARGUMENT on device_ref", bad, err)
			}
			if rpcerr.ToStatus(err).Code() != codes.InvalidArgument {
				t.Fatalf("device_ref %q: status %v, want InvalidArgument", bad, rpcerr.ToStatus(err))
			}
			if _, err := e.st.PaymentByKey(e.ctx, testPartner, key); !errors.Is(err, acquirer.ErrPaymentNotFound) {
				t.Fatalf("device_ref %q: a payment was stored (%v)", bad, err)
			}
		}
		if evals, _, _ := e.risk.calls(); len(evals) != 0 {
			t.Fatalf("refused requests reached risk: %v", evals)
		}
		e.fx.mu.Lock()
		locks := len(e.fx.locks)
		e.fx.mu.Unlock()
		if locks != 0 {
			t.Fatalf("refused requests locked %d quotes", locks)
		}
	})
}

// TestRiskReview checks that a review proceeds exactly like an approval,
// for an MPM payment's evaluation and a CPM payment's named user.
func TestRiskReview(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		e := newRiskEnv(t, db)
		e.risk.evaluate = riskv1.Decision_DECISION_REVIEW
		p, err := e.pay("order-review-1", "dev-1")
		if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS || p.GetFailureReason() != "" {
			t.Fatalf("Pay under review = %v, %v; want S", p, err)
		}
		e.wantFinal(p.GetPaymentId(), acquirer.Succeeded, "")

		e.risk.evaluate = riskv1.Decision_DECISION_APPROVE
		e.risk.setName(answer(riskv1.Decision_DECISION_REVIEW, "", "first payment of this user here"))
		c, _ := e.submit("order-review-2")
		if c.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("CPM payment whose user is in review = %v; want S", c)
		}
		stored := e.wantFinal(c.GetPaymentId(), acquirer.Succeeded, "")
		if stored.UserRef != "wu-42" {
			t.Fatalf("stored user %q, want the named wu-42", stored.UserRef)
		}
		if auth, cancels := e.wallet.state(c.GetPaymentId()); auth != "authorized" || cancels != 0 {
			t.Fatalf("wallet: %s, %d cancels; want the authorization to stand", auth, cancels)
		}
		if _, _, releases := e.risk.calls(); len(releases) != 0 {
			t.Fatalf("reviewed payments were released: %v", releases)
		}
		if s := e.svc.Stats(); s.Reviews != 2 {
			t.Fatalf("Stats = %+v, want 2 reviews", s)
		}
		e.invariants()
	})
}

// TestNameUserDecline checks that a CPM payment whose named user risk
// refuses has its authorization cancelled and fails with risk's reason;
// a cancel that fails is left scheduled and finished by the resolver.
func TestNameUserDecline(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		e := newRiskEnv(t, db)
		e.risk.setName(answer(riskv1.Decision_DECISION_DECLINE, string(rpcerr.RiskLimitExceeded), "over the user's daily limit"))

		p, _ := e.submit("order-decline-1")
		if p.GetResult() != commonv1.Result_RESULT_FAILURE || p.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_FAILED ||
			p.GetFailureReason() != string(rpcerr.RiskLimitExceeded) || p.GetFailureMessage() != "over the user's daily limit" {
			t.Fatalf("SubmitPayment = %v; want F, RISK_LIMIT_EXCEEDED", p)
		}
		_, namings, releases := e.risk.calls()
		if len(namings) != 1 || namings[0].GetPaymentId() != p.GetPaymentId() || namings[0].GetUserRef() != "wu-42" {
			t.Fatalf("NameUser calls %v, want one naming wu-42 for %s", namings, p.GetPaymentId())
		}
		if auth, cancels := e.wallet.state(p.GetPaymentId()); auth != "cancelled" || cancels != 1 {
			t.Fatalf("wallet: %s after %d cancels; want the authorization cancelled once", auth, cancels)
		}
		stored := e.wantFinal(p.GetPaymentId(), acquirer.Failed, rpcerr.RiskLimitExceeded)
		if !stored.Credited || stored.UserRef != "wu-42" || stored.NetworkReference == "" {
			t.Fatalf("stored %+v: want the authorization and its user recorded", stored)
		}
		if !slices.Contains(releases, p.GetPaymentId()) {
			t.Fatalf("risk releases %v, want %s released", releases, p.GetPaymentId())
		}
		// The order asked again gets the same answer.
		if again, _ := e.submit("order-decline-1"); again.GetPaymentId() != p.GetPaymentId() || again.GetResult() != commonv1.Result_RESULT_FAILURE {
			t.Fatalf("repeat = %v, want the same F", again)
		}
		e.invariants()

		// The wallet cannot be reached for the cancel: the payment stays U
		// (cancel requested, scheduled) until the resolver confirms it.
		e.wallet.failCancels = 2
		q, _ := e.submit("order-decline-2")
		if q.GetResult() != commonv1.Result_RESULT_UNKNOWN || q.GetFailureReason() != "" {
			t.Fatalf("SubmitPayment with the cancel failing = %v; want U, no failure yet", q)
		}
		mid := e.payment(q.GetPaymentId())
		if mid.Status != acquirer.Processing || !mid.CancelRequested || mid.FailureReason != rpcerr.RiskLimitExceeded || mid.NextAttempt == nil {
			t.Fatalf("stored %+v: want PROCESSING, cancel requested for RISK_LIMIT_EXCEEDED, scheduled", mid)
		}
		e.invariants()
		e.resolveLater() // the second cancel fails too
		if p := e.payment(q.GetPaymentId()); p.Status != acquirer.Processing || p.NextAttempt == nil {
			t.Fatalf("after a failed retry: %+v; want still PROCESSING and scheduled", p)
		}
		e.resolveLater()
		e.wantFinal(q.GetPaymentId(), acquirer.Failed, rpcerr.RiskLimitExceeded)
		if auth, cancels := e.wallet.state(q.GetPaymentId()); auth != "cancelled" || cancels != 3 {
			t.Fatalf("wallet: %s after %d cancels; want cancelled on the third", auth, cancels)
		}
		got, err := e.network.GetPayment(networkCtx(), &acquiringv1.GetPaymentRequest{Id: &acquiringv1.GetPaymentRequest_PaymentId{PaymentId: q.GetPaymentId()}})
		if err != nil || got.GetPayment().GetResult() != commonv1.Result_RESULT_FAILURE || got.GetPayment().GetFailureReason() != string(rpcerr.RiskLimitExceeded) {
			t.Fatalf("GetPayment = %v, %v; want F, RISK_LIMIT_EXCEEDED", got, err)
		}
		if _, namings, _ := e.risk.calls(); len(namings) != 2 {
			t.Fatalf("NameUser was called %d times, want once per payment", len(namings))
		}
		e.invariants()
	})
}

// TestNameUserUnreachable checks the chosen behaviour when NameUser gets
// no answer: the payment stays U with its authorization and user
// recorded; the resolver asks again and finishes it on risk's word, or,
// if risk never answers within the schedule, reverses it.
func TestNameUserUnreachable(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		e := newRiskEnv(t, db)
		e.risk.setName(unavailable)

		p, _ := e.submit("order-unreach-1")
		if p.GetResult() != commonv1.Result_RESULT_UNKNOWN {
			t.Fatalf("SubmitPayment with risk unreachable = %v; want U", p)
		}
		mid := e.payment(p.GetPaymentId())
		if mid.Status != acquirer.Processing || !mid.Credited || mid.UserRef != "wu-42" || mid.CancelRequested || mid.NextAttempt == nil {
			t.Fatalf("stored %+v: want PROCESSING, authorized for wu-42, scheduled", mid)
		}
		if s := e.svc.Stats(); s.NamingDeferred != 1 || s.UnnamedUsers != 0 {
			t.Fatalf("Stats = %+v, want one naming deferred", s)
		}
		e.invariants()

		// Risk is back and approves: S, without a second debit.
		e.risk.setName(answer(riskv1.Decision_DECISION_APPROVE, "", ""))
		e.resolveLater()
		done := e.wantFinal(p.GetPaymentId(), acquirer.Succeeded, "")
		if done.UserRef != "wu-42" || !done.Credited {
			t.Fatalf("stored %+v: want S for wu-42", done)
		}
		if _, namings, _ := e.risk.calls(); len(namings) != 2 {
			t.Fatalf("NameUser was called %d times, want twice", len(namings))
		}
		if e.wallet.authorizes != 1 {
			t.Fatalf("the wallet was asked to authorize %d times, want once", e.wallet.authorizes)
		}

		// Risk never answers: the resolver asks on each step of its
		// schedule (the request path's attempt was its first), then gives
		// the authorization back.
		e.risk.setName(unavailable)
		q, _ := e.submit("order-unreach-2")
		for i := range len(e.cfg.Schedule) - 1 {
			e.resolveLater()
			if cur := e.payment(q.GetPaymentId()); cur.Status != acquirer.Processing || cur.CancelRequested {
				t.Fatalf("after resolver step %d: %+v; want still U", i+1, cur)
			}
		}
		e.resolveLater()
		e.wantFinal(q.GetPaymentId(), acquirer.Failed, rpcerr.PaymentTimedOut)
		if auth, cancels := e.wallet.state(q.GetPaymentId()); auth != "cancelled" || cancels != 1 {
			t.Fatalf("wallet: %s after %d cancels; want the authorization given back", auth, cancels)
		}
		if _, namings, _ := e.risk.calls(); len(namings) != 2+1+len(e.cfg.Schedule) {
			t.Fatalf("NameUser was called %d times, want once on the request and once per resolver step", len(namings))
		}

		// A risk service that does not implement NameUser (older than the
		// acquirer): there are no user limits to apply, and the payment
		// succeeds, counted.
		e.risk.setName(nil)
		u, _ := e.submit("order-unimpl")
		if u.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("SubmitPayment with NameUser unimplemented = %v; want S", u)
		}
		if s := e.svc.Stats(); s.UnnamedUsers != 1 {
			t.Fatalf("Stats = %+v, want one payment without its user's limits", s)
		}
		e.invariants()
	})
}

// TestCrashBetweenAuthorizeAndNameUser kills the acquirer after the
// partner authorized a CPM payment and before risk heard of its user, and
// checks what the restarted process's resolver makes of it.
func TestCrashBetweenAuthorizeAndNameUser(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		t.Run("after the authorization was recorded, risk approves", func(t *testing.T) {
			e := newRiskEnv(t, db)
			e.dying.dieAfter = "MarkAuthorized"
			if _, died := e.submit("order-crash-1"); !died {
				t.Fatal("the acquirer did not die")
			}
			id := acquirer.OrderPaymentID(testNetwork, "order-crash-1")
			if _, namings, _ := e.risk.calls(); len(namings) != 0 {
				t.Fatalf("risk heard of the user before the crash: %v", namings)
			}
			mid := e.payment(id)
			if mid.Status != acquirer.Processing || !mid.Credited || mid.UserRef != "wu-42" || mid.NextAttempt == nil {
				t.Fatalf("after the crash: %+v; want PROCESSING, authorized for wu-42, scheduled", mid)
			}
			e.invariants()

			e.restart()
			e.resolveLater()
			e.wantFinal(id, acquirer.Succeeded, "")
			if _, namings, _ := e.risk.calls(); len(namings) != 1 || namings[0].GetUserRef() != "wu-42" || namings[0].GetPaymentId() != id {
				t.Fatalf("NameUser calls %v, want the restarted resolver to name wu-42", namings)
			}
			if auth, cancels := e.wallet.state(id); auth != "authorized" || cancels != 0 || e.wallet.authorizes != 1 {
				t.Fatalf("wallet: %s, %d cancels, %d authorizes; want one authorization standing", auth, cancels, e.wallet.authorizes)
			}
			e.invariants()
		})

		t.Run("after the authorization was recorded, risk declines", func(t *testing.T) {
			e := newRiskEnv(t, db)
			e.risk.setName(answer(riskv1.Decision_DECISION_DECLINE, "", "blocked user"))
			e.dying.dieAfter = "MarkAuthorized"
			if _, died := e.submit("order-crash-2"); !died {
				t.Fatal("the acquirer did not die")
			}
			id := acquirer.OrderPaymentID(testNetwork, "order-crash-2")
			e.restart()
			e.resolveLater()
			p := e.wantFinal(id, acquirer.Failed, rpcerr.RiskDeclined)
			if p.FailureMessage != "blocked user" {
				t.Fatalf("failure message %q, want risk's", p.FailureMessage)
			}
			if auth, cancels := e.wallet.state(id); auth != "cancelled" || cancels != 1 {
				t.Fatalf("wallet: %s after %d cancels; want the authorization given back", auth, cancels)
			}
			e.invariants()
		})

		t.Run("after risk's refusal was recorded, before the cancel", func(t *testing.T) {
			e := newRiskEnv(t, db)
			e.risk.setName(answer(riskv1.Decision_DECISION_DECLINE, string(rpcerr.RiskLimitExceeded), "over the monthly limit"))
			e.dying.dieAfter = "RefuseAuthorized"
			if _, died := e.submit("order-crash-4"); !died {
				t.Fatal("the acquirer did not die")
			}
			id := acquirer.OrderPaymentID(testNetwork, "order-crash-4")
			if auth, cancels := e.wallet.state(id); auth != "authorized" || cancels != 0 {
				t.Fatalf("wallet: %s after %d cancels; want the authorization not yet cancelled", auth, cancels)
			}
			e.invariants()
			e.restart()
			e.resolveLater()
			e.wantFinal(id, acquirer.Failed, rpcerr.RiskLimitExceeded)
			if auth, cancels := e.wallet.state(id); auth != "cancelled" || cancels != 1 {
				t.Fatalf("wallet: %s after %d cancels; want the authorization given back by the resolver", auth, cancels)
			}
			if _, namings, _ := e.risk.calls(); len(namings) != 1 {
				t.Fatalf("NameUser was called %d times; the refusal was recorded, want once", len(namings))
			}
			e.invariants()
		})

		// The wallet debited the user and the acquirer died before it read
		// the answer: the row knows nothing of the authorization. The
		// restarted resolver's inquiry finds it and names the user, who is
		// then named to risk like after an Authorize answer.
		lostAnswer := func(t *testing.T, order string, name func(*riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error)) (*riskEnv, string) {
			t.Helper()
			e := newRiskEnv(t, db)
			e.risk.setName(name)
			e.wallet.dieInAuth = true
			if _, died := e.submit(order); !died {
				t.Fatal("the acquirer did not die")
			}
			id := acquirer.OrderPaymentID(testNetwork, order)
			if mid := e.payment(id); mid.Credited || mid.Status != acquirer.Processing || mid.NextAttempt == nil ||
				!strings.HasPrefix(mid.UserRef, "code:") {
				t.Fatalf("after the crash: %+v; want PROCESSING, nothing recorded, scheduled", mid)
			}
			if _, namings, _ := e.risk.calls(); len(namings) != 0 {
				t.Fatalf("risk heard of the user before the crash: %v", namings)
			}
			e.invariants()
			e.restart()
			e.resolveLater()
			return e, id
		}
		wantNamedOnce := func(t *testing.T, e *riskEnv, id string) {
			t.Helper()
			if _, namings, _ := e.risk.calls(); len(namings) != 1 || namings[0].GetUserRef() != "wu-42" || namings[0].GetPaymentId() != id {
				t.Fatalf("NameUser calls %v, want the inquiry's user wu-42 named once for %s", namings, id)
			}
			if s := e.svc.Stats(); s.UnnamedUsers != 0 {
				t.Fatalf("Stats = %+v, want no payment unnamed", s)
			}
		}

		t.Run("before anything was recorded, the inquiry names the user, risk approves", func(t *testing.T) {
			e, id := lostAnswer(t, "order-crash-3", answer(riskv1.Decision_DECISION_APPROVE, "", ""))
			p := e.wantFinal(id, acquirer.Succeeded, "")
			if !p.Credited || p.UserRef != "wu-42" || p.NetworkReference != "w-"+id[:8] {
				t.Fatalf("stored %+v: want S, authorized for wu-42 with the wallet's reference", p)
			}
			wantNamedOnce(t, e, id)
			if auth, cancels := e.wallet.state(id); auth != "authorized" || cancels != 0 || e.wallet.authorizes != 1 {
				t.Fatalf("wallet: %s, %d cancels, %d authorizes; want one authorization standing", auth, cancels, e.wallet.authorizes)
			}
			e.invariants()
		})

		t.Run("before anything was recorded, the inquiry names a user over their limit", func(t *testing.T) {
			// Risk declines the named user (and only them): their limits
			// apply though the Authorize answer was lost. The authorization
			// is cancelled and the payment fails with risk's reason.
			overLimit := func(req *riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error) {
				if req.GetUserRef() != "wu-42" {
					return &riskv1.EvaluateResponse{Decision: riskv1.Decision_DECISION_APPROVE}, nil
				}
				return answer(riskv1.Decision_DECISION_DECLINE, string(rpcerr.RiskLimitExceeded), "over the user's daily limit")(req)
			}
			e, id := lostAnswer(t, "order-crash-5", overLimit)
			p := e.wantFinal(id, acquirer.Failed, rpcerr.RiskLimitExceeded)
			if p.FailureMessage != "over the user's daily limit" || !p.Credited || p.UserRef != "wu-42" || !p.CancelRequested {
				t.Fatalf("stored %+v: want F with risk's message, the authorization and its user recorded, cancelled", p)
			}
			wantNamedOnce(t, e, id)
			if auth, cancels := e.wallet.state(id); auth != "cancelled" || cancels != 1 || e.wallet.authorizes != 1 {
				t.Fatalf("wallet: %s after %d cancels, %d authorizes; want the one authorization given back", auth, cancels, e.wallet.authorizes)
			}
			if _, _, releases := e.risk.calls(); !slices.Contains(releases, id) {
				t.Fatalf("risk releases %v, want %s released", releases, id)
			}
			got, err := e.network.GetPayment(networkCtx(), &acquiringv1.GetPaymentRequest{Id: &acquiringv1.GetPaymentRequest_PaymentId{PaymentId: id}})
			if err != nil || got.GetPayment().GetResult() != commonv1.Result_RESULT_FAILURE ||
				got.GetPayment().GetFailureReason() != string(rpcerr.RiskLimitExceeded) {
				t.Fatalf("GetPayment = %v, %v; want F, RISK_LIMIT_EXCEEDED", got, err)
			}
			e.invariants()
		})

		t.Run("before anything was recorded, a partner whose inquiry names nobody", func(t *testing.T) {
			// A partner built before InquireAuthorizationResponse.user_ref:
			// there is no one to name, and the payment succeeds with the
			// amount where Evaluate counted it, counted as unnamed (see
			// acquirer.Service.authorized).
			e := newRiskEnv(t, db)
			e.wallet.unnamedInquiry, e.wallet.dieInAuth = true, true
			if _, died := e.submit("order-crash-6"); !died {
				t.Fatal("the acquirer did not die")
			}
			id := acquirer.OrderPaymentID(testNetwork, "order-crash-6")
			e.restart()
			e.resolveLater()
			p := e.wantFinal(id, acquirer.Succeeded, "")
			if !strings.HasPrefix(p.UserRef, "code:") {
				t.Fatalf("user %q: want the code's pseudo-user risk evaluated", p.UserRef)
			}
			if _, namings, _ := e.risk.calls(); len(namings) != 0 {
				t.Fatalf("NameUser calls %v, want none: no user was named", namings)
			}
			if s := e.svc.Stats(); s.UnnamedUsers != 1 {
				t.Fatalf("Stats = %+v, want the payment counted as unnamed", s)
			}
			e.invariants()
		})
	})
}

// endpointRouter is cpmRouter with the partner's WalletPartnerService at
// endpoint.
type endpointRouter struct {
	cpmRouter
	endpoint string
}

func (r endpointRouter) Partner(ctx context.Context, id string) (acquirer.Partner, error) {
	p, err := r.cpmRouter.Partner(ctx, id)
	p.Endpoint = r.endpoint
	return p, err
}

// TestLostAuthorizeAnswerNamesUserOnInquiry runs CPM payments against the
// SDK's MemoryWallet, served on loopback and reached through the
// acquirer's own wallet client. The wallet debits the user and then hangs
// past the request path's bound, so Authorize's answer (and the user it
// names) is lost and the payment is U. The resolver's inquiry answers S
// with the user (InquireAuthorizationResponse.user_ref), whom the
// acquirer names to risk: approved, the payment succeeds for that user;
// over the user's limit, the authorization is cancelled (the user is
// credited back) and the payment fails with risk's reason.
func TestLostAuthorizeAnswerNamesUserOnInquiry(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		e := newRiskEnv(t, db)
		mw, err := unigate.NewMemoryWallet(unigate.MemoryWalletConfig{Currency: "MNT"})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		unigate.RegisterWalletPartner(srv, mw)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		pool := grpcx.NewPool(5*time.Second, grpc.WithTransportCredentials(insecure.NewCredentials()))
		t.Cleanup(pool.Close)
		e.d.Router, e.d.Wallets = endpointRouter{endpoint: lis.Addr().String()}, wallets{pool}
		e.cfg.ProcessBound = time.Second // how long the request path waits for the hanging wallet
		e.restart()

		const user, balance, price = "wu-77", 10_000_000, 4_875_000 // 100.00 CNY at 487.5
		mw.SetBalance(user, balance)
		lose := func(order string) string {
			t.Helper()
			mw.HangNextAuthorizes(1, unigate.HangAfterDebit)
			p, _ := e.submitCode(order, mw.IssueCode(user))
			if p.GetResult() != commonv1.Result_RESULT_UNKNOWN {
				t.Fatalf("SubmitPayment with the answer lost = %v; want U", p)
			}
			if mid := e.payment(p.GetPaymentId()); mid.Credited || mid.Status != acquirer.Processing || mid.NextAttempt == nil {
				t.Fatalf("stored %+v: want PROCESSING, no authorization recorded, scheduled", mid)
			}
			return p.GetPaymentId()
		}
		named := func(id string) {
			t.Helper()
			_, namings, _ := e.risk.calls()
			n := 0
			for _, req := range namings {
				if req.GetPaymentId() == id {
					n++
					if req.GetUserRef() != user {
						t.Fatalf("NameUser(%s) named %q, want the inquiry's %s", id, req.GetUserRef(), user)
					}
				}
			}
			if n != 1 {
				t.Fatalf("NameUser was called %d times for %s, want once", n, id)
			}
		}

		// Risk approves the user: S, debited once.
		id := lose("order-lost-1")
		if got := mw.Balance(user); got != balance-price {
			t.Fatalf("balance %d after the lost answer, want %d debited", got, price)
		}
		e.resolveLater()
		p := e.wantFinal(id, acquirer.Succeeded, "")
		if !p.Credited || p.UserRef != user || p.NetworkReference == "" {
			t.Fatalf("stored %+v: want S for %s with the wallet's reference", p, user)
		}
		named(id)
		if got := mw.Balance(user); got != balance-price {
			t.Fatalf("balance %d, want %d: debited once", got, balance-price)
		}
		e.invariants()

		// The user is over their limit: the authorization is cancelled
		// and the payment fails with risk's reason.
		e.risk.setName(func(req *riskv1.NameUserRequest) (*riskv1.EvaluateResponse, error) {
			if req.GetUserRef() != user {
				return &riskv1.EvaluateResponse{Decision: riskv1.Decision_DECISION_APPROVE}, nil
			}
			return answer(riskv1.Decision_DECISION_DECLINE, string(rpcerr.RiskLimitExceeded), "over the user's daily limit")(req)
		})
		id = lose("order-lost-2")
		e.resolveLater()
		p = e.wantFinal(id, acquirer.Failed, rpcerr.RiskLimitExceeded)
		if p.FailureMessage != "over the user's daily limit" || p.UserRef != user {
			t.Fatalf("stored %+v: want F with risk's message, for %s", p, user)
		}
		named(id)
		if got := mw.Balance(user); got != balance-price {
			t.Fatalf("balance %d, want %d: the refused payment credited back", got, balance-price)
		}
		inq, err := mw.InquireAuthorization(e.ctx, &partnerv1.InquireAuthorizationRequest{PaymentId: id})
		if err != nil || inq.GetResult() != commonv1.Result_RESULT_FAILURE || inq.GetFailureReason() != unigate.ReasonCancelled {
			t.Fatalf("wallet's authorization = %v, %v; want F CANCELLED", inq, err)
		}
		if s := e.svc.Stats(); s.UnnamedUsers != 0 {
			t.Fatalf("Stats = %+v, want no payment unnamed", s)
		}
		e.invariants()
	})
}

// TestRiskClientDecisions checks how the risk client reads decisions it
// does not know: as an error, never as an approval.
func TestRiskClientDecisions(t *testing.T) {
	for _, tc := range []struct {
		in   riskv1.Decision
		want acquirer.Verdict
		err  bool
	}{
		{riskv1.Decision_DECISION_APPROVE, acquirer.Approve, false},
		{riskv1.Decision_DECISION_REVIEW, acquirer.Review, false},
		{riskv1.Decision_DECISION_DECLINE, acquirer.Decline, false},
		{riskv1.Decision_DECISION_UNSPECIFIED, acquirer.Decline, true},
		{riskv1.Decision(42), acquirer.Decline, true},
	} {
		d, err := decisionOf(&riskv1.EvaluateResponse{Decision: tc.in, Reason: "R", ScoreBp: 77})
		if (err != nil) != tc.err || (err == nil && (d.Verdict != tc.want || d.Reason != "R" || d.ScoreBP != 77)) {
			t.Errorf("decisionOf(%s) = %+v, %v; want %s (error %v)", tc.in, d, err, tc.want, tc.err)
		}
		if err != nil && d.Verdict.Proceeds() {
			t.Errorf("decisionOf(%s) lets the payment proceed on an error", tc.in)
		}
	}
}
