package risk

import (
	"context"

	"google.golang.org/grpc"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
)

// AdminClient is a RiskAdminService client whose methods return what each
// response carries (the rule set, the entry, the case…) rather than the
// response that wraps it: for unigatectl and tests.
type AdminClient struct{ C riskv1.RiskAdminServiceClient }

func (a AdminClient) GetRules(ctx context.Context, req *riskv1.GetRulesRequest, opts ...grpc.CallOption) (*riskv1.RuleSet, error) {
	r, err := a.C.GetRules(ctx, req, opts...)
	return r.GetRuleSet(), err
}

func (a AdminClient) PutRules(ctx context.Context, req *riskv1.PutRulesRequest, opts ...grpc.CallOption) (*riskv1.RuleSet, error) {
	r, err := a.C.PutRules(ctx, req, opts...)
	return r.GetRuleSet(), err
}

func (a AdminClient) PutListEntry(ctx context.Context, req *riskv1.PutListEntryRequest, opts ...grpc.CallOption) (*riskv1.ListEntry, error) {
	r, err := a.C.PutListEntry(ctx, req, opts...)
	return r.GetEntry(), err
}

func (a AdminClient) DeleteListEntry(ctx context.Context, req *riskv1.DeleteListEntryRequest, opts ...grpc.CallOption) (*riskv1.DeleteListEntryResponse, error) {
	return a.C.DeleteListEntry(ctx, req, opts...)
}

func (a AdminClient) ListListEntries(ctx context.Context, req *riskv1.ListListEntriesRequest, opts ...grpc.CallOption) (*riskv1.ListListEntriesResponse, error) {
	return a.C.ListListEntries(ctx, req, opts...)
}

func (a AdminClient) PutLimits(ctx context.Context, req *riskv1.PutLimitsRequest, opts ...grpc.CallOption) (*riskv1.Limits, error) {
	r, err := a.C.PutLimits(ctx, req, opts...)
	return r.GetLimits(), err
}

func (a AdminClient) ListLimits(ctx context.Context, req *riskv1.ListLimitsRequest, opts ...grpc.CallOption) (*riskv1.ListLimitsResponse, error) {
	return a.C.ListLimits(ctx, req, opts...)
}

func (a AdminClient) GetDecision(ctx context.Context, req *riskv1.GetDecisionRequest, opts ...grpc.CallOption) (*riskv1.DecisionRecord, error) {
	r, err := a.C.GetDecision(ctx, req, opts...)
	return r.GetDecision(), err
}

func (a AdminClient) ListDecisions(ctx context.Context, req *riskv1.ListDecisionsRequest, opts ...grpc.CallOption) (*riskv1.ListDecisionsResponse, error) {
	return a.C.ListDecisions(ctx, req, opts...)
}

func (a AdminClient) ListCases(ctx context.Context, req *riskv1.ListCasesRequest, opts ...grpc.CallOption) (*riskv1.ListCasesResponse, error) {
	return a.C.ListCases(ctx, req, opts...)
}

func (a AdminClient) GetCase(ctx context.Context, req *riskv1.GetCaseRequest, opts ...grpc.CallOption) (*riskv1.Case, error) {
	r, err := a.C.GetCase(ctx, req, opts...)
	return r.GetReviewCase(), err
}

func (a AdminClient) AssignCase(ctx context.Context, req *riskv1.AssignCaseRequest, opts ...grpc.CallOption) (*riskv1.Case, error) {
	r, err := a.C.AssignCase(ctx, req, opts...)
	return r.GetReviewCase(), err
}

func (a AdminClient) ResolveCase(ctx context.Context, req *riskv1.ResolveCaseRequest, opts ...grpc.CallOption) (*riskv1.Case, error) {
	r, err := a.C.ResolveCase(ctx, req, opts...)
	return r.GetReviewCase(), err
}

func (a AdminClient) PutModel(ctx context.Context, req *riskv1.PutModelRequest, opts ...grpc.CallOption) (*riskv1.ModelInfo, error) {
	r, err := a.C.PutModel(ctx, req, opts...)
	return r.GetModel(), err
}

func (a AdminClient) GetModel(ctx context.Context, req *riskv1.GetModelRequest, opts ...grpc.CallOption) (*riskv1.ModelInfo, error) {
	r, err := a.C.GetModel(ctx, req, opts...)
	return r.GetModel(), err
}

func (a AdminClient) ExportLabels(ctx context.Context, req *riskv1.ExportLabelsRequest, opts ...grpc.CallOption) (*riskv1.ExportLabelsResponse, error) {
	return a.C.ExportLabels(ctx, req, opts...)
}
