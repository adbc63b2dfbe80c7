package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/walletsim"
)

// TestOperationsCommands runs the operations commands against a whole
// switch with its security on: a payment and its refund are found by each
// of their ids and followed from the acquirer's rows to the ledger's
// postings; partners are onboarded, suspended, resumed and given code
// ranges by admins only; health shows every service and etcd; tables by
// default, JSON and YAML with -o, usage errors exit 2.
func TestOperationsCommands(t *testing.T) {
	ctx := context.Background()
	st, err := app.StartStack(ctx, app.StackConfig{DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	ctlAs := func(operator string, args ...string) (string, int, error) {
		var out bytes.Buffer
		g := []string{"--pki", st.PKI.Dir, "--operator", operator, "--router", st.Addrs["router"], "--acquirer", st.Addrs["acquirer"],
			"--settlement", st.Addrs["settlement"], "--etcd", st.Addrs["etcd"], "--fx", st.Addrs["fx"], "--risk", st.Addrs["risk"]}
		code, err := run(ctx, append(g, args...), &out)
		return out.String(), code, err
	}
	must := func(operator string, args ...string) string {
		t.Helper()
		out, code, err := ctlAs(operator, args...)
		if err != nil || code != 0 {
			t.Fatalf("%s: %d %v\n%s", strings.Join(args, " "), code, err, out)
		}
		return out
	}

	// A payment, posted, and a refund of part of it.
	sim, err := st.Dial("merchantsim", authn.Operator, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ms, err := simulatorv1.NewMerchantSimulatorServiceClient(sim).ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pconn, err := st.Dial("acquirer", authn.Partner, "hipay")
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close()
	_, _, paid, err := walletsim.New("hipay", pconn).ScanAndPay(ctx, ms.GetMerchants()[0].GetStaticCode(),
		&commonv1.Money{Currency: "CNY", MinorUnits: 2500}, "ops-key-1", "u-ops")
	if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", paid, err)
	}
	pay := paid.GetPaymentId()
	nconn, err := st.Dial("acquirer", authn.Network, "cnsim")
	if err != nil {
		t.Fatal(err)
	}
	defer nconn.Close()
	refund, err := acquiringv1.NewAcquiringServiceClient(nconn).RefundPayment(ctx, &acquiringv1.RefundPaymentRequest{
		RefundRequestId: "ops-refund-1", PaymentId: pay, Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 1000}})
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	refundID := refund.GetRefund().GetRefundId()

	// Found by each id it has, by a viewer.
	if out := must("viewer", "payments", "find", "ops-key-1"); !strings.HasPrefix(out, "PAYMENT") || !strings.Contains(out, pay) ||
		!strings.Contains(out, "partner_payment_id") || !strings.Contains(out, "25.00 CNY") {
		t.Errorf("payments find KEY: %q", out)
	}
	var found struct {
		Matches []struct {
			Matched string
			Payment struct{ PaymentId string }
		}
	}
	for id, by := range map[string]string{pay: "payment_id", refundID: "refund_id", "ops-refund-1": "refund_request_id", paid.GetQuoteId(): "quote_id"} {
		out := must("viewer", "payments", "find", id, "-o", "json")
		if json.Unmarshal([]byte(out), &found) != nil || len(found.Matches) != 1 || found.Matches[0].Matched != by ||
			found.Matches[0].Payment.PaymentId != pay {
			t.Errorf("payments find %s -o json: %+v\n%s", id, found, out)
		}
	}
	if _, code, err := ctlAs("viewer", "payments", "find", "nobody-has-this"); code != 1 || err == nil || !strings.Contains(err.Error(), "no payment has") {
		t.Errorf("payments find of an unknown id: %d %v", code, err)
	}
	if _, code, err := ctlAs("viewer", "payments", "find"); code != 2 || err == nil || !strings.Contains(err.Error(), "usage: unigatectl payments find ID") {
		t.Errorf("payments find without an id: %d %v", code, err)
	}
	// Partners may not use the operators' API.
	if _, err := acquiringv1.NewOperatorServiceClient(pconn).FindPayments(ctx, &acquiringv1.FindPaymentsRequest{Id: pay}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a partner calls FindPayments: %v", err)
	}

	// The partner's view of it, as a table and as YAML.
	if out := must("viewer", "payments", "get", "--partner", "hipay", pay); !strings.Contains(out, "status:") || !strings.Contains(out, "SUCCEEDED") ||
		!strings.Contains(out, "merchant amount:") {
		t.Errorf("payments get: %q", out)
	}
	if out := must("viewer", "payments", "get", "--partner", "hipay", "--key", "ops-key-1", "-o", "yaml"); !strings.Contains(out, "paymentId: "+pay) {
		t.Errorf("payments get --key -o yaml: %q", out)
	}
	if _, code, err := ctlAs("viewer", "payments", "get", pay); code != 2 || err == nil || !strings.Contains(err.Error(), "--partner is required") {
		t.Errorf("payments get without --partner: %d %v", code, err)
	}

	// The refund, once final. (The wallet simulator of the stack does not
	// know payments made by this test's wallet client, so it declines the
	// refund: a refund's whole life all the same.)
	var r struct {
		Refund  struct{ RefundId, PaymentId, Status string }
		Matched string
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := must("viewer", "refunds", "get", "ops-refund-1", "-o", "json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("refunds get -o json: %v\n%s", err, out)
		}
		if r.Refund.Status != "REFUND_STATUS_PROCESSING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refund did not end: %s", out)
		}
	}
	if r.Refund.RefundId != refundID || r.Refund.PaymentId != pay || r.Matched != "request_id" {
		t.Errorf("refunds get by request id: %+v", r)
	}
	if out := must("viewer", "refunds", "get", refundID); !strings.Contains(out, "matched:") || !strings.Contains(out, "refund_id") ||
		!strings.Contains(out, "10.00 CNY") || !strings.Contains(out, "network:") || !strings.Contains(out, "cnsim") {
		t.Errorf("refunds get: %q", out)
	}
	if out := must("viewer", "refunds", "list", pay); !strings.HasPrefix(out, "REFUND") || !strings.Contains(out, refundID) || !strings.Contains(out, "ops-refund-1") {
		t.Errorf("refunds list: %q", out)
	}
	if _, code, err := ctlAs("viewer", "refunds", "list", "nope"); code != 1 || status.Code(err) != codes.NotFound {
		t.Errorf("refunds list of an unknown payment: %d %v", code, err)
	}

	// The timeline: the acquirer's rows, events and audit entries, and the
	// ledger's postings, in time order.
	type row struct {
		Time                           time.Time
		Source, Kind, RefundID, Detail string
	}
	var tl struct {
		Payment     struct{ PaymentId string }
		Refunds     []struct{ RefundId string }
		Postings    []struct{ PostingId, Kind string }
		Entries     []row
		LedgerError string
	}
	wantKinds := []string{"payment created", "audit payment.pay", "event EVENT_TYPE_PAYMENT_SUCCEEDED", "ledger posting payment",
		"refund created", "audit refund.create", "refund updated", "event EVENT_TYPE_REFUND_FAILED"}
	has := func(rows []row, kind string) bool {
		for _, e := range rows {
			if e.Source+" "+e.Kind == kind {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := must("viewer", "payments", "timeline", pay, "-o", "json")
		tl.Entries = nil
		if err := json.Unmarshal([]byte(out), &tl); err != nil {
			t.Fatalf("payments timeline -o json: %v\n%s", err, out)
		}
		missing := ""
		for _, k := range wantKinds {
			if !has(tl.Entries, k) {
				missing = k
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timeline lacks %q:\n%s", missing, out)
		}
	}
	if tl.Payment.PaymentId != pay || len(tl.Refunds) != 1 || len(tl.Postings) < 1 || tl.LedgerError != "" {
		t.Errorf("timeline: %+v", tl)
	}
	for i := 1; i < len(tl.Entries); i++ {
		if tl.Entries[i].Time.Before(tl.Entries[i-1].Time) {
			t.Errorf("entry %d %+v before entry %d %+v", i, tl.Entries[i], i-1, tl.Entries[i-1])
		}
	}
	if tl.Entries[0].Source != "payment" || tl.Entries[0].Kind != "created" {
		t.Errorf("the timeline starts with %+v", tl.Entries[0])
	}
	out := must("viewer", "payments", "timeline", pay)
	if !strings.HasPrefix(out, "payment "+pay+" of hipay: SUCCEEDED, 25.00 CNY\n") || !strings.Contains(out, "TIME") ||
		!strings.Contains(out, "ledger") || !strings.Contains(out, "by partner:hipay") || !strings.Contains(out, "debit ") {
		t.Errorf("payments timeline: %q", out)
	}
	// Without the settlement service, the acquirer's part and a failure.
	out, code, err := ctlAs("viewer", "--settlement", "127.0.0.1:1", "--timeout", "2s", "payments", "timeline", pay)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "the ledger's postings") || !strings.Contains(out, "EVENT_TYPE_PAYMENT_SUCCEEDED") {
		t.Errorf("payments timeline without the ledger: %d %v\n%s", code, err, out)
	}

	// Partners: read by anyone, changed by admins only.
	if out := must("viewer", "partners", "list"); !strings.HasPrefix(out, "PARTNER") || !strings.Contains(out, "hipay") || !strings.Contains(out, "2899:") {
		t.Errorf("partners list: %q", out)
	}
	if out := must("viewer", "partners", "get", "hipay"); !strings.Contains(out, "wallet currency:") || !strings.Contains(out, "MNT") {
		t.Errorf("partners get: %q", out)
	}
	if _, code, err := ctlAs("viewer", "partners", "get", "nope"); code != 1 || err == nil || !strings.Contains(err.Error(), `no partner "nope"`) {
		t.Errorf("partners get nope: %d %v", code, err)
	}
	if _, code, err := ctlAs("operator", "partners", "onboard", "tugpay", "--name", "TugPay", "--currency", "MNT"); code != 1 ||
		status.Code(err) != codes.PermissionDenied {
		t.Errorf("an operator onboards a partner: %d %v", code, err)
	}
	if _, code, err := ctlAs("admin", "partners", "onboard", "tugpay", "--currency", "MNT"); code != 2 || err == nil || !strings.Contains(err.Error(), "--name is required") {
		t.Errorf("onboard without a name: %d %v", code, err)
	}
	if out := must("admin", "partners", "onboard", "tugpay", "--name", "TugPay", "--currency", "MNT", "--code-ranges", "2877:18",
		"--endpoint", "127.0.0.1:1"); !strings.Contains(out, "TugPay") || !strings.Contains(out, "2877:18") || !strings.Contains(out, "audit entry") {
		t.Errorf("partners onboard: %q", out)
	}
	// The router's table follows etcd.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
		}
	}
	waitFor("tugpay in the table", func() bool {
		out, _, _ := ctlAs("viewer", "partners", "list")
		return strings.Contains(out, "tugpay")
	})
	if _, code, err := ctlAs("admin", "partners", "onboard", "tugpay", "--name", "TugPay", "--currency", "MNT"); code != 1 || err == nil ||
		!strings.Contains(err.Error(), "in the routing table already") {
		t.Errorf("onboard twice: %d %v", code, err)
	}
	var p struct {
		Partner struct {
			PartnerId  string
			Disabled   bool
			CodeRanges []struct {
				Prefix  string
				Lengths []int
			}
		}
	}
	if out := must("admin", "partners", "suspend", "tugpay", "-o", "json"); json.Unmarshal([]byte(out), &p) != nil || !p.Partner.Disabled {
		t.Errorf("partners suspend: %+v\n%s", p, out)
	}
	waitFor("tugpay suspended in the table", func() bool {
		out, _, _ := ctlAs("viewer", "partners", "get", "tugpay")
		return strings.Contains(out, "suspended")
	})
	// Resumed, the record is not disabled (protojson leaves false out).
	if out := must("admin", "partners", "resume", "tugpay", "-o", "json"); !strings.Contains(out, `"partnerId"`) || strings.Contains(out, "disabled") {
		t.Errorf("partners resume: %+v\n%s", p, out)
	}
	waitFor("tugpay active again in the table", func() bool {
		out, _, _ := ctlAs("viewer", "partners", "get", "tugpay")
		return strings.Contains(out, "active")
	})
	if _, code, err := ctlAs("admin", "partners", "suspend", "nope"); code != 1 || err == nil || !strings.Contains(err.Error(), `no partner "nope"`) {
		t.Errorf("suspend an unknown partner: %d %v", code, err)
	}
	if out := must("admin", "partners", "code-ranges", "tugpay", "--set", "2877:16/18", "-o", "json"); json.Unmarshal([]byte(out), &p.Partner) != nil ||
		len(p.Partner.CodeRanges) != 1 || p.Partner.CodeRanges[0].Prefix != "2877" || len(p.Partner.CodeRanges[0].Lengths) != 2 {
		t.Errorf("partners code-ranges --set: %+v\n%s", p, out)
	}
	waitFor("tugpay's new ranges in the table", func() bool {
		out, _, _ := ctlAs("viewer", "partners", "code-ranges", "tugpay")
		return strings.Contains(out, "PREFIX") && strings.Contains(out, "2877") && strings.Contains(out, "16/18")
	})
	if _, code, err := ctlAs("admin", "partners", "code-ranges", "tugpay", "--set", "2877"); code != 2 || err == nil || !strings.Contains(err.Error(), "want PREFIX:LENGTH") {
		t.Errorf("code-ranges --set of a bad range: %d %v", code, err)
	}
	if out := must("viewer", "routes", "get"); !strings.HasPrefix(out, "PARTNER") || !strings.Contains(out, "tugpay") || !strings.Contains(out, "NETWORK") ||
		!strings.Contains(out, "cnsim") {
		t.Errorf("routes get: %q", out)
	}

	// Health: every service and etcd, SERVING; one unreachable fails.
	out = must("viewer", "health")
	for _, s := range []string{"acquirer", "router", "fx", "risk", "settlement", "etcd"} {
		if !strings.Contains(out, "\n"+s+" ") {
			t.Errorf("health lacks %s: %q", s, out)
		}
	}
	if strings.Count(out, "SERVING") != 6 || strings.Contains(out, "NOT_SERVING") || !strings.Contains(out, "raft term") {
		t.Errorf("health: %q", out)
	}
	var hs []struct{ Service, Status string }
	if out := must("viewer", "health", "acquirer", "etcd", "-o", "json"); json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 2 ||
		hs[0].Service != "acquirer" || hs[0].Status != "SERVING" || hs[1].Service != "etcd" {
		t.Errorf("health acquirer etcd -o json: %+v\n%s", hs, out)
	}
	out, code, err = ctlAs("viewer", "--router", "127.0.0.1:1", "--timeout", "2s", "health", "router")
	if code != 1 || err == nil || !strings.Contains(out, "UNREACHABLE") {
		t.Errorf("health of an unreachable router: %d %v %q", code, err, out)
	}
	if _, code, err := ctlAs("viewer", "health", "nosuch"); code != 2 || err == nil {
		t.Errorf("health nosuch: %d %v", code, err)
	}

	// The ledger and the elections, as tables and YAML/JSON.
	if out := must("viewer", "ledger", "balance"); !strings.Contains(out, "ACCOUNT") || !strings.Contains(out, "(total)") {
		t.Errorf("ledger balance: %q", out)
	}
	if out := must("viewer", "ledger", "balance", "-o", "yaml"); !strings.Contains(out, "accounts:") || !strings.Contains(out, "currencies:") {
		t.Errorf("ledger balance -o yaml: %q", out)
	}
	var ls []struct {
		Election, Leader string
		Term             int64
	}
	if out := must("viewer", "leaders", "-o", "json"); json.Unmarshal([]byte(out), &ls) != nil || len(ls) == 0 || ls[0].Term == 0 {
		t.Errorf("leaders -o json: %+v\n%s", ls, out)
	}
	if out := must("viewer", "leader", "acquirer", "-o", "yaml"); !strings.Contains(out, "election: acquirer") || !strings.Contains(out, "term: ") {
		t.Errorf("leader -o yaml: %q", out)
	}
	if out := must("viewer", "rates", "--pair", "CNY/MNT"); !strings.Contains(out, "CNY/MNT") || !strings.Contains(out, "CHOSEN") {
		t.Errorf("rates: %q", out)
	}

	// Completion scripts, and help everywhere.
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := must("viewer", "completion", sh); !strings.Contains(out, "unigatectl") {
			t.Errorf("completion %s: %q", sh, out[:min(len(out), 200)])
		}
	}
	if out := must("viewer", "payments", "timeline", "--help"); !strings.Contains(out, "Usage:") || !strings.Contains(out, "Examples:") {
		t.Errorf("payments timeline --help: %q", out)
	}
	// Dynamic completion of a partner id from the router.
	if out := must("viewer", "__complete", "partners", "get", ""); !strings.Contains(out, "hipay\tHiPay") && !strings.Contains(out, "hipay") {
		t.Errorf("completing a partner id: %q", out)
	}
}
