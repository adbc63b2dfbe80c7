package risk

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
)

// AdminServer is the risk service's operator and analyst API
// (RiskAdminService): rules, lists, limits, the model, decisions and
// cases.
type AdminServer struct {
	riskv1.UnimplementedRiskAdminServiceServer
	db     *sqlstore.DB
	policy *PolicyStore
	cases  *Cases
}

// NewAdminServer returns the admin API over the risk database.
func NewAdminServer(db *sqlstore.DB, policy *PolicyStore, cases *Cases) *AdminServer {
	return &AdminServer{db: db, policy: policy, cases: cases}
}

// Page sizes of the list calls.
const (
	defaultAdminPage = 50
	maxAdminPage     = 1000
)

// adminActor is who is calling, for the audit: the authenticated caller.
func adminActor(ctx context.Context) string {
	if id, ok := authn.FromContext(ctx); ok {
		return id.String()
	}
	return "unauthenticated"
}

// adminPage returns a request's page size: the default for 0, at most the
// maximum.
func adminPage(field string, n int32) (int, error) {
	switch {
	case n < 0:
		return 0, rpcerr.Field(rpcerr.InvalidArgument, field, "%d: must not be negative", n)
	case n == 0:
		return defaultAdminPage, nil
	case n > maxAdminPage:
		return maxAdminPage, nil
	}
	return int(n), nil
}

func adminTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// --- rules ---

func adminRuleSet(rs RuleSet) *riskv1.RuleSet {
	out := &riskv1.RuleSet{Version: rs.Version, Actor: rs.Actor, UpdateTime: adminTime(rs.UpdateTime)}
	for _, r := range rs.Rules {
		out.Rules = append(out.Rules, &riskv1.Rule{Id: r.ID, Expr: r.Expr, Action: r.Action, Mode: r.Mode, Description: r.Description})
	}
	return out
}

// putRules is PutRules, unwrapped.
func (s *AdminServer) putRules(ctx context.Context, req *riskv1.PutRulesRequest) (*riskv1.RuleSet, error) {
	in := req.GetRuleSet()
	if in == nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "rule_set", "is required")
	}
	rs := RuleSet{Version: in.GetVersion(), Rules: make([]rules.Rule, len(in.GetRules()))}
	for i, r := range in.GetRules() {
		rs.Rules[i] = rules.Rule{ID: r.GetId(), Expr: r.GetExpr(), Action: r.GetAction(), Mode: r.GetMode(), Description: r.GetDescription()}
	}
	out, err := s.policy.PutRules(ctx, rs, adminActor(ctx))
	if err != nil {
		return nil, err
	}
	return adminRuleSet(out), nil
}

// getRules is GetRules, unwrapped.
func (s *AdminServer) getRules(ctx context.Context, _ *riskv1.GetRulesRequest) (*riskv1.RuleSet, error) {
	rs, err := s.policy.Rules(ctx)
	if err != nil {
		return nil, err
	}
	return adminRuleSet(rs), nil
}

// --- lists ---

func adminListEntry(e ListEntry) *riskv1.ListEntry {
	return &riskv1.ListEntry{List: e.List, Kind: e.Kind, Value: e.Value, Note: e.Note, Actor: e.Actor, UpdateTime: adminTime(e.UpdateTime)}
}

// putListEntry is PutListEntry, unwrapped.
func (s *AdminServer) putListEntry(ctx context.Context, req *riskv1.PutListEntryRequest) (*riskv1.ListEntry, error) {
	in := req.GetEntry()
	if in == nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "entry", "is required")
	}
	e, err := s.policy.PutListEntry(ctx, ListEntry{List: in.GetList(), Kind: in.GetKind(), Value: in.GetValue(), Note: in.GetNote(),
		Actor: adminActor(ctx)})
	if err != nil {
		return nil, err
	}
	return adminListEntry(e), nil
}

