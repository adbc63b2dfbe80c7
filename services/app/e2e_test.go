package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/merchantsim"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/walletsim"
)

const quoteTTL = 3 * time.Second

// env is a running switch and clients of it.
type env struct {
	t          *testing.T
	stack      *app.Stack
	conns      map[string]*grpc.ClientConn
	sim        simulatorv1.MerchantSimulatorServiceClient
	settlement settlementv1.SettlementServiceClient
	db         *sqlstore.DB // the acquirer's database
	ledgerDB   *sqlstore.DB
}

// fastLifecycle resolves in about a second instead of twenty minutes.
var fastLifecycle = acquirer.Config{
	CancelWindow: time.Hour,
	Schedule:     []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond},
	ReverseRetry: 200 * time.Millisecond,
	Tick:         50 * time.Millisecond,
	ProcessBound: 2 * time.Second,
}

func startEnv(t *testing.T, dsn string, opts ...func(*app.StackConfig)) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(testLogOut(), nil))
	cfg := app.StackConfig{DataDir: t.TempDir(), DSN: dsn, QuoteTTL: quoteTTL, Log: log,
		CallTimeout: time.Second, Lifecycle: fastLifecycle}
	for _, o := range opts {
		o(&cfg)
	}
	st, err := app.StartStack(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	open := func(service string) *sqlstore.DB {
		db, err := sqlstore.Open(ctx, st.DSN(service))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	e := &env{t: t, stack: st, conns: map[string]*grpc.ClientConn{}, db: open("acquirer"), ledgerDB: open("settlement")}
	e.sim = simulatorv1.NewMerchantSimulatorServiceClient(e.conn("merchantsim", authn.Operator, "admin"))
	e.settlement = settlementv1.NewSettlementServiceClient(e.conn("settlement", authn.Operator, "admin"))
	return e
}

// conn is a connection to one of the stack's servers as an identity of
// its PKI (kept for the test's lifetime).
func (e *env) conn(service string, kind authn.Kind, id string) *grpc.ClientConn {
	e.t.Helper()
	key := service + "/" + string(kind) + "/" + id
	if c, ok := e.conns[key]; ok {
		return c
	}
	c, err := e.stack.Dial(service, kind, id)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	e.conns[key] = c
	return c
}

// keys is the routing table's registration of an identity's development
// signing key (its money-moving requests are refused without one).
func (e *env) keys(kind authn.Kind, id string) []router.SigningKey {
	e.t.Helper()
	spec := pki.DevSpec{Partners: []string{id}}
	if kind == authn.Network {
		spec = pki.DevSpec{Networks: []string{id}}
	}
	if _, err := pki.WriteDev(e.stack.PKI.Dir, spec); err != nil {
		e.t.Fatal(err)
	}
	k, err := app.DevSigningKey(e.stack.PKI, kind, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return []router.SigningKey{k}
}

// onboardNetwork registers another merchant network (with no merchants
// anyone pays at), so that it can call the acquirer.
func (e *env) onboardNetwork(id string) {
	e.t.Helper()
	cli, err := e.stack.EtcdClient()
	if err != nil {
		e.t.Fatal(err)
	}
	defer cli.Close()
	if err := router.PutNetwork(context.Background(), cli, router.Network{ID: id, Name: "Other network", Endpoint: "127.0.0.1:1",
		GUIDs: []string{"XX." + strings.ToUpper(id)}, Country: "CN", Currency: "CNY", SigningKeys: e.keys(authn.Network, id)}); err != nil {
		e.t.Fatal(err)
	}
	waitFor(e.t, "the network onboarded", func() bool {
		_, err := acquiringv1.NewAcquiringServiceClient(e.network(id)).RefundPayment(context.Background(), refundRequest("probe-"+id, "no-such-payment", 1, ""))
		return rpcerr.ReasonOf(err) == rpcerr.PaymentNotFound
	})
}

// partner is a connection to the acquirer as a wallet partner.
func (e *env) partner(id string) *grpc.ClientConn { return e.conn("acquirer", authn.Partner, id) }

// network is a connection to the acquirer as a merchant network.
func (e *env) network(id string) *grpc.ClientConn { return e.conn("acquirer", authn.Network, id) }

func (e *env) count(db *sqlstore.DB, table string) int {
	e.t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) staticCode(i int) string {
	e.t.Helper()
	ms, err := e.sim.ListMerchants(context.Background(), &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return ms.GetMerchants()[i].GetStaticCode()
}

// waitPosted waits until the acquirer has marked the payments posted to
// the ledger (the poster runs just after a payment succeeds).
func (e *env) waitPosted(ids ...string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			var posted bool
			err := e.db.QueryRowContext(context.Background(), `SELECT ledger_posted FROM acq_payments WHERE payment_id = $1`, id).Scan(&posted)
			if err == nil && posted {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("payment %s not posted within 10s (err %v)", id, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func cny(minor int64) *commonv1.Money { return &commonv1.Money{Currency: "CNY", MinorUnits: minor} }

func TestEndToEnd(t *testing.T) {
	for _, b := range sqlstoretest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := ""
			if b.Name == "postgres" {
				dsn = b.DSN(t)
			}
			e := startEnv(t, dsn)
			e.scenario(t, "mpm payment", e.testPayment)
			e.scenario(t, "url code payment", e.testURLCode)
			e.scenario(t, "bad input writes nothing", e.testBadInput)
			e.scenario(t, "concurrent duplicates make one payment", e.testConcurrentDuplicates)
			e.scenario(t, "failures are final and post nothing", e.testFailures)
			e.scenario(t, "routing changes apply without restart", e.testRoutingReload)
			e.scenario(t, "ledger balances", e.testLedgerBalances)
			e.scenario(t, "demo", e.testDemo)
			e.scenario(t, "cancel", e.testCancel)
			e.scenario(t, "cpm", e.testCPM)
			e.scenario(t, "unknown outcomes are resolved", e.testResolveUnknown)
			e.scenario(t, "events stream from a cursor", e.testEvents)
			e.scenario(t, "settlement cycle", e.testSettlement)
			e.scenario(t, "settlement currencies", e.testSettlementCurrencies)
			e.scenario(t, "network input is checked at the edge", e.testNetworkInput)
			e.scenario(t, "partner policies", e.testPartnerPolicies)
			e.scenario(t, "a silent network delays no one else's events", e.testSilentNetwork)
			e.scenario(t, "mutual TLS and roles", e.testTransport)
			e.scenario(t, "partners and networks see only their own", e.testIsolation)
			e.scenario(t, "quotas", e.testQuotas)
			e.scenario(t, "signed requests", e.testSignatures)
		})
	}
}

func (e *env) testPayment(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("hipay", e.partner("hipay"))
	code := e.staticCode(0)
	dec, q, p, err := w.ScanAndPay(ctx, code, cny(12850), "e2e-pay-1", "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if dec.GetKind() != commonv1.CodeKind_CODE_KIND_EMVCO_MPM || dec.GetMerchant().GetMerchantId() != "M10001" ||
		dec.GetWalletCurrency() != "MNT" || dec.GetMerchant().GetNetworkId() != "cnsim" {
		t.Fatalf("decode = %v", dec)
	}
	// 128.50 CNY at 480.25 + 150 bps = 487.45375 MNT/CNY -> 62,637.806875 -> up 62,637.81 MNT.
	if q.GetWalletAmount().GetMinorUnits() != 6263781 || q.GetRate() != "487.45375" {
		t.Fatalf("quote = %v", q)
	}
	if p.GetResult() != commonv1.Result_RESULT_SUCCESS || p.GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED ||
		p.GetWalletAmount().GetMinorUnits() != 6263781 || p.GetNetworkReference() == "" {
		t.Fatalf("payment = %v", p)
	}

	// Lookup by either id gives the same payment.
	byID, err := w.Client.GetPayment(w.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
	if err != nil || !proto.Equal(byID.GetPayment(), p) {
		t.Fatalf("GetPayment by id = %v, %v", byID, err)
	}
	byKey, err := w.Client.GetPayment(w.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: "e2e-pay-1"}})
	if err != nil || !proto.Equal(byKey.GetPayment(), p) {
		t.Fatalf("GetPayment by key = %v, %v", byKey, err)
	}
	// Another partner cannot see it.
	other := walletsim.New("zalopay", e.partner("zalopay"))
	_, err = other.Client.GetPayment(other.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
	if status.Code(err) != codes.NotFound || rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		t.Fatalf("other partner's lookup: %v", err)
	}

	// The same request again returns the same answer; the key with another
	// request is refused.
	req := &partnerv1.PayRequest{PartnerPaymentId: "e2e-pay-1", Code: code, Amount: cny(12850), QuoteId: q.GetQuoteId(), UserRef: "u-1"}
	again, err := w.Client.Pay(w.Context(ctx), req)
	if err != nil || !proto.Equal(again.GetPayment(), p) {
		t.Fatalf("repeat = %v, %v; want %v", again, err, p)
	}
	changed := proto.Clone(req).(*partnerv1.PayRequest)
	changed.UserRef = "u-2"
	_, err = w.Client.Pay(w.Context(ctx), changed)
	if status.Code(err) != codes.AlreadyExists || rpcerr.ReasonOf(err) != rpcerr.RepeatRequestInconsistent {
		t.Fatalf("reused key: %v", err)
	}

	// One posting of five balanced entries; the merchant credited once.
	e.waitPosted(p.GetPaymentId())
	ps, err := e.settlement.ListPostings(ctx, &settlementv1.ListPostingsRequest{PaymentId: p.GetPaymentId()})
	if err != nil || len(ps.GetPostings()) != 1 || len(ps.GetPostings()[0].GetEntries()) != 5 {
		t.Fatalf("postings = %v, %v", ps, err)
	}
	credits, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10001"})
	if err != nil || credits.GetCount() != 1 || credits.GetTotal().GetMinorUnits() != 12850 {
		t.Fatalf("credits = %v, %v", credits, err)
	}
}

func (e *env) testBadInput(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("hipay", e.partner("hipay"))
	code := e.staticCode(0)
	quote := func(amount int64) string {
		q, err := w.Client.CreateQuote(w.Context(ctx), &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(amount)})
		if err != nil {
			t.Fatal(err)
		}
		return q.GetQuote().GetQuoteId()
	}
	unknownMerchant, err := emvqr.EncodeMPM(&emvqr.MPM{PayloadFormat: "01", Initiation: "11",
		MerchantAccounts: []emvqr.MerchantAccount{{ID: "26", GUID: merchantsim.DefaultConfig().GUID, Fields: []emvqr.Object{{ID: "01", Value: "M99999"}}}},
		MCC:              "5812", Currency: "156", Country: "CN", MerchantName: "Nobody", MerchantCity: "Nowhere"})
	if err != nil {
		t.Fatal(err)
	}
	unknownNetwork, err := emvqr.EncodeMPM(&emvqr.MPM{PayloadFormat: "01", Initiation: "11",
		MerchantAccounts: []emvqr.MerchantAccount{{ID: "26", GUID: "XX.UNKNOWN", Fields: []emvqr.Object{{ID: "01", Value: "M10001"}}}},
		MCC:              "5812", Currency: "156", Country: "CN", MerchantName: "Nobody", MerchantCity: "Nowhere"})
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := e.sim.CreateDynamicCode(ctx, &simulatorv1.CreateDynamicCodeRequest{MerchantId: "M10002", Amount: cny(5000)})
	if err != nil {
		t.Fatal(err)
	}
	used := quote(100)
	if _, err := w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "bad-owner", Code: code, Amount: cny(100), QuoteId: used, UserRef: "u-1"}); err != nil {
		t.Fatal(err)
	}
	expired := quote(100)
	time.Sleep(quoteTTL + 100*time.Millisecond)

	payments, entries := e.count(e.db, "acq_payments"), e.count(e.ledgerDB, "ledger_entries")
	pay := func(key, code string, amount *commonv1.Money, quoteID string) error {
		_, err := w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: key, Code: code, Amount: amount, QuoteId: quoteID, UserRef: "u-1"})
		return err
	}
	payAs := func(key, code, quoteID, userRef string) error {
		_, err := w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: key, Code: code, Amount: cny(100), QuoteId: quoteID, UserRef: userRef})
		return err
	}
	fresh := quote(100)
	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		reason rpcerr.Reason
		field  string
	}{
		{"malformed code", func() error { return pay("k1", "000201garbage", cny(100), fresh) }, codes.InvalidArgument, rpcerr.InvalidCode, "code"},
		{"corrupt CRC", func() error { return pay("k2", code[:len(code)-4]+"FFFF", cny(100), fresh) }, codes.InvalidArgument, rpcerr.InvalidCode, "code"},
		{"url code of an issuer no network resolves", func() error { return pay("k3", "https://qr.alipay.com/x", cny(100), fresh) }, codes.NotFound, rpcerr.MerchantNotFound, "code"},
		{"url code of an unknown merchant", func() error { return pay("k3b", "wxp://f2f0nobody", cny(100), fresh) }, codes.NotFound, rpcerr.MerchantNotFound, "code"},
		{"wallet code in the wallet-pays flow", func() error { return pay("k3c", "123456789012345678", cny(100), fresh) }, codes.NotFound, rpcerr.UnknownCodeRange, "code"},
		{"unrecognised code", func() error { return pay("k3d", "hello", cny(100), fresh) }, codes.InvalidArgument, rpcerr.InvalidCode, "code"},
		{"unknown merchant", func() error { return pay("k4", unknownMerchant, cny(100), fresh) }, codes.NotFound, rpcerr.MerchantNotFound, "code"},
		{"unknown network", func() error { return pay("k5", unknownNetwork, cny(100), fresh) }, codes.NotFound, rpcerr.MerchantNotFound, "code"},
		{"unknown quote", func() error { return pay("k6", code, cny(100), "no-such-quote") }, codes.NotFound, rpcerr.QuoteNotFound, ""},
		{"expired quote", func() error { return pay("k7", code, cny(100), expired) }, codes.FailedPrecondition, rpcerr.QuoteExpired, ""},
		{"quote used by another payment", func() error { return pay("k8", code, cny(100), used) }, codes.FailedPrecondition, rpcerr.QuoteAlreadyUsed, ""},
		{"amount differs from quote", func() error { return pay("k9", code, cny(101), fresh) }, codes.FailedPrecondition, rpcerr.QuoteMismatch, ""},
		{"amount differs from dynamic code", func() error { return pay("k10", dyn.GetCode(), cny(100), fresh) }, codes.InvalidArgument, rpcerr.AmountMismatch, "amount"},
		{"zero amount", func() error { return pay("k11", code, cny(0), fresh) }, codes.InvalidArgument, rpcerr.InvalidAmount, "amount.minor_units"},
		{"negative amount", func() error { return pay("k12", code, cny(-100), fresh) }, codes.InvalidArgument, rpcerr.InvalidAmount, "amount.minor_units"},
		{"missing amount", func() error { return pay("k13", code, nil, fresh) }, codes.InvalidArgument, rpcerr.InvalidAmount, "amount"},
		{"unsupported currency", func() error {
			return pay("k14", code, &commonv1.Money{Currency: "XYZ", MinorUnits: 100}, fresh)
		}, codes.InvalidArgument, rpcerr.UnsupportedCurrency, "amount.currency"},
		{"currency not the merchant's", func() error {
			return pay("k15", code, &commonv1.Money{Currency: "MNT", MinorUnits: 100}, fresh)
		}, codes.InvalidArgument, rpcerr.InvalidAmount, "amount.currency"},
		{"bad key", func() error { return pay("no spaces allowed", code, cny(100), fresh) }, codes.InvalidArgument, rpcerr.InvalidArgument, "partner_payment_id"},
		{"NUL in user_ref", func() error { return payAs("k20", code, fresh, "u\x00-1") }, codes.InvalidArgument, rpcerr.InvalidArgument, "user_ref"},
		{"control character in user_ref", func() error { return payAs("k21", code, fresh, "u\x1b[1m") }, codes.InvalidArgument, rpcerr.InvalidArgument, "user_ref"},
		{"user_ref too long", func() error { return payAs("k22", code, fresh, strings.Repeat("u", 129)) }, codes.InvalidArgument, rpcerr.InvalidArgument, "user_ref"},
		{"missing user_ref", func() error { return payAs("k23", code, fresh, "") }, codes.InvalidArgument, rpcerr.InvalidArgument, "user_ref"},
		{"NUL in code", func() error { return pay("k24", code+"\x00", cny(100), fresh) }, codes.InvalidArgument, rpcerr.InvalidCode, "code"},
		{"code too long", func() error { return pay("k25", strings.Repeat("0", 600), cny(100), fresh) }, codes.InvalidArgument, rpcerr.InvalidCode, "code"},
		{"control character in quote_id", func() error { return pay("k26", code, cny(100), fresh+"\n") }, codes.InvalidArgument, rpcerr.InvalidArgument, "quote_id"},

		{"a network calling the partner API", func() error {
			x := walletsim.New("hipay", e.network("cnsim"))
			_, err := x.Client.Pay(x.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "k16", Code: code, Amount: cny(100), QuoteId: fresh, UserRef: "u-1"})
			return err
		}, codes.PermissionDenied, rpcerr.PermissionDenied, ""},
		{"a certificate of one partner claiming another", func() error {
			x := walletsim.New("zalopay", e.partner("hipay"))
			_, err := x.Client.Pay(x.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "k16b", Code: code, Amount: cny(100), QuoteId: fresh, UserRef: "u-1"})
			return err
		}, codes.PermissionDenied, rpcerr.PermissionDenied, ""},
		{"unknown partner", func() error {
			x := walletsim.New("nosuchwallet", e.partner("nosuchwallet"))
			_, err := x.Client.Pay(x.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "k17", Code: code, Amount: cny(100), QuoteId: fresh, UserRef: "u-1"})
			return err
		}, codes.Unauthenticated, rpcerr.SignatureInvalid, ""}, // no registered key: its requests cannot be verified
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st := status.Convert(err)
			if st.Code() != tc.code || rpcerr.ReasonOf(err) != tc.reason {
				t.Fatalf("got %v (%s), want %v %s", st.Code(), rpcerr.ReasonOf(err), tc.code, tc.reason)
			}
			var info *errdetails.ErrorInfo
			var field string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					info = d
				case *errdetails.BadRequest:
					field = d.GetFieldViolations()[0].GetField()
				}
			}
			if info == nil || info.GetDomain() != "unigate" || info.GetReason() != string(tc.reason) {
				t.Fatalf("ErrorInfo = %v", info)
			}
			if field != tc.field {
				t.Fatalf("BadRequest field = %q, want %q", field, tc.field)
			}
		})
	}
	if got := e.count(e.db, "acq_payments"); got != payments {
		t.Fatalf("refused requests wrote %d payments", got-payments)
	}
	if got := e.count(e.ledgerDB, "ledger_entries"); got != entries {
		t.Fatalf("refused requests wrote %d ledger entries", got-entries)
	}
	// The fresh quote is still usable: nothing above consumed it.
	if err := pay("k-fresh", code, cny(100), fresh); err != nil {
		t.Fatalf("fresh quote after refusals: %v", err)
	}
}

