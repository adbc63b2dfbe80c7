package risk

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk/model"
)

// adminClient serves an AdminServer on a loopback gRPC server, as the
// risk service does: errors mapped by rpcerr, and the caller known (here
// always operator:lead, as the authn interceptor would say).
func adminClient(t *testing.T, srv *AdminServer) AdminClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx = authn.WithIdentity(ctx, authn.Identity{Kind: authn.Operator, ID: "lead", Role: authn.OperatorRole})
			resp, err := h(ctx, req)
			if err != nil {
				return nil, rpcerr.ToStatus(err).Err()
			}
			return resp, nil
		}))
	riskv1.RegisterRiskAdminServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return AdminClient{C: riskv1.NewRiskAdminServiceClient(conn)}
}

// wantField checks err is INVALID_ARGUMENT-coded with reason r on field.
func wantField(t *testing.T, what string, err error, r rpcerr.Reason, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || rpcerr.ReasonOf(err) != r || fieldOf(err) != field {
		t.Errorf("%s: got %v, want %s on %s", what, err, r, field)
	}
}

// TestAdminPolicy: rules, lists and limits through the API on a real
// gRPC connection: a bad rule set is refused with each problem named and
// the set in force stays; versions only go up; list entries and limits
// are validated field by field; the caller is the actor.
func TestAdminPolicy(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		ps := NewPolicyStore(db, clock)
		c := adminClient(t, NewAdminServer(db, ps, NewCases(db, clock)))

		if rs, err := c.GetRules(ctx, &riskv1.GetRulesRequest{}); err != nil || rs.GetVersion() != 0 || len(rs.GetRules()) != 0 {
			t.Fatalf("no rules yet: %v %v", rs, err)
		}
		good := &riskv1.RuleSet{Version: 7, Rules: []*riskv1.Rule{
			{Id: "burst.user", Expr: "user_count_1m >= 5 && amount < 1000", Action: "decline", Mode: "enforce", Description: "probing"},
			{Id: "night.mcc", Expr: "hour < 5 && mcc == '7995'", Action: "review", Mode: "shadow"},
		}}
		rs, err := c.PutRules(ctx, &riskv1.PutRulesRequest{RuleSet: good})
		if err != nil || rs.GetVersion() != 7 || rs.GetActor() != "operator:lead" || !rs.GetUpdateTime().AsTime().Equal(now) {
			t.Fatalf("put rules: %v %v", rs, err)
		}
		_, err = c.PutRules(ctx, &riskv1.PutRulesRequest{RuleSet: &riskv1.RuleSet{Version: 8, Rules: []*riskv1.Rule{
			{Id: "fine", Expr: "amount > 1", Action: "decline", Mode: "enforce"},
			{Id: "typo", Expr: "amout > 1", Action: "decline", Mode: "enforce"},
			{Id: "shape", Expr: "amount + 1", Action: "deny", Mode: "enforce"},
		}}})
		vs := fieldViolations(err)
		if status.Code(err) != codes.InvalidArgument || rpcerr.ReasonOf(err) != rpcerr.RiskRulesInvalid || len(vs) != 3 ||
			!strings.Contains(vs["rule_set.rules[1].expr"], "undeclared reference to 'amout'") ||
			!strings.Contains(vs["rule_set.rules[2].expr"], "not a boolean") || !strings.Contains(vs["rule_set.rules[2].action"], `"deny"`) {
			t.Fatalf("a bad set: %v\n%v", err, vs)
		}
		if rs, err := c.GetRules(ctx, &riskv1.GetRulesRequest{}); err != nil || rs.GetVersion() != 7 || len(rs.GetRules()) != 2 ||
			rs.GetRules()[0].GetDescription() != "probing" || rs.GetRules()[1].GetMode() != "shadow" {
			t.Fatalf("the set in force after the refusal: %v %v", rs, err)
		}
		_, err = c.PutRules(ctx, &riskv1.PutRulesRequest{RuleSet: good})
		if rpcerr.ReasonOf(err) != rpcerr.RiskRulesInvalid || !strings.Contains(fieldViolations(err)["rule_set.version"], "not above 7") {
			t.Fatalf("the same version again: %v", err)
		}
		wantField(t, "no rule set", func() error { _, err := c.PutRules(ctx, &riskv1.PutRulesRequest{}); return err }(),
			rpcerr.InvalidArgument, "rule_set")
		good.Version = 9
		if rs, err := c.PutRules(ctx, &riskv1.PutRulesRequest{RuleSet: good}); err != nil || rs.GetVersion() != 9 {
			t.Fatalf("a newer set: %v %v", rs, err)
		}

		// Lists.
		e, err := c.PutListEntry(ctx, &riskv1.PutListEntryRequest{Entry: &riskv1.ListEntry{List: "block", Kind: "merchant", Value: "cnsim/M10001", Note: "fraud ring"}})
		if err != nil || e.GetActor() != "operator:lead" || e.GetValue() != "cnsim/M10001" || !e.GetUpdateTime().AsTime().Equal(now) {
			t.Fatalf("put list entry: %v %v", e, err)
		}
		if _, err := c.PutListEntry(ctx, &riskv1.PutListEntryRequest{Entry: &riskv1.ListEntry{List: "suspend", Kind: "partner", Value: "zalopay"}}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			e     *riskv1.ListEntry
			field string
		}{
			{nil, "entry"},
			{&riskv1.ListEntry{List: "grey", Kind: "user", Value: "hipay/u1"}, "entry.list"},
			{&riskv1.ListEntry{List: "block", Kind: "ip", Value: "10.0.0.1"}, "entry.kind"},
			{&riskv1.ListEntry{List: "suspend", Kind: "device", Value: "hipay/d1"}, "entry.kind"},
			{&riskv1.ListEntry{List: "block", Kind: "mcc", Value: "799"}, "entry.value"},
			{&riskv1.ListEntry{List: "allow", Kind: "user", Value: "u1"}, "entry.value"},
		} {
			_, err := c.PutListEntry(ctx, &riskv1.PutListEntryRequest{Entry: tc.e})
			wantField(t, "put "+tc.e.String(), err, rpcerr.InvalidArgument, tc.field)
		}
		ls, err := c.ListListEntries(ctx, &riskv1.ListListEntriesRequest{List: "block"})
		if err != nil || len(ls.GetEntries()) != 1 || ls.GetEntries()[0].GetNote() != "fraud ring" {
			t.Fatalf("the block list: %v %v", ls, err)
		}
		if _, err := c.DeleteListEntry(ctx, &riskv1.DeleteListEntryRequest{List: "block", Kind: "merchant", Value: "cnsim/M10001"}); err != nil {
			t.Fatal(err)
		}
		_, err = c.DeleteListEntry(ctx, &riskv1.DeleteListEntryRequest{List: "block", Kind: "merchant"})
		wantField(t, "delete without a value", err, rpcerr.InvalidArgument, "value")
		if ls, err := c.ListListEntries(ctx, &riskv1.ListListEntriesRequest{}); err != nil || len(ls.GetEntries()) != 1 ||
			ls.GetEntries()[0].GetList() != "suspend" {
			t.Fatalf("entries after the delete: %v %v", ls, err)
		}
		_, err = c.ListListEntries(ctx, &riskv1.ListListEntriesRequest{Kind: "ip"})
		wantField(t, "list an unknown kind", err, rpcerr.InvalidArgument, "kind")

		// Limits.
		l, err := c.PutLimits(ctx, &riskv1.PutLimitsRequest{Limits: &riskv1.Limits{PartnerId: "*", Currency: "CNY", PerPayment: 5_000_000, UserDaily: 2_000_000,
			MerchantMonthly: 80_000_000, PartnerMonthly: 800_000_000}})
		if err != nil || l.GetActor() != "operator:lead" || l.GetPerPayment() != 5_000_000 || l.GetMerchantMonthly() != 80_000_000 ||
			l.GetPartnerMonthly() != 800_000_000 {
			t.Fatalf("put limits: %v %v", l, err)
		}
		_, err = c.PutLimits(ctx, &riskv1.PutLimitsRequest{Limits: &riskv1.Limits{PartnerId: "hipay", Currency: "ABC"}})
		wantField(t, "limits in no currency", err, rpcerr.UnsupportedCurrency, "limits.currency")
		_, err = c.PutLimits(ctx, &riskv1.PutLimitsRequest{Limits: &riskv1.Limits{PartnerId: "hipay", Currency: "MNT", MerchantDaily: -1}})
		wantField(t, "a negative limit", err, rpcerr.InvalidAmount, "limits.merchant_daily")
		_, err = c.PutLimits(ctx, &riskv1.PutLimitsRequest{Limits: &riskv1.Limits{PartnerId: "hipay", Currency: "MNT", PartnerMonthly: -1}})
		wantField(t, "a negative monthly limit", err, rpcerr.InvalidAmount, "limits.partner_monthly")
		_, err = c.PutLimits(ctx, &riskv1.PutLimitsRequest{})
		wantField(t, "no limits", err, rpcerr.InvalidArgument, "limits")
		if all, err := c.ListLimits(ctx, &riskv1.ListLimitsRequest{}); err != nil || len(all.GetLimits()) != 1 || all.GetLimits()[0].GetUserDaily() != 2_000_000 ||
			all.GetLimits()[0].GetMerchantMonthly() != 80_000_000 || all.GetLimits()[0].GetPartnerMonthly() != 800_000_000 {
			t.Fatalf("limits: %v %v", all, err)
		}
		// Two rule sets, two entries, one delete, one limit: six versions.
		if v, err := ps.Version(ctx); err != nil || v != 6 {
			t.Fatalf("policy version: %d %v, want 6", v, err)
		}
	})
}