// DeleteListEntry implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) DeleteListEntry(ctx context.Context, req *riskv1.DeleteListEntryRequest) (*riskv1.DeleteListEntryResponse, error) {
	if err := s.policy.DeleteListEntry(ctx, req.GetList(), req.GetKind(), req.GetValue(), adminActor(ctx)); err != nil {
		return nil, err
	}
	return &riskv1.DeleteListEntryResponse{}, nil
}

// ListListEntries implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) ListListEntries(ctx context.Context, req *riskv1.ListListEntriesRequest) (*riskv1.ListListEntriesResponse, error) {
	es, err := s.policy.ListEntries(ctx, req.GetList(), req.GetKind())
	if err != nil {
		return nil, err
	}
	resp := &riskv1.ListListEntriesResponse{}
	for _, e := range es {
		resp.Entries = append(resp.Entries, adminListEntry(e))
	}
	return resp, nil
}

// --- limits ---

func adminLimits(l PartnerLimits) *riskv1.Limits {
	return &riskv1.Limits{PartnerId: l.PartnerID, Currency: l.Currency, PerPayment: l.PerPayment, UserPerPayment: l.UserPerPayment,
		UserDaily: l.UserDaily, UserMonthly: l.UserMonthly, MerchantDaily: l.MerchantDaily, PartnerDaily: l.PartnerDaily,
		MerchantMonthly: l.MerchantMonthly, PartnerMonthly: l.PartnerMonthly, Actor: l.Actor, UpdateTime: adminTime(l.UpdateTime)}
}

// putLimits is PutLimits, unwrapped.
func (s *AdminServer) putLimits(ctx context.Context, req *riskv1.PutLimitsRequest) (*riskv1.Limits, error) {
	in := req.GetLimits()
	if in == nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "limits", "is required")
	}
	l, err := s.policy.PutLimits(ctx, PartnerLimits{PartnerID: in.GetPartnerId(), Currency: in.GetCurrency(),
		PerPayment: in.GetPerPayment(), UserPerPayment: in.GetUserPerPayment(), UserDaily: in.GetUserDaily(),
		UserMonthly: in.GetUserMonthly(), MerchantDaily: in.GetMerchantDaily(), PartnerDaily: in.GetPartnerDaily(),
		MerchantMonthly: in.GetMerchantMonthly(), PartnerMonthly: in.GetPartnerMonthly(), Actor: adminActor(ctx)})
	if err != nil {
		return nil, err
	}
	return adminLimits(l), nil
}

// ListLimits implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) ListLimits(ctx context.Context, _ *riskv1.ListLimitsRequest) (*riskv1.ListLimitsResponse, error) {
	ls, err := s.policy.Limits(ctx)
	if err != nil {
		return nil, err
	}
	resp := &riskv1.ListLimitsResponse{}
	for _, l := range ls {
		resp.Limits = append(resp.Limits, adminLimits(l))
	}
	return resp, nil
}

// --- models ---

// committedModelNote is GetModel's note on the model committed with the
// code, in force until a model is put.
const committedModelNote = "committed with the code"

func adminModel(m StoredModel) *riskv1.ModelInfo {
	return &riskv1.ModelInfo{ModelId: m.ID, XgboostVersion: m.XGBoostVersion, Trees: int32(m.Trees), SizeBytes: m.SizeBytes,
		Note: m.Note, Actor: m.Actor, UpdateTime: adminTime(m.UpdateTime)}
}

// putModel is PutModel, unwrapped.
func (s *AdminServer) putModel(ctx context.Context, req *riskv1.PutModelRequest) (*riskv1.ModelInfo, error) {
	m, err := s.policy.PutModel(ctx, req.GetModel(), req.GetNote(), adminActor(ctx))
	if err != nil {
		return nil, err
	}
	return adminModel(m), nil
}

// getModel is GetModel, unwrapped: the newest stored model, or the
// committed one if none was ever put (no actor or time).
func (s *AdminServer) getModel(ctx context.Context, _ *riskv1.GetModelRequest) (*riskv1.ModelInfo, error) {
	m, found, err := s.policy.ModelInfo(ctx)
	if err != nil {
		return nil, err
	}
	if found {
		return adminModel(m), nil
	}
	d, err := model.Default()
	if err != nil {
		return nil, fmt.Errorf("risk: the committed model: %w", err)
	}
	return adminModel(StoredModel{ID: d.ID(), XGBoostVersion: d.Version(), Trees: d.Trees(), SizeBytes: int64(model.DefaultSize),
		Note: committedModelNote}), nil
}