func (e *env) testConcurrentDuplicates(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("hipay", e.partner("hipay"))
	code := e.staticCode(1)
	q, err := w.Client.CreateQuote(w.Context(ctx), &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(777)})
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10002"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	results := make([]*partnerv1.Payment, n)
	var wg sync.WaitGroup
	pay := func() (*partnerv1.PayResponse, error) {
		return w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "dup-1", Code: code,
			Amount: cny(777), QuoteId: q.GetQuote().GetQuoteId(), UserRef: "u-dup"})
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := pay()
			// On two busy cores with one-second call deadlines, a burst of
			// 50 may leave some answers unknown (a dependency late): what
			// a partner does then is ask again, with the same key.
			for retry := 0; retry < 5 && (status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Unavailable); retry++ {
				time.Sleep(200 * time.Millisecond)
				resp, err = pay()
			}
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
				return
			}
			results[i] = resp.GetPayment()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Every answer names the same payment; once it is final they agree.
	for i, r := range results {
		if r.GetPaymentId() != results[0].GetPaymentId() {
			t.Fatalf("attempt %d got payment %s, attempt 0 %s", i, r.GetPaymentId(), results[0].GetPaymentId())
		}
	}
	final, err := w.Client.GetPayment(w.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: "dup-1"}})
	if err != nil || final.GetPayment().GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("final = %v, %v", final, err)
	}
	for i, r := range results {
		if r.GetStatus() == partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED && !proto.Equal(r, final.GetPayment()) {
			t.Fatalf("attempt %d answered %v, final is %v", i, r, final.GetPayment())
		}
	}
	var rows int
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM acq_payments WHERE partner_payment_id = 'dup-1'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d payment rows, %v", rows, err)
	}
	e.waitPosted(results[0].GetPaymentId())
	ps, err := e.settlement.ListPostings(ctx, &settlementv1.ListPostingsRequest{PaymentId: results[0].GetPaymentId()})
	if err != nil || len(ps.GetPostings()) != 1 {
		t.Fatalf("%d postings, %v", len(ps.GetPostings()), err)
	}
	after, err := e.sim.GetCredits(ctx, &simulatorv1.GetCreditsRequest{MerchantId: "M10002"})
	if err != nil || after.GetCount() != before.GetCount()+1 {
		t.Fatalf("merchant credited %d times", after.GetCount()-before.GetCount())
	}
}