// TestAdminModel: the model through the API on a real gRPC connection:
// the committed one described until a model is put; a file that does not
// load refused with RISK_MODEL_INVALID and nothing stored; a good one
// stored whole, described, named by the policy, the caller its actor.
func TestAdminModel(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		ps := NewPolicyStore(db, clock)
		c := adminClient(t, NewAdminServer(db, ps, NewCases(db, clock)))

		committed, err := model.Default()
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.GetModel(ctx, &riskv1.GetModelRequest{})
		if err != nil || m.GetModelId() != committed.ID() || m.GetNote() != "committed with the code" || int(m.GetTrees()) != committed.Trees() ||
			m.GetXgboostVersion() != committed.Version() || m.GetActor() != "" || m.GetUpdateTime() != nil {
			t.Fatalf("the committed model: %v %v", m, err)
		}

		good := modelFile(t)
		_, err = c.PutModel(ctx, &riskv1.PutModelRequest{Model: good[:len(good)-100], Note: "cut short"})
		wantField(t, "a truncated model", err, rpcerr.RiskModelInvalid, "model")
		if err == nil || !strings.Contains(err.Error(), "not XGBoost JSON") {
			t.Errorf("a truncated model's error does not carry the loader's: %v", err)
		}
		_, err = c.PutModel(ctx, &riskv1.PutModelRequest{})
		wantField(t, "no model", err, rpcerr.RiskModelInvalid, "model")
		if v, err := ps.Version(ctx); err != nil || v != 0 {
			t.Fatalf("refused models moved the version: %d %v", v, err)
		}
		if m, err := c.GetModel(ctx, &riskv1.GetModelRequest{}); err != nil || m.GetModelId() != committed.ID() {
			t.Fatalf("the model after refusals: %v %v", m, err)
		}

		// The same bytes as the committed model: the same id.
		now = now.Add(time.Minute)
		put, err := c.PutModel(ctx, &riskv1.PutModelRequest{Model: good, Note: "model-v1"})
		if err != nil || put.GetModelId() != committed.ID() || put.GetNote() != "model-v1" || put.GetActor() != "operator:lead" ||
			put.GetSizeBytes() != int64(len(good)) || int(put.GetTrees()) != committed.Trees() || !put.GetUpdateTime().AsTime().Equal(now) {
			t.Fatalf("put the model: %v %v", put, err)
		}
		if got, err := c.GetModel(ctx, &riskv1.GetModelRequest{}); err != nil || !proto.Equal(got, put) {
			t.Fatalf("get the model: %v %v, want %v", got, err, put)
		}
		if p, err := ps.Load(ctx); err != nil || p.Version != 1 || p.ModelID != put.GetModelId() {
			t.Fatalf("the policy: version %d, model %q, %v", p.Version, p.ModelID, err)
		}
		if body, err := ps.ModelBytes(ctx, put.GetModelId()); err != nil || !bytes.Equal(body, good) {
			t.Fatalf("the stored bytes: %d bytes, %v", len(body), err)
		}
	})
}