// --- decisions ---

// The outcomes risk_decisions.outcome holds.
var (
	adminOutcomes = map[string]riskv1.Decision{
		"APPROVE": riskv1.Decision_DECISION_APPROVE, "REVIEW": riskv1.Decision_DECISION_REVIEW, "DECLINE": riskv1.Decision_DECISION_DECLINE,
	}
	adminModes = map[string]riskv1.PaymentMode{"MPM": riskv1.PaymentMode_PAYMENT_MODE_MPM, "CPM": riskv1.PaymentMode_PAYMENT_MODE_CPM}
)

// A decline recorded before outcomes were (0003) has approved false and
// the column's default outcome: it is a decline.
const adminDecisionColumns = `payment_id, partner_id, user_ref, device_ref, merchant, currency, minor_units,
	CASE WHEN outcome = 'APPROVE' AND NOT approved THEN 'DECLINE' ELSE outcome END,
	reason, rule_id, message, score_bp, reasons, rules_version, model_version, released, create_time, mode`

func adminScanDecision(row interface{ Scan(...any) error }) (*riskv1.DecisionRecord, error) {
	var (
		d                      riskv1.DecisionRecord
		currency               string
		minor, score           int64
		outcome, reasons, mode string
		created                time.Time
	)
	if err := row.Scan(&d.PaymentId, &d.PartnerId, &d.UserRef, &d.DeviceRef, &d.Merchant, &currency, &minor, &outcome,
		&d.Reason, &d.RuleId, &d.Message, &score, &reasons, &d.RulesVersion, &d.ModelVersion, &d.Released, &created, &mode); err != nil {
		return nil, err
	}
	d.MerchantAmount = &commonv1.Money{Currency: currency, MinorUnits: minor}
	d.Decision = adminOutcomes[outcome]
	d.ScoreBp = int32(score)
	d.Mode = adminModes[mode]
	d.CreateTime = timestamppb.New(created.UTC())
	var rs []struct {
		RuleID string `json:"rule_id"`
		Action string `json:"action"`
		Shadow bool   `json:"shadow"`
		Detail string `json:"detail"`
	}
	if reasons != "" {
		if err := json.Unmarshal([]byte(reasons), &rs); err != nil {
			return nil, fmt.Errorf("decision %s: reasons: %w", d.PaymentId, err)
		}
	}
	for _, r := range rs {
		d.Reasons = append(d.Reasons, &riskv1.DecisionReason{RuleId: r.RuleID, Action: r.Action, Shadow: r.Shadow, Detail: r.Detail})
	}
	return &d, nil
}

