package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/risk"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/walletsim"
)

// modelV1 is the committed model's file.
var modelV1 = filepath.Join("..", "..", "risk", "model", "testdata", "model-v1.json")

// riskServer serves the risk admin API over db on a loopback port in
// plaintext, errors mapped as the services map them and the caller
// operator:cli, and returns its address.
func riskServer(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(authn.WithIdentity(ctx, authn.Identity{Kind: authn.Operator, ID: "cli", Role: authn.OperatorRole}), req)
			if err != nil {
				return nil, rpcerr.ToStatus(err).Err()
			}
			return resp, nil
		}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	riskv1.RegisterRiskAdminServiceServer(gs, risk.NewAdminServer(db, risk.NewPolicyStore(db, nil), risk.NewCases(db, nil)))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRiskCommands runs every `unigatectl risk` command against the real
// admin API on a loopback server over SQLite: tables by default, JSON
// with -o json, every problem of a refused rule set named, limits not
// given kept, a fraud resolved with --block on the block list.
func TestRiskCommands(t *testing.T) {
	ctx := context.Background()
	db := sqlstoretest.Backends()[0].Open(t)
	if err := db.Migrate(ctx, risk.Migrations); err != nil {
		t.Fatal(err)
	}
	addr := riskServer(t, db)
	rctl := func(args ...string) (string, int, error) {
		t.Helper()
		return ctl(t, append([]string{"--risk", addr, "risk"}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, code, err := rctl(args...)
		if err != nil || code != 0 {
			t.Fatalf("risk %s: %d %v\n%s", strings.Join(args, " "), code, err, out)
		}
		return out
	}

	// Rules.
	if out := must("rules", "get"); !strings.Contains(out, "no rule set in force") {
		t.Errorf("rules get, none: %q", out)
	}
	good := writeFile(t, "rules.json", `{"version": 7, "rules": [
		{"id": "burst.user", "version": 3, "expr": "user_count_1m >= 5 && amount < 1000", "action": "decline", "mode": "enforce", "description": "probing"},
		{"id": "night.mcc", "version": 1, "expr": "hour < 5 && mcc == '7995'", "action": "review", "mode": "shadow"}]}`)
	if out := must("rules", "put", good); !strings.Contains(out, "rule set 7 in force: 2 rules, put by operator:cli") ||
		!strings.Contains(out, "night.mcc") || !strings.Contains(out, "probing") {
		t.Errorf("rules put: %q", out)
	}
	bad := writeFile(t, "bad.json", `{"version": 8, "rules": [
		{"id": "unknown", "expr": "card_bin == '4111'", "action": "decline", "mode": "enforce"},
		{"id": "shape", "expr": "amount", "action": "block", "mode": "enforce"}]}`)
	_, code, err := rctl("rules", "put", bad)
	if code != 1 || status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "\n  rule_set.rules[0].expr: ") ||
		!strings.Contains(err.Error(), "\n  rule_set.rules[1].expr: is int, not a boolean") || !strings.Contains(err.Error(), "\n  rule_set.rules[1].action: ") {
		t.Errorf("rules put of a bad set: %d %v", code, err)
	}
	if _, code, err := rctl("rules", "put", good); code != 1 || !strings.Contains(err.Error(), "rule_set.version: 7 is not above 7") {
		t.Errorf("rules put of the same version: %d %v", code, err)
	}
	var rs struct {
		Version string
		Rules   []struct{ Id, Mode string }
		Actor   string
	}
	if out := must("rules", "get", "-o", "json"); json.Unmarshal([]byte(out), &rs) != nil || rs.Version != "7" || len(rs.Rules) != 2 ||
		rs.Rules[1].Mode != "shadow" || rs.Actor != "operator:cli" {
		t.Errorf("rules get -o json: %+v\n%s", rs, out)
	}
	if out := must("rules", "check", good); !strings.Contains(out, "set version 7: 2 rules compile") {
		t.Errorf("rules check: %q", out)
	}
	// What rules get -o json prints is a rule file: edited (a higher
	// version), it is put back.
	exported := must("rules", "get", "-o", "json")
	if out := must("rules", "check", writeFile(t, "exported.json", exported)); !strings.Contains(out, "set version 7: 2 rules compile") {
		t.Errorf("rules check of the exported set: %q", out)
	}
	if out := must("rules", "put", writeFile(t, "next.json", regexp.MustCompile(`"version":\s*"7"`).ReplaceAllString(exported, `"version": "8"`))); !strings.Contains(out, "rule set 8 in force: 2 rules") {
		t.Errorf("rules put of the exported set, version 8: %q\n%s", out, exported)
	}

	// Lists.
	if out := must("lists", "put", "block", "merchant", "cnsim/M10001", "--note", "fraud ring"); !strings.Contains(out, "cnsim/M10001") ||
		!strings.Contains(out, "fraud ring") || !strings.Contains(out, "operator:cli") {
		t.Errorf("lists put: %q", out)
	}
	must("lists", "put", "--note", "investigation", "suspend", "partner", "zalopay")
	if _, code, err := rctl("lists", "put", "block", "mcc", "59x2"); code != 1 || status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "entry.value") {
		t.Errorf("lists put of a bad mcc: %d %v", code, err)
	}
	if _, code, err := rctl("lists", "put", "block", "user"); code != 2 || !strings.Contains(err.Error(), "usage: unigatectl risk lists put LIST KIND VALUE") {
		t.Errorf("lists put without a value: %d %v", code, err)
	}
	var entries struct {
		Entries []struct{ List, Kind, Value, Note string }
	}
	if out := must("lists", "--list", "suspend", "-o", "json"); json.Unmarshal([]byte(out), &entries) != nil || len(entries.Entries) != 1 ||
		entries.Entries[0].Value != "zalopay" || entries.Entries[0].Note != "investigation" {
		t.Errorf("lists --list suspend -o json: %+v\n%s", entries, out)
	}
	if out := must("lists", "delete", "block", "merchant", "cnsim/M10001"); !strings.Contains(out, "not on the list") {
		t.Errorf("lists delete: %q", out)
	}
	if out := must("lists"); strings.Contains(out, "cnsim/M10001") || !strings.Contains(out, "zalopay") || !strings.Contains(out, "LIST") {
		t.Errorf("lists after the delete: %q", out)
	}

	// Limits: minor units in, major units out; what is not given is kept.
	if out := must("limits", "put", "hipay", "--currency", "MNT", "--per-payment", "5000000", "--user-daily", "10000000"); !strings.Contains(out, "50000.00") ||
		!strings.Contains(out, "100000.00") {
		t.Errorf("limits put: %q", out)
	}
	if out := must("limits", "put", "hipay", "--currency", "MNT", "--merchant-monthly", "300000000", "--partner-monthly", "4000000000"); !strings.Contains(out, "3000000.00") ||
		!strings.Contains(out, "40000000.00") || !strings.Contains(out, "MERCHANT MONTHLY") || !strings.Contains(out, "PARTNER MONTHLY") {
		t.Errorf("limits put --merchant-monthly --partner-monthly: %q", out)
	}
	must("limits", "put", "hipay", "--currency", "MNT", "--user-daily", "20000000")
	must("limits", "put", "*", "--currency", "CNY", "--user-monthly", "1")
	var limits struct {
		Limits []struct{ PartnerId, Currency, PerPayment, UserDaily, UserMonthly, MerchantMonthly, PartnerMonthly string }
	}
	if out := must("limits", "-o", "json"); json.Unmarshal([]byte(out), &limits) != nil || len(limits.Limits) != 2 ||
		limits.Limits[0].PartnerId != "*" || limits.Limits[0].UserMonthly != "1" || limits.Limits[0].MerchantMonthly != "" ||
		limits.Limits[1].PerPayment != "5000000" || limits.Limits[1].UserDaily != "20000000" ||
		limits.Limits[1].MerchantMonthly != "300000000" || limits.Limits[1].PartnerMonthly != "4000000000" {
		t.Errorf("limits -o json: %+v\n%s", limits, out)
	}
	if _, code, err := rctl("limits", "put", "hipay", "--currency", "MNT", "--partner-monthly", "-1"); code != 1 ||
		!strings.Contains(err.Error(), "limits.partner_monthly") {
		t.Errorf("a negative monthly limit: %d %v", code, err)
	}
	if _, code, err := rctl("limits", "put", "hipay", "--currency", "XXY"); code != 1 || !strings.Contains(err.Error(), "limits.currency") {
		t.Errorf("limits in no currency: %d %v", code, err)
	}
	if _, code, err := rctl("limits", "put", "hipay"); code != 2 || !strings.Contains(err.Error(), "--currency is required") {
		t.Errorf("limits without a currency: %d %v", code, err)
	}
	if out := must("limits"); !strings.Contains(out, "PER PAYMENT") || !strings.Contains(out, "200000.00") {
		t.Errorf("limits: %q", out)
	}

	// The model: the committed one until one is put; a file that does not
	// load is refused and the model in force stays.
	committed, err := model.Default()
	if err != nil {
		t.Fatal(err)
	}
	if out := must("model"); !strings.Contains(out, committed.ID()) || !strings.Contains(out, "committed with the code") ||
		!strings.Contains(out, "MODEL") {
		t.Errorf("model, none put: %q", out)
	}
	body, err := os.ReadFile(modelV1)
	if err != nil {
		t.Fatal(err)
	}
	truncated := writeFile(t, "truncated.json", string(body[:len(body)/3]))
	if _, code, err := rctl("model", "put", truncated); code != 1 || status.Code(err) != codes.InvalidArgument ||
		rpcerr.ReasonOf(err) != rpcerr.RiskModelInvalid || !strings.Contains(err.Error(), "not XGBoost JSON") {
		t.Errorf("model put of a truncated file: %d %v", code, err)
	}
	if out := must("model", "-o", "json"); !strings.Contains(out, committed.ID()) {
		t.Errorf("model after a refusal: %q", out)
	}
	other := writeFile(t, "model-v2.json", string(body)+"\n")
	otherModel, err := model.LoadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if out := must("model", "put", other, "--note", "retrained"); !strings.Contains(out, "model "+otherModel.ID()+" in force") ||
		!strings.Contains(out, "retrained") || !strings.Contains(out, "operator:cli") || !strings.Contains(out, strconv.Itoa(len(body)+1)) {
		t.Errorf("model put: %q", out)
	}
	var mi struct{ ModelId, XgboostVersion, SizeBytes, Note, Actor string }
	if out := must("model", "-o", "json"); json.Unmarshal([]byte(out), &mi) != nil || mi.ModelId != otherModel.ID() ||
		mi.SizeBytes != strconv.Itoa(len(body)+1) || mi.Note != "retrained" || mi.Actor != "operator:cli" || mi.XgboostVersion != otherModel.Version() {
		t.Errorf("model -o json: %+v\n%s", mi, out)
	}
	if _, code, err := rctl("model", "put"); code != 2 || !strings.Contains(err.Error(), "usage: unigatectl risk model put FILE") {
		t.Errorf("model put without a file: %d %v", code, err)
	}
	if _, code, err := rctl("model", "put", filepath.Join(t.TempDir(), "missing.json")); code != 1 || err == nil {
		t.Errorf("model put of a missing file: %d %v", code, err)
	}

	// Decisions, as the risk service stores them.
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for i, d := range []struct{ id, user, outcome, rule, reasons string }{
		{"pay-1", "u1", "APPROVE", "", "[]"},
		{"pay-2", "u1", "REVIEW", "", `[{"rule_id":"night.mcc","action":"review","shadow":false,"detail":"casino at night"},{"rule_id":"model","action":"","shadow":false,"detail":"speed_kmh +2.31"}]`},
		{"pay-3", "u2", "DECLINE", "block.user", "[]"},
	} {
		sqlstoretest.MustExec(t, db, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency, minor_units,
			approved, reason, rule_id, message, released, create_time, outcome, score_bp, reasons, device_ref, merchant, mode,
			rules_version, model_version) VALUES ($1, 'hipay', $2, '2026-12-03', 'CNY', 2500, $3, '', $4, '', FALSE, $5, $6, 1234, $7,
			'd1', 'cnsim/M1', 'MPM', 7, 'gbt-1')`, d.id, d.user, d.outcome != "DECLINE", d.rule, t0.Add(time.Duration(i)*time.Second), d.outcome, d.reasons)
	}
	out := must("decisions")
	if i1, i2, i3 := strings.Index(out, "pay-1"), strings.Index(out, "pay-2"), strings.Index(out, "pay-3"); i1 < 0 || i3 < 0 || !(i3 < i2 && i2 < i1) ||
		!strings.Contains(out, "25.00 CNY") || !strings.Contains(out, "12.34%") || !strings.Contains(out, "night.mcc,model") {
		t.Errorf("decisions, newest first: %q", out)
	}
	if out := must("decisions", "--decision", "decline"); !strings.Contains(out, "pay-3") || strings.Contains(out, "pay-1") {
		t.Errorf("decisions --decision decline: %q", out)
	}
	var ds struct {
		Decisions []struct{ PaymentId, Decision string }
	}
	if out := must("decisions", "--user", "u1", "--limit", "1", "-o", "json"); json.Unmarshal([]byte(out), &ds) != nil || len(ds.Decisions) != 1 ||
		ds.Decisions[0].PaymentId != "pay-2" || ds.Decisions[0].Decision != "DECISION_REVIEW" {
		t.Errorf("decisions --user u1 --limit 1 -o json: %+v\n%s", ds, out)
	}
	if out := must("decisions", "--before", t0.Add(time.Second).Format(time.RFC3339)); !strings.Contains(out, "pay-1") || strings.Contains(out, "pay-2") {
		t.Errorf("decisions --before: %q", out)
	}
	if out := must("decisions", "get", "pay-2"); !strings.Contains(out, "decision:") || !strings.Contains(out, "review") ||
		!strings.Contains(out, "speed_kmh +2.31") || !strings.Contains(out, "gbt-1") || !strings.Contains(out, "MPM") {
		t.Errorf("decisions get: %q", out)
	}
	if _, code, err := rctl("decisions", "get", "nope"); code != 1 || status.Code(err) != codes.NotFound {
		t.Errorf("decisions get of an unknown payment: %d %v", code, err)
	}
	if _, code, err := rctl("decisions", "--decision", "maybe"); code != 1 || !strings.Contains(err.Error(), "want approve, review or decline") {
		t.Errorf("decisions --decision maybe: %d %v", code, err)
	}

	// Cases.
	cases := risk.NewCases(db, nil)
	c, err := cases.Open(ctx, risk.Case{PaymentID: "pay-2", PartnerID: "hipay", UserRef: "u1", DeviceRef: "d1", Merchant: "cnsim/M1",
		Reasons: []string{"night.mcc"}, ScoreBP: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if out := must("cases", "--state", "open"); !strings.Contains(out, c.ID) || !strings.Contains(out, "OPEN") || !strings.Contains(out, "night.mcc") {
		t.Errorf("cases --state open: %q", out)
	}
	if out := must("cases", "assign", c.ID, "analyst:mei"); !strings.Contains(out, "ASSIGNED") || !strings.Contains(out, "operator:cli  assign") {
		t.Errorf("cases assign: %q", out)
	}
	if _, code, err := rctl("cases", "resolve", c.ID, "--label", "fraud"); code != 1 || !strings.Contains(err.Error(), "note") {
		t.Errorf("cases resolve without a note: %d %v", code, err)
	}
	out = must("cases", "resolve", c.ID, "--label", "fraud", "--block", "--note", "card testing")
	if !strings.Contains(out, "RESOLVED") || !strings.Contains(out, "resolution: FRAUD: card testing") ||
		!strings.Contains(out, "blocked: user hipay/u1, device hipay/d1") {
		t.Errorf("cases resolve --block: %q", out)
	}
	// The resolved case's payment is a training row, with the features it
	// was scored with.
	sqlstoretest.MustExec(t, db, `UPDATE risk_decisions SET features = '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16.5' WHERE payment_id = 'pay-2'`)
	if out := must("labels"); !strings.HasPrefix(out, "label,log_amount_usd,hour,") || !strings.Contains(out, "\n1,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16.5\n") {
		t.Errorf("labels: %q", out)
	}
	if out := must("lists", "--list", "block"); !strings.Contains(out, "hipay/u1") || !strings.Contains(out, "hipay/d1") || !strings.Contains(out, c.ID) {
		t.Errorf("the block list after the fraud: %q", out)
	}
	var got struct {
		State  string
		Events []struct{ Seq, Actor, Action string }
	}
	if out := must("cases", "get", c.ID, "-o", "json"); json.Unmarshal([]byte(out), &got) != nil || got.State != "RESOLVED" || len(got.Events) != 3 ||
		got.Events[2].Action != "resolve" || got.Events[2].Seq != "3" {
		t.Errorf("cases get -o json: %+v\n%s", got, out)
	}
	if _, code, err := rctl("cases", "get", "nope"); code != 1 || status.Code(err) != codes.NotFound {
		t.Errorf("cases get of an unknown case: %d %v", code, err)
	}

	// Usage.
	if _, code, err := rctl("frobnicate"); code != 2 || err == nil {
		t.Errorf("risk frobnicate: %d %v", code, err)
	}
	if _, code, err := rctl("rules", "delete"); code != 2 || !strings.Contains(err.Error(), `unknown command "delete"`) ||
		!strings.Contains(err.Error(), "want check, get, put") {
		t.Errorf("risk rules delete: %d %v", code, err)
	}
	if _, code, err := rctl("lists", "-o", "xml"); code != 2 || !strings.Contains(err.Error(), "want table, json, yaml") {
		t.Errorf("risk lists -o xml: %d %v", code, err)
	}
	if _, code, err := rctl("lists", "frob"); code != 2 || !strings.Contains(err.Error(), `unknown command "frob"`) {
		t.Errorf("risk lists frob: %d %v", code, err)
	}
	if out := must("lists", "-o", "yaml"); !strings.Contains(out, "entries:") || !strings.Contains(out, "value: zalopay") {
		t.Errorf("risk lists -o yaml: %q", out)
	}
	if out := must("rules", "--help"); !strings.Contains(out, "Usage:") || !strings.Contains(out, "check") {
		t.Errorf("risk rules --help: %q", out)
	}
	// rules is risk rules under its own name.
	if out, code, err := ctl(t, "--risk", addr, "rules", "get"); code != 0 || err != nil || !strings.Contains(out, "rule set 8 in force") {
		t.Errorf("rules get: %d %v %q", code, err, out)
	}
}

// TestRiskOperatorCommands runs `unigatectl risk` against a whole switch
// with mutual TLS: viewers read, operators change; a payment's decision
// reads back; a fraud resolved with --block is on the block list and the
// user's next payment is declined once the replica has re-read the policy.
func TestRiskOperatorCommands(t *testing.T) {
	ctx := context.Background()
	st, err := app.StartStack(ctx, app.StackConfig{DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	ctlAs := func(operator string, args ...string) (string, error) {
		var out bytes.Buffer
		g := []string{"--pki", st.PKI.Dir, "--operator", operator, "--risk", st.Addrs["risk"]}
		_, err := run(ctx, append(append(g, "risk"), args...), &out)
		return out.String(), err
	}

	// Rules: the demo's set is in force; a viewer may not replace it, an
	// operator may.
	if out, err := ctlAs("viewer", "rules", "get"); err != nil || !strings.Contains(out, "probe.user") {
		t.Fatalf("rules get: %v\n%s", err, out)
	}
	cur, err := ctlAs("viewer", "rules", "get", "-o", "json")
	var rs struct{ Version string }
	if err != nil || json.Unmarshal([]byte(cur), &rs) != nil {
		t.Fatalf("rules get -o json: %v\n%s", err, cur)
	}
	v, _ := strconv.ParseInt(rs.Version, 10, 64)
	file := writeFile(t, "rules.json", fmt.Sprintf(`{"version": %d, "rules": [
		{"id": "burst.user", "expr": "user_count_1m > 10", "action": "decline", "mode": "enforce"},
		{"id": "big.night", "expr": "hour < 5 && amount > 1000000", "action": "review", "mode": "shadow"}]}`, v+1))
	if _, err := ctlAs("viewer", "rules", "put", file); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a viewer puts rules: %v", err)
	}
	if out, err := ctlAs("operator", "rules", "put", file); err != nil || !strings.Contains(out, "put by operator:operator") ||
		!strings.Contains(out, "big.night") {
		t.Fatalf("an operator puts rules: %v\n%s", err, out)
	}

	// Lists and limits: the same split.
	if _, err := ctlAs("viewer", "lists", "put", "block", "mcc", "5993"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a viewer changes a list: %v", err)
	}
	if _, err := ctlAs("operator", "lists", "put", "block", "mcc", "5993", "--note", "tobacco"); err != nil {
		t.Fatal(err)
	}
	if out, err := ctlAs("viewer", "lists", "--kind", "mcc"); err != nil || !strings.Contains(out, "tobacco") || !strings.Contains(out, "7995") {
		t.Fatalf("lists --kind mcc: %v\n%s", err, out)
	}
	if _, err := ctlAs("viewer", "limits", "put", "zalopay", "--currency", "CNY", "--per-payment", "100"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a viewer changes limits: %v", err)
	}
	if out, err := ctlAs("operator", "limits", "put", "zalopay", "--currency", "CNY", "--per-payment", "9000000", "--partner-monthly", "70000000"); err != nil ||
		!strings.Contains(out, "90000.00") || !strings.Contains(out, "700000.00") {
		t.Fatalf("limits put: %v\n%s", err, out)
	}

	// The model: a viewer may not put one, an operator may; it reads back.
	m, err := model.LoadFile(modelV1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctlAs("viewer", "model", "put", modelV1); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a viewer puts a model: %v", err)
	}
	if out, err := ctlAs("operator", "model", "put", modelV1, "--note", "model-v1 again"); err != nil || !strings.Contains(out, m.ID()) ||
		!strings.Contains(out, "operator:operator") {
		t.Fatalf("an operator puts a model: %v\n%s", err, out)
	}
	var mi struct{ ModelId, Note, Actor string }
	if out, err := ctlAs("viewer", "model", "-o", "json"); err != nil || json.Unmarshal([]byte(out), &mi) != nil || mi.ModelId != m.ID() ||
		mi.Note != "model-v1 again" || mi.Actor != "operator:operator" {
		t.Fatalf("model -o json: %v %+v\n%s", err, mi, out)
	}

	// A payment, and its decision.
	sim, err := st.Dial("merchantsim", authn.Operator, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ms, err := simulatorv1.NewMerchantSimulatorServiceClient(sim).ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := ms.GetMerchants()[0].GetStaticCode()
	pconn, err := st.Dial("acquirer", authn.Partner, "hipay")
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close()
	const user = "u-risk-ctl"
	pay := func(key string) *partnerv1.Payment {
		t.Helper()
		_, _, p, err := walletsim.New("hipay", pconn).ScanAndPay(ctx, code, &commonv1.Money{Currency: "CNY", MinorUnits: 2500}, key, user)
		if err != nil {
			t.Fatalf("pay %s: %v", key, err)
		}
		return p
	}
	paid := pay("risk-ctl-1")
	if paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("the first payment: %v", paid)
	}
	if out, err := ctlAs("viewer", "decisions", "--partner", "hipay", "--user", user); err != nil || !strings.Contains(out, paid.GetPaymentId()) ||
		!strings.Contains(out, "approve") {
		t.Fatalf("decisions --user: %v\n%s", err, out)
	}
	var d struct{ PaymentId, Decision, UserRef string }
	if out, err := ctlAs("viewer", "decisions", "get", paid.GetPaymentId(), "-o", "json"); err != nil || json.Unmarshal([]byte(out), &d) != nil ||
		d.Decision != "DECISION_APPROVE" || d.UserRef != user {
		t.Fatalf("decisions get: %v %+v\n%s", err, d, out)
	}

	// A case on that payment (as an alert after the fact would open it):
	// an operator resolves it as fraud with --block.
	db, err := sqlstore.Open(ctx, st.DSN("risk"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := risk.NewCases(db, nil).Open(ctx, risk.Case{PaymentID: paid.GetPaymentId(), PartnerID: "hipay", UserRef: user,
		DeviceRef: walletsim.DeviceRef(user), Reasons: []string{"chargeback"}, ScoreBP: 9000})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := ctlAs("viewer", "cases", "--state", "OPEN"); err != nil || !strings.Contains(out, c.ID) {
		t.Fatalf("cases: %v\n%s", err, out)
	}
	if _, err := ctlAs("viewer", "cases", "assign", c.ID, "analyst:mei"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a viewer assigns a case: %v", err)
	}
	if _, err := ctlAs("operator", "cases", "assign", c.ID, "analyst:mei"); err != nil {
		t.Fatal(err)
	}
	if out, err := ctlAs("operator", "cases", "resolve", c.ID, "--label", "FRAUD", "--note", "stolen phone", "--block"); err != nil ||
		!strings.Contains(out, "blocked: user hipay/"+user) {
		t.Fatalf("cases resolve --block: %v\n%s", err, out)
	}
	if out, err := ctlAs("viewer", "lists", "--list", "block", "--kind", "user"); err != nil || !strings.Contains(out, "hipay/"+user) ||
		!strings.Contains(out, c.ID) || !strings.Contains(out, "operator:operator") {
		t.Fatalf("the block list: %v\n%s", err, out)
	}
	if out, err := ctlAs("viewer", "cases", "get", c.ID); err != nil || !strings.Contains(out, "operator:operator  resolve") {
		t.Fatalf("cases get: %v\n%s", err, out)
	}
	// The replica re-reads the policy within its poll (a second): the
	// user's next payment is declined as blocked.
	for i := 2; ; i++ {
		p := pay(fmt.Sprintf("risk-ctl-%d", i))
		if p.GetResult() == commonv1.Result_RESULT_FAILURE && p.GetFailureReason() == string(rpcerr.RiskBlocked) {
			break
		}
		if i == 25 {
			t.Fatalf("the blocked user's payment still goes through: %v", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