func (e *env) testFailures(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("hipay", e.partner("hipay"))
	// A blocked user: F with the risk reason, recorded, nothing posted.
	_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(100), "fail-risk", "blocked-user")
	if err != nil {
		t.Fatal(err)
	}
	if p.GetResult() != commonv1.Result_RESULT_FAILURE || p.GetFailureReason() != string(rpcerr.RiskBlocked) {
		t.Fatalf("blocked user: %v", p)
	}
	// A merchant whose network declines: F, nothing posted.
	_, _, p2, err := w.ScanAndPay(ctx, e.staticCode(2), cny(100), "fail-network", "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if p2.GetResult() != commonv1.Result_RESULT_FAILURE || p2.GetFailureReason() != string(rpcerr.MerchantCreditFailed) {
		t.Fatalf("declining merchant: %v", p2)
	}
	for _, id := range []string{p.GetPaymentId(), p2.GetPaymentId()} {
		ps, err := e.settlement.ListPostings(ctx, &settlementv1.ListPostingsRequest{PaymentId: id})
		if err != nil || len(ps.GetPostings()) != 0 {
			t.Fatalf("failed payment %s posted: %v %v", id, ps, err)
		}
	}
	// Over the per-user payment limit (20,000 CNY): F.
	_, _, p3, err := w.ScanAndPay(ctx, e.staticCode(1), cny(2000001), "fail-limit", "u-big")
	if err != nil {
		t.Fatal(err)
	}
	if p3.GetFailureReason() != string(rpcerr.RiskLimitExceeded) {
		t.Fatalf("over limit: %v", p3)
	}
}