// getDecision is GetDecision, unwrapped.
func (s *AdminServer) getDecision(ctx context.Context, req *riskv1.GetDecisionRequest) (*riskv1.DecisionRecord, error) {
	if req.GetPaymentId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	d, err := adminScanDecision(s.db.QueryRowContext(ctx, `SELECT `+adminDecisionColumns+` FROM risk_decisions WHERE payment_id = $1`, req.GetPaymentId()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rpcerr.New(rpcerr.RiskDecisionNotFound, "risk has no decision for payment %q", req.GetPaymentId())
	}
	if err != nil {
		return nil, fmt.Errorf("risk: get decision: %w", err)
	}
	return d, nil
}

// ListDecisions implements riskv1.RiskAdminServiceServer: newest first.
func (s *AdminServer) ListDecisions(ctx context.Context, req *riskv1.ListDecisionsRequest) (*riskv1.ListDecisionsResponse, error) {
	outcome := ""
	switch req.GetDecision() {
	case riskv1.Decision_DECISION_UNSPECIFIED:
	case riskv1.Decision_DECISION_APPROVE:
		outcome = "APPROVE"
	case riskv1.Decision_DECISION_REVIEW:
		outcome = "REVIEW"
	case riskv1.Decision_DECISION_DECLINE:
		outcome = "DECLINE"
	default:
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "decision", "%d is not a decision", req.GetDecision())
	}
	limit, err := adminPage("page_size", req.GetPageSize())
	if err != nil {
		return nil, err
	}
	var before time.Time
	if b := req.GetBefore(); b != nil {
		if err := b.CheckValid(); err != nil {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, "before", "%v", err)
		}
		before = b.AsTime().UTC()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+adminDecisionColumns+` FROM risk_decisions
		WHERE ($1 = '' OR partner_id = $1) AND ($2 = '' OR user_ref = $2)
		AND ($3 = '' OR (CASE WHEN outcome = 'APPROVE' AND NOT approved THEN 'DECLINE' ELSE outcome END) = $3)
		AND ($4 = FALSE OR create_time < $5)
		ORDER BY create_time DESC, payment_id DESC LIMIT $6`,
		req.GetPartnerId(), req.GetUserRef(), outcome, !before.IsZero(), before, limit)
	if err != nil {
		return nil, fmt.Errorf("risk: list decisions: %w", err)
	}
	defer rows.Close()
	resp := &riskv1.ListDecisionsResponse{}
	for rows.Next() {
		d, err := adminScanDecision(rows)
		if err != nil {
			return nil, fmt.Errorf("risk: list decisions: %w", err)
		}
		resp.Decisions = append(resp.Decisions, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("risk: list decisions: %w", err)
	}
	return resp, nil
}

// --- cases ---

func adminCase(c Case, events []CaseEvent) *riskv1.Case {
	out := &riskv1.Case{CaseId: c.ID, PaymentId: c.PaymentID, PartnerId: c.PartnerID, UserRef: c.UserRef, DeviceRef: c.DeviceRef,
		Merchant: c.Merchant, Reasons: c.Reasons, ScoreBp: int32(c.ScoreBP), State: c.State, Assignee: c.Assignee, Label: c.Label,
		Resolution: c.Resolution, CreateTime: adminTime(c.CreateTime), UpdateTime: adminTime(c.UpdateTime)}
	for _, e := range events {
		out.Events = append(out.Events, &riskv1.CaseEvent{Seq: e.Seq, EventTime: adminTime(e.Time), Actor: e.Actor, Action: e.Action, Detail: e.Detail})
	}
	return out
}

// ListCases implements riskv1.RiskAdminServiceServer: oldest first.
func (s *AdminServer) ListCases(ctx context.Context, req *riskv1.ListCasesRequest) (*riskv1.ListCasesResponse, error) {
	switch req.GetState() {
	case "", CaseOpen, CaseAssigned, CaseResolved:
	default:
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "state", "%q: want OPEN, ASSIGNED, RESOLVED or empty for all", req.GetState())
	}
	limit, err := adminPage("page_size", req.GetPageSize())
	if err != nil {
		return nil, err
	}
	cs, err := s.cases.List(ctx, req.GetState(), req.GetAssignee(), limit)
	if err != nil {
		return nil, err
	}
	resp := &riskv1.ListCasesResponse{}
	for _, c := range cs {
		resp.Cases = append(resp.Cases, adminCase(c, nil))
	}
	return resp, nil
}

// withEvents returns a case with its history.
func (s *AdminServer) withEvents(ctx context.Context, c Case) (*riskv1.Case, error) {
	evs, err := s.cases.Events(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return adminCase(c, evs), nil
}

// getCase is GetCase, unwrapped.
func (s *AdminServer) getCase(ctx context.Context, req *riskv1.GetCaseRequest) (*riskv1.Case, error) {
	if req.GetCaseId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "case_id", "is required")
	}
	c, err := s.cases.Get(ctx, req.GetCaseId())
	if err != nil {
		return nil, err
	}
	return s.withEvents(ctx, c)
}