// TestAdminCases: the case queue through the API: list by state, assign,
// get with the history; a confirmed fraud resolved with block shows up on
// the block list and moves the policy version; resolved is final.
func TestAdminCases(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		ps, q := NewPolicyStore(db, clock), NewCases(db, clock)
		c := adminClient(t, NewAdminServer(db, ps, q))
		fraud, err := q.Open(ctx, Case{PaymentID: "p1", PartnerID: "hipay", UserRef: "u1", DeviceRef: "d1", Merchant: "cnsim/M1",
			Reasons: []string{"burst.user"}, ScoreBP: 9100})
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		if _, err := q.Open(ctx, Case{PaymentID: "p2", PartnerID: "hipay", UserRef: "u2", ScoreBP: 10}); err != nil {
			t.Fatal(err)
		}
		open, err := c.ListCases(ctx, &riskv1.ListCasesRequest{State: "OPEN"})
		if err != nil || len(open.GetCases()) != 2 || open.GetCases()[0].GetCaseId() != fraud.ID || open.GetCases()[0].GetScoreBp() != 9100 {
			t.Fatalf("open cases: %v %v", open, err)
		}
		if one, err := c.ListCases(ctx, &riskv1.ListCasesRequest{PageSize: 1}); err != nil || len(one.GetCases()) != 1 {
			t.Fatalf("a page of one: %v %v", one, err)
		}
		_, err = c.ListCases(ctx, &riskv1.ListCasesRequest{State: "CLOSED"})
		wantField(t, "an unknown state", err, rpcerr.InvalidArgument, "state")
		_, err = c.ListCases(ctx, &riskv1.ListCasesRequest{PageSize: -1})
		wantField(t, "a negative page", err, rpcerr.InvalidArgument, "page_size")

		now = now.Add(time.Minute)
		_, err = c.AssignCase(ctx, &riskv1.AssignCaseRequest{CaseId: fraud.ID})
		wantField(t, "assign to no one", err, rpcerr.InvalidArgument, "assignee")
		_, err = c.AssignCase(ctx, &riskv1.AssignCaseRequest{Assignee: "analyst:mei"})
		wantField(t, "assign no case", err, rpcerr.InvalidArgument, "case_id")
		got, err := c.AssignCase(ctx, &riskv1.AssignCaseRequest{CaseId: fraud.ID, Assignee: "analyst:mei"})
		if err != nil || got.GetState() != "ASSIGNED" || got.GetAssignee() != "analyst:mei" || len(got.GetEvents()) != 2 {
			t.Fatalf("assign: %v %v", got, err)
		}
		if mine, err := c.ListCases(ctx, &riskv1.ListCasesRequest{Assignee: "analyst:mei"}); err != nil || len(mine.GetCases()) != 1 {
			t.Fatalf("mei's cases: %v %v", mine, err)
		}
		if _, err := c.GetCase(ctx, &riskv1.GetCaseRequest{CaseId: "nope"}); status.Code(err) != codes.NotFound || rpcerr.ReasonOf(err) != rpcerr.CaseNotFound {
			t.Fatalf("an unknown case: %v", err)
		}
		_, err = c.ResolveCase(ctx, &riskv1.ResolveCaseRequest{CaseId: fraud.ID, Label: "LEGITIMATE", Note: "fine", Block: true})
		wantField(t, "block a legitimate case", err, rpcerr.InvalidArgument, "block")
		_, err = c.ResolveCase(ctx, &riskv1.ResolveCaseRequest{CaseId: fraud.ID, Label: "FRAUD"})
		wantField(t, "resolve without a note", err, rpcerr.InvalidArgument, "note")

		before, err := ps.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		got, err = c.ResolveCase(ctx, &riskv1.ResolveCaseRequest{CaseId: fraud.ID, Label: "FRAUD", Note: "card testing", Block: true})
		if err != nil || got.GetState() != "RESOLVED" || got.GetLabel() != "FRAUD" || got.GetResolution() != "card testing" {
			t.Fatalf("resolve: %v %v", got, err)
		}
		blocks, err := c.ListListEntries(ctx, &riskv1.ListListEntriesRequest{List: "block"})
		var vals []string
		for _, e := range blocks.GetEntries() {
			vals = append(vals, e.GetKind()+" "+e.GetValue()+" by "+e.GetActor())
			if !strings.Contains(e.GetNote(), fraud.ID) {
				t.Errorf("block %s does not name the case: %q", e.GetValue(), e.GetNote())
			}
		}
		if err != nil || strings.Join(vals, ", ") != "device hipay/d1 by operator:lead, user hipay/u1 by operator:lead" {
			t.Fatalf("the block list after the fraud: %v %v", vals, err)
		}
		if after, err := ps.Version(ctx); err != nil || after != before+1 {
			t.Fatalf("policy version %d -> %d (%v): the block must move it once", before, after, err)
		}
		full, err := c.GetCase(ctx, &riskv1.GetCaseRequest{CaseId: fraud.ID})
		var steps []string
		for _, e := range full.GetEvents() {
			steps = append(steps, e.GetActor()+" "+e.GetAction())
		}
		if err != nil || strings.Join(steps, "; ") != "service:risk open; operator:lead assign; operator:lead resolve" ||
			full.GetEvents()[2].GetSeq() != 3 || !full.GetEvents()[2].GetEventTime().AsTime().Equal(now) || full.GetMerchant() != "cnsim/M1" {
			t.Fatalf("the case's history: %v %v", full, err)
		}
		if _, err := c.ResolveCase(ctx, &riskv1.ResolveCaseRequest{CaseId: fraud.ID, Label: "LEGITIMATE", Note: "oops"}); status.Code(err) != codes.FailedPrecondition ||
			rpcerr.ReasonOf(err) != rpcerr.CaseResolved {
			t.Fatalf("resolving twice: %v", err)
		}
	})
}