func (e *env) testRoutingReload(t *testing.T) {
	ctx := context.Background()
	cli, err := e.stack.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	w := walletsim.New("newwallet", e.partner("newwallet"))
	code := e.staticCode(0)
	decode := func() error {
		_, err := w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: code})
		return err
	}
	if rpcerr.ReasonOf(decode()) != rpcerr.PartnerNotFound {
		t.Fatal("partner known before onboarding")
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not apply within 10s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := router.PutPartner(ctx, cli, router.Partner{ID: "newwallet", Name: "New", Currency: "HKD"}); err != nil {
		t.Fatal(err)
	}
	eventually("onboarding", func() bool { return decode() == nil })
	// A partner whose currency has no configured rate can decode but not quote.
	if err := router.PutPartner(ctx, cli, router.Partner{ID: "jpwallet", Name: "JP", Currency: "JPY"}); err != nil {
		t.Fatal(err)
	}
	jp := walletsim.New("jpwallet", e.partner("jpwallet"))
	eventually("onboarding jpwallet", func() bool {
		_, err := jp.Client.CreateQuote(jp.Context(ctx), &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(100)})
		return status.Code(err) == codes.FailedPrecondition && rpcerr.ReasonOf(err) == rpcerr.RateNotAvailable
	})
	if err := router.PutPartner(ctx, cli, router.Partner{ID: "newwallet", Name: "New", Currency: "HKD", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	eventually("disabling", func() bool { return rpcerr.ReasonOf(decode()) == rpcerr.PartnerDisabled })
}

func (e *env) testLedgerBalances(t *testing.T) {
	ctx := context.Background()
	net := func() map[string]int64 {
		tb, err := e.settlement.GetTrialBalance(ctx, &settlementv1.GetTrialBalanceRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tb.GetCurrencies() {
			if c.GetDebitMinorUnits() != c.GetCreditMinorUnits() {
				t.Errorf("%s: debits %d credits %d", c.GetCurrency(), c.GetDebitMinorUnits(), c.GetCreditMinorUnits())
			}
		}
		out := map[string]int64{}
		for _, a := range tb.GetAccounts() {
			out[a.GetAccount()+"/"+a.GetCurrency()] += a.GetDebitMinorUnits() - a.GetCreditMinorUnits()
		}
		return out
	}
	before := net()
	// Pay from every demo partner so several currencies are in the ledger,
	// and work out what each account must have moved by from the quotes.
	want := map[string]int64{}
	for i, p := range app.DefaultPartners() {
		w := walletsim.New(p.ID, e.partner(p.ID))
		_, q, pay, err := w.ScanAndPay(ctx, e.staticCode(i%2), cny(int64(1000+i*333)), fmt.Sprintf("ledger-%d", i), "u-ledger")
		if err != nil || pay.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("%s: %v %v", p.ID, pay, err)
		}
		e.waitPosted(pay.GetPaymentId())
		// The partner owes the settlement amount, in its settlement
		// currency (zalopay settles its VND payments in USD).
		settle, merchant := q.GetSettlementAmount(), q.GetMerchantAmount()
		want["partner_receivable:"+p.ID+"/"+settle.GetCurrency()] += settle.GetMinorUnits()
		want["merchant_payable:cnsim/CNY"] -= merchant.GetMinorUnits()
		if settle.GetCurrency() == "CNY" {
			want["fx_revenue/CNY"] -= settle.GetMinorUnits() - merchant.GetMinorUnits()
			continue
		}
		want["fx_position:CNY/CNY"] += merchant.GetMinorUnits()
		// The rest of the settlement amount is split between the FX
		// position (cost) and revenue; their sum is exact.
		want["fx_position+revenue/"+settle.GetCurrency()] -= settle.GetMinorUnits()
	}
	after := net()
	got := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			got[k] = d
		}
	}
	for k, v := range got {
		if acct, cur, ok := strings.Cut(k, "/"); ok && (strings.HasPrefix(acct, "fx_position:") && acct != "fx_position:CNY" || acct == "fx_revenue" && cur != "CNY") {
			delete(got, k)
			got["fx_position+revenue/"+cur] += v
		}
	}
	for k, v := range want {
		if v == 0 {
			delete(want, k)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("ledger moved %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s moved %d, want %d", k, got[k], v)
		}
	}
}