// assignCase is AssignCase, unwrapped.
func (s *AdminServer) assignCase(ctx context.Context, req *riskv1.AssignCaseRequest) (*riskv1.Case, error) {
	if req.GetCaseId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "case_id", "is required")
	}
	c, err := s.cases.Assign(ctx, req.GetCaseId(), req.GetAssignee(), adminActor(ctx))
	if err != nil {
		return nil, err
	}
	return s.withEvents(ctx, c)
}

// resolveCase is ResolveCase, unwrapped.
func (s *AdminServer) resolveCase(ctx context.Context, req *riskv1.ResolveCaseRequest) (*riskv1.Case, error) {
	if req.GetCaseId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "case_id", "is required")
	}
	c, err := s.cases.Resolve(ctx, req.GetCaseId(), req.GetLabel(), req.GetNote(), adminActor(ctx), req.GetBlock())
	if err != nil {
		return nil, err
	}
	return s.withEvents(ctx, c)
}

// PutRules implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) PutRules(ctx context.Context, req *riskv1.PutRulesRequest) (*riskv1.PutRulesResponse, error) {
	out, err := s.putRules(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.PutRulesResponse{RuleSet: out}, nil
}

// GetRules implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) GetRules(ctx context.Context, req *riskv1.GetRulesRequest) (*riskv1.GetRulesResponse, error) {
	out, err := s.getRules(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.GetRulesResponse{RuleSet: out}, nil
}

// PutListEntry implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) PutListEntry(ctx context.Context, req *riskv1.PutListEntryRequest) (*riskv1.PutListEntryResponse, error) {
	out, err := s.putListEntry(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.PutListEntryResponse{Entry: out}, nil
}

// PutLimits implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) PutLimits(ctx context.Context, req *riskv1.PutLimitsRequest) (*riskv1.PutLimitsResponse, error) {
	out, err := s.putLimits(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.PutLimitsResponse{Limits: out}, nil
}

// GetDecision implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) GetDecision(ctx context.Context, req *riskv1.GetDecisionRequest) (*riskv1.GetDecisionResponse, error) {
	out, err := s.getDecision(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.GetDecisionResponse{Decision: out}, nil
}

// GetCase implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) GetCase(ctx context.Context, req *riskv1.GetCaseRequest) (*riskv1.GetCaseResponse, error) {
	out, err := s.getCase(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.GetCaseResponse{ReviewCase: out}, nil
}

// AssignCase implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) AssignCase(ctx context.Context, req *riskv1.AssignCaseRequest) (*riskv1.AssignCaseResponse, error) {
	out, err := s.assignCase(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.AssignCaseResponse{ReviewCase: out}, nil
}

// ResolveCase implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) ResolveCase(ctx context.Context, req *riskv1.ResolveCaseRequest) (*riskv1.ResolveCaseResponse, error) {
	out, err := s.resolveCase(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.ResolveCaseResponse{ReviewCase: out}, nil
}

// PutModel implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) PutModel(ctx context.Context, req *riskv1.PutModelRequest) (*riskv1.PutModelResponse, error) {
	out, err := s.putModel(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.PutModelResponse{Model: out}, nil
}

// GetModel implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) GetModel(ctx context.Context, req *riskv1.GetModelRequest) (*riskv1.GetModelResponse, error) {
	out, err := s.getModel(ctx, req)
	if err != nil {
		return nil, err
	}
	return &riskv1.GetModelResponse{Model: out}, nil
}

// ExportLabels implements riskv1.RiskAdminServiceServer.
func (s *AdminServer) ExportLabels(ctx context.Context, req *riskv1.ExportLabelsRequest) (*riskv1.ExportLabelsResponse, error) {
	var since time.Time
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, "since", "is not a valid timestamp")
		}
		since = req.GetSince().AsTime()
	}
	ls, err := LabelledPayments(ctx, s.db, since)
	if err != nil {
		return nil, err
	}
	out := &riskv1.ExportLabelsResponse{FeatureNames: model.FeatureNames[:]}
	for _, l := range ls {
		out.Payments = append(out.Payments, &riskv1.LabelledPayment{PaymentId: l.PaymentID, Fraud: l.Fraud, Features: l.Features})
	}
	return out, nil
}