// TestAdminDecisions: decisions as stored (0001 and 0003 columns) read
// back whole; filters, pages and the before cursor, newest first; a
// decline stored before outcomes were is a decline.
func TestAdminDecisions(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		c := adminClient(t, NewAdminServer(db, NewPolicyStore(db, nil), NewCases(db, nil)))
		t0 := time.Date(2026, 12, 3, 9, 0, 0, 500_000_000, time.UTC)
		insert := func(id, partner, user string, approved bool, outcome, reason, rule string, at time.Time, mode, reasons string) {
			t.Helper()
			sqlstoretest.MustExec(t, db, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency, minor_units,
				approved, reason, rule_id, message, released, create_time, outcome, score_bp, reasons, device_ref, merchant, mode,
				rules_version, model_version) VALUES ($1, $2, $3, '2026-12-03', 'CNY', 12345, $4, $5, $6, 'msg', FALSE, $7, $8, 7400, $9,
				'dev-1', 'cnsim/M1', $10, 7, 'gbt-2026-11')`,
				id, partner, user, approved, reason, rule, at, outcome, reasons, mode)
		}
		insert("p1", "hipay", "u1", true, "APPROVE", "", "", t0, "MPM", "[]")
		insert("p2", "hipay", "u1", true, "REVIEW", "", "", t0.Add(time.Second), "CPM",
			`[{"rule_id":"night.mcc","action":"review","shadow":false,"detail":"casino at night"},{"rule_id":"model","action":"","shadow":false,"detail":"speed_kmh +2.31"},{"rule_id":"new.rule","action":"decline","shadow":true,"detail":"x"}]`)
		insert("p3", "hipay", "u2", false, "DECLINE", "RISK_BLOCKED", "block.user", t0.Add(2*time.Second), "MPM", "[]")
		// A decline from before 0003: the default outcome, approved false.
		sqlstoretest.MustExec(t, db, `INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency, minor_units,
			approved, reason, rule_id, message, released, create_time) VALUES ('p4', 'zalopay', 'u9', '2026-12-03', 'VND', 500000,
			FALSE, 'RISK_LIMIT_EXCEEDED', 'limit.user.daily', 'over', TRUE, $1)`, t0.Add(3*time.Second))

		d, err := c.GetDecision(ctx, &riskv1.GetDecisionRequest{PaymentId: "p2"})
		if err != nil || d.GetDecision() != riskv1.Decision_DECISION_REVIEW || d.GetMode() != riskv1.PaymentMode_PAYMENT_MODE_CPM ||
			d.GetMerchantAmount().GetCurrency() != "CNY" || d.GetMerchantAmount().GetMinorUnits() != 12345 || d.GetScoreBp() != 7400 ||
			d.GetRulesVersion() != 7 || d.GetModelVersion() != "gbt-2026-11" || d.GetDeviceRef() != "dev-1" || d.GetMerchant() != "cnsim/M1" ||
			len(d.GetReasons()) != 3 || d.GetReasons()[1].GetDetail() != "speed_kmh +2.31" || !d.GetReasons()[2].GetShadow() ||
			d.GetReasons()[0].GetAction() != "review" || !d.GetCreateTime().AsTime().Equal(t0.Add(time.Second)) {
			t.Fatalf("p2: %v %v", d, err)
		}
		if d, err := c.GetDecision(ctx, &riskv1.GetDecisionRequest{PaymentId: "p4"}); err != nil || d.GetDecision() != riskv1.Decision_DECISION_DECLINE ||
			d.GetRuleId() != "limit.user.daily" || !d.GetReleased() || d.GetMode() != riskv1.PaymentMode_PAYMENT_MODE_UNSPECIFIED || len(d.GetReasons()) != 0 {
			t.Fatalf("p4: %v %v", d, err)
		}
		if _, err := c.GetDecision(ctx, &riskv1.GetDecisionRequest{PaymentId: "nope"}); status.Code(err) != codes.NotFound ||
			rpcerr.ReasonOf(err) != rpcerr.RiskDecisionNotFound {
			t.Fatalf("an unknown payment: %v", err)
		}
		_, err = c.GetDecision(ctx, &riskv1.GetDecisionRequest{})
		wantField(t, "no payment", err, rpcerr.InvalidArgument, "payment_id")

		ids := func(req *riskv1.ListDecisionsRequest) string {
			t.Helper()
			resp, err := c.ListDecisions(ctx, req)
			if err != nil {
				t.Fatalf("list %v: %v", req, err)
			}
			var out []string
			for _, d := range resp.GetDecisions() {
				out = append(out, d.GetPaymentId())
			}
			return strings.Join(out, ",")
		}
		for _, tc := range []struct {
			req  *riskv1.ListDecisionsRequest
			want string
		}{
			{&riskv1.ListDecisionsRequest{}, "p4,p3,p2,p1"},
			{&riskv1.ListDecisionsRequest{PartnerId: "hipay"}, "p3,p2,p1"},
			{&riskv1.ListDecisionsRequest{PartnerId: "hipay", UserRef: "u1"}, "p2,p1"},
			{&riskv1.ListDecisionsRequest{Decision: riskv1.Decision_DECISION_DECLINE}, "p4,p3"},
			{&riskv1.ListDecisionsRequest{Decision: riskv1.Decision_DECISION_APPROVE}, "p1"},
			{&riskv1.ListDecisionsRequest{Decision: riskv1.Decision_DECISION_REVIEW}, "p2"},
			{&riskv1.ListDecisionsRequest{PageSize: 2}, "p4,p3"},
			{&riskv1.ListDecisionsRequest{PageSize: 2, Before: timestamppb.New(t0.Add(2 * time.Second))}, "p2,p1"},
			{&riskv1.ListDecisionsRequest{Before: timestamppb.New(t0)}, ""},
			{&riskv1.ListDecisionsRequest{PageSize: 5000}, "p4,p3,p2,p1"},
		} {
			if got := ids(tc.req); got != tc.want {
				t.Errorf("list %v: %q, want %q", tc.req, got, tc.want)
			}
		}
		_, err = c.ListDecisions(ctx, &riskv1.ListDecisionsRequest{PageSize: -1})
		wantField(t, "a negative page", err, rpcerr.InvalidArgument, "page_size")
		_, err = c.ListDecisions(ctx, &riskv1.ListDecisionsRequest{Decision: riskv1.Decision(9)})
		wantField(t, "an unknown decision", err, rpcerr.InvalidArgument, "decision")
		_, err = c.ListDecisions(ctx, &riskv1.ListDecisionsRequest{Before: &timestamppb.Timestamp{Nanos: -1}})
		wantField(t, "a bad time", err, rpcerr.InvalidArgument, "before")
	})
}

// TestAdminNilRequests: every RPC takes a nil request (as a Go caller may
// send) without panicking: the required fields are reported missing.
func TestAdminNilRequests(t *testing.T) {
	db := sqlstoretest.Backends()[0].Open(t)
	migrated(t, db)
	s := NewAdminServer(db, NewPolicyStore(db, nil), NewCases(db, nil))
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"PutRules":        func() error { _, err := s.PutRules(ctx, nil); return err },
		"GetRules":        func() error { _, err := s.GetRules(ctx, nil); return err },
		"PutListEntry":    func() error { _, err := s.PutListEntry(ctx, nil); return err },
		"DeleteListEntry": func() error { _, err := s.DeleteListEntry(ctx, nil); return err },
		"ListListEntries": func() error { _, err := s.ListListEntries(ctx, nil); return err },
		"PutLimits":       func() error { _, err := s.PutLimits(ctx, nil); return err },
		"ListLimits":      func() error { _, err := s.ListLimits(ctx, nil); return err },
		"GetDecision":     func() error { _, err := s.GetDecision(ctx, nil); return err },
		"ListDecisions":   func() error { _, err := s.ListDecisions(ctx, nil); return err },
		"ListCases":       func() error { _, err := s.ListCases(ctx, nil); return err },
		"GetCase":         func() error { _, err := s.GetCase(ctx, nil); return err },
		"AssignCase":      func() error { _, err := s.AssignCase(ctx, nil); return err },
		"ResolveCase":     func() error { _, err := s.ResolveCase(ctx, nil); return err },
		"PutModel":        func() error { _, err := s.PutModel(ctx, nil); return err },
		"GetModel":        func() error { _, err := s.GetModel(ctx, nil); return err },
	} {
		err := call()
		switch name {
		case "GetRules", "ListListEntries", "ListLimits", "ListDecisions", "ListCases", "GetModel":
			if err != nil {
				t.Errorf("%s(nil): %v", name, err)
			}
		default:
			if rpcerr.ReasonOf(err).Code() != codes.InvalidArgument || fieldOf(err) == "" {
				t.Errorf("%s(nil): %v, want INVALID_ARGUMENT on a field", name, err)
			}
		}
	}
}