// testDemo runs the demo of `make run`; it fails if any step, including its
// check that the ledger balances in every currency, does not hold.
func (e *env) testDemo(t *testing.T) {
	var out strings.Builder
	d := &walletsim.Demo{Wallet: walletsim.New("hipay", e.partner("hipay")), Simulator: e.sim, Settlement: e.settlement, Out: &out,
		Network: acquiringv1.NewAcquiringServiceClient(e.network("cnsim")), NetworkID: "cnsim", Backend: e.stack.Wallets.Wallet("hipay")}
	if err := d.Run(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "MNT: debits = credits") || !strings.Contains(out.String(), "CNY: debits = credits") {
		t.Fatalf("demo output lacks the balanced ledger:\n%s", out.String())
	}
}

// testURLCode pays a WeChat-style URL code, which the router resolves
// through the network that owns the issuer.
func (e *env) testURLCode(t *testing.T) {
	ctx := context.Background()
	w := walletsim.New("zalopay", e.partner("zalopay"))
	dec, q, p, err := w.ScanAndPay(ctx, "WXP://f2f0m10002", cny(8800), "url-1", "u-url")
	if err != nil {
		t.Fatal(err)
	}
	if dec.GetKind() != commonv1.CodeKind_CODE_KIND_URL || dec.GetMerchant().GetMerchantId() != "M10002" || dec.GetWalletCurrency() != "VND" {
		t.Fatalf("decode = %v", dec)
	}
	if p.GetResult() != commonv1.Result_RESULT_SUCCESS || q.GetWalletAmount().GetCurrency() != "VND" {
		t.Fatalf("payment = %v", p)
	}
}
