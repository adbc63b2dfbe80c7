package settlement

import (
	"time"

	"context"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Server is the gRPC face of the ledger.
type Server struct {
	settlementv1.UnimplementedSettlementServiceServer
	svc *Service
}

// NewServer returns a Server over svc.
func NewServer(svc *Service) *Server { return &Server{svc: svc} }

// PostPayment implements settlementv1.SettlementServiceServer.
func (s *Server) PostPayment(ctx context.Context, req *settlementv1.PostPaymentRequest) (*settlementv1.PostPaymentResponse, error) {
	f, err := factsFromProto(req, "")
	if err != nil {
		return nil, err
	}
	p, err := s.svc.PostPayment(ctx, f)
	if err != nil {
		return nil, err
	}
	return &settlementv1.PostPaymentResponse{Posting: postingToProto(p)}, nil
}

// PostPayments implements settlementv1.SettlementServiceServer.
func (s *Server) PostPayments(ctx context.Context, req *settlementv1.PostPaymentsRequest) (*settlementv1.PostPaymentsResponse, error) {
	fs := make([]PaymentFacts, len(req.GetPayments()))
	for i, r := range req.GetPayments() {
		f, err := factsFromProto(r, fmt.Sprintf("payments[%d].", i))
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	ps, err := s.svc.PostPayments(ctx, fs)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.PostPaymentsResponse{Postings: make([]*settlementv1.Posting, len(ps))}
	for i, p := range ps {
		resp.Postings[i] = postingToProto(p)
	}
	return resp, nil
}

// factsFromProto validates a posting request; prefix prefixes field names.
func factsFromProto(req *settlementv1.PostPaymentRequest, prefix string) (PaymentFacts, error) {
	for _, f := range []struct{ name, v string }{
		{"payment_id", req.GetPaymentId()}, {"partner_id", req.GetPartnerId()},
		{"network_id", req.GetNetworkId()}, {"merchant_id", req.GetMerchantId()},
	} {
		if f.v == "" {
			return PaymentFacts{}, rpcerr.Field(rpcerr.InvalidArgument, prefix+f.name, "is required")
		}
	}
	wallet, err := moneypb.FromProto(req.GetWalletAmount(), prefix+"wallet_amount")
	if err != nil {
		return PaymentFacts{}, err
	}
	reversal := req.GetReversalId() != ""
	// amount validates one of the request's amounts; a reversal's may be
	// zero (a small refund's settlement amount and cost can round to
	// nothing).
	amount := func(m *commonv1.Money, field string) (money.Amount, error) {
		if !reversal || m == nil || m.GetMinorUnits() != 0 {
			return moneypb.FromProto(m, field)
		}
		if _, err := money.LookupCurrency(m.GetCurrency()); err != nil {
			return money.Amount{}, rpcerr.Field(rpcerr.UnsupportedCurrency, field+".currency", "%q is not an ISO 4217 currency code", m.GetCurrency())
		}
		return money.Amount{Currency: m.GetCurrency()}, nil
	}
	// Without a settlement amount the partner settles in its wallet's
	// currency. The cost is in the settlement currency (PaymentPosting
	// refuses it in another).
	settlement := wallet
	if m := req.GetSettlementAmount(); m != nil {
		if settlement, err = amount(m, prefix+"settlement_amount"); err != nil {
			return PaymentFacts{}, err
		}
	}
	c := req.GetCostAmount()
	if reversal && c.GetMinorUnits() == 0 && c.GetCurrency() == "" {
		c = &commonv1.Money{Currency: settlement.Currency} // a zero cost sent without its currency
	}
	cost, err := amount(c, prefix+"cost_amount")
	if err != nil {
		return PaymentFacts{}, err
	}
	merchant, err := moneypb.FromProto(req.GetMerchantAmount(), prefix+"merchant_amount")
	if err != nil {
		return PaymentFacts{}, err
	}
	return PaymentFacts{
		PaymentID: req.GetPaymentId(), PartnerID: req.GetPartnerId(), NetworkID: req.GetNetworkId(),
		WalletAmount: wallet, SettlementAmount: settlement, CostAmount: cost, MerchantAmount: merchant, ReversalID: req.GetReversalId(),
	}, nil
}

// ListPostings implements settlementv1.SettlementServiceServer.
func (s *Server) ListPostings(ctx context.Context, req *settlementv1.ListPostingsRequest) (*settlementv1.ListPostingsResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	ps, err := s.svc.ListPostings(ctx, req.GetPaymentId())
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.ListPostingsResponse{}
	for _, p := range ps {
		resp.Postings = append(resp.Postings, postingToProto(p))
	}
	return resp, nil
}

// GetTrialBalance implements settlementv1.SettlementServiceServer.
func (s *Server) GetTrialBalance(ctx context.Context, _ *settlementv1.GetTrialBalanceRequest) (*settlementv1.GetTrialBalanceResponse, error) {
	bs, err := s.svc.TrialBalance(ctx)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.GetTrialBalanceResponse{}
	totals := map[string]*settlementv1.CurrencyTotal{}
	for _, b := range bs {
		resp.Accounts = append(resp.Accounts, &settlementv1.AccountBalance{
			Account: b.Account, Currency: b.Currency, DebitMinorUnits: b.Debit, CreditMinorUnits: b.Credit,
		})
		t, ok := totals[b.Currency]
		if !ok {
			t = &settlementv1.CurrencyTotal{Currency: b.Currency}
			totals[b.Currency] = t
			resp.Currencies = append(resp.Currencies, t)
		}
		t.DebitMinorUnits += b.Debit
		t.CreditMinorUnits += b.Credit
	}
	sort.Slice(resp.Currencies, func(i, j int) bool { return resp.Currencies[i].Currency < resp.Currencies[j].Currency })
	return resp, nil
}

func postingToProto(p Posting) *settlementv1.Posting {
	out := &settlementv1.Posting{
		PostingId: p.ID(), PaymentId: p.PaymentID(), Kind: p.Kind(), CreateTime: timestamppb.New(p.CreateTime()),
	}
	for _, e := range p.Entries() {
		side := settlementv1.Side_SIDE_DEBIT
		if e.Side == Credit {
			side = settlementv1.Side_SIDE_CREDIT
		}
		out.Entries = append(out.Entries, &settlementv1.Entry{
			Account: e.Account, Side: side,
			Amount: moneypb.ToProto(e.Amount),
		})
	}
	return out
}

// CloseCycle implements settlementv1.SettlementServiceServer.
func (s *Server) CloseCycle(ctx context.Context, req *settlementv1.CloseCycleRequest) (*settlementv1.CloseCycleResponse, error) {
	if !req.GetCutoff().IsValid() {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "cutoff", "is required")
	}
	if p := req.GetPartnerId(); p != "" && !validPartnerID(p) {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "partner_id", "want 1-64 of [a-z0-9_-]")
	}
	c, sts, err := s.svc.ClosePartnerCycle(ctx, req.GetPartnerId(), req.GetCutoff().AsTime(), nil)
	if err != nil {
		return nil, err
	}
	nets, err := s.svc.NetworkStatements(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.CloseCycleResponse{Cycle: cycleToProto(c)}
	for _, st := range sts {
		resp.Statements = append(resp.Statements, statementToProto(st))
	}
	for _, n := range nets {
		resp.NetworkStatements = append(resp.NetworkStatements, networkStatementToProto(n))
	}
	return resp, nil
}

// ListStatements implements settlementv1.SettlementServiceServer.
func (s *Server) ListStatements(ctx context.Context, req *settlementv1.ListStatementsRequest) (*settlementv1.ListStatementsResponse, error) {
	limit := int(req.GetLimit())
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	sts, err := s.svc.ListStatements(ctx, req.GetAfterSequence(), limit)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.ListStatementsResponse{}
	for _, st := range sts {
		resp.Statements = append(resp.Statements, statementToProto(st))
	}
	return resp, nil
}

// GetPaymentSettlement implements settlementv1.SettlementServiceServer.
func (s *Server) GetPaymentSettlement(ctx context.Context, req *settlementv1.GetPaymentSettlementRequest) (*settlementv1.GetPaymentSettlementResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	cycle, err := s.svc.PaymentCycle(ctx, req.GetPaymentId())
	if err != nil {
		return nil, err
	}
	return &settlementv1.GetPaymentSettlementResponse{Settled: cycle != "", CycleId: cycle}, nil
}

// HoldForCancel implements settlementv1.SettlementServiceServer.
func (s *Server) HoldForCancel(ctx context.Context, req *settlementv1.HoldForCancelRequest) (*settlementv1.HoldForCancelResponse, error) {
	if req.GetPaymentId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	held, cycle, err := s.svc.HoldForCancel(ctx, req.GetPaymentId())
	if err != nil {
		return nil, err
	}
	return &settlementv1.HoldForCancelResponse{Held: held, CycleId: cycle}, nil
}

func statementToProto(st Statement) *settlementv1.Statement {
	return &settlementv1.Statement{StatementId: st.ID, Sequence: st.Sequence, CycleId: st.CycleID, PartnerId: st.PartnerID,
		NetReceivable: &commonv1.Money{Currency: st.NetReceivable.Currency, MinorUnits: st.NetReceivable.Minor},
		Postings:      st.Postings, Cutoff: timestamppb.New(st.Cutoff),
		Gross: &commonv1.Money{Currency: st.NetReceivable.Currency, MinorUnits: st.Gross},
		Fee:   &commonv1.Money{Currency: st.NetReceivable.Currency, MinorUnits: st.Fee}}
}

// chunkSize bounds each chunk of a streamed statement file.
const chunkSize = 32 << 10

// chunkWriter sends what is written to it as file chunks.
type chunkWriter struct {
	stream settlementv1.SettlementService_StreamStatementFileServer
	name   string
	buf    []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= chunkSize {
		if err := c.send(c.buf[:chunkSize], ""); err != nil {
			return 0, err
		}
		c.buf = append(c.buf[:0], c.buf[chunkSize:]...)
	}
	return len(p), nil
}

func (c *chunkWriter) send(data []byte, sum string) error {
	err := c.stream.Send(&settlementv1.StreamStatementFileResponse{FileName: c.name, Data: data, Sha256: sum})
	c.name = "" // on the first chunk only
	return err
}

// StreamStatementFile implements settlementv1.SettlementServiceServer:
// the statement's CSV, written as its rows are read, in chunks; the last
// carries the SHA-256.
func (s *Server) StreamStatementFile(req *settlementv1.StreamStatementFileRequest, stream settlementv1.SettlementService_StreamStatementFileServer) error {
	if req.GetStatementId() == "" {
		return rpcerr.Field(rpcerr.InvalidArgument, "statement_id", "is required")
	}
	st, err := s.svc.Statement(stream.Context(), req.GetStatementId())
	if err != nil {
		return err
	}
	w := &chunkWriter{stream: stream, name: StatementFileName(st)}
	sum, err := s.svc.WriteStatementFile(stream.Context(), st, w)
	if err != nil {
		return err
	}
	return w.send(w.buf, sum)
}

// ListCycles implements settlementv1.SettlementServiceServer.
func (s *Server) ListCycles(ctx context.Context, req *settlementv1.ListCyclesRequest) (*settlementv1.ListCyclesResponse, error) {
	limit, err := pageLimit(req.GetLimit())
	if err != nil {
		return nil, err
	}
	before, err := optionalTime(req.GetBefore(), "before")
	if err != nil {
		return nil, err
	}
	cs, err := s.svc.ListCycles(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.ListCyclesResponse{}
	for _, c := range cs {
		resp.Cycles = append(resp.Cycles, cycleToProto(c))
	}
	return resp, nil
}

// Reconcile implements settlementv1.SettlementServiceServer.
func (s *Server) Reconcile(ctx context.Context, req *settlementv1.ReconcileRequest) (*settlementv1.ReconcileResponse, error) {
	switch {
	case req.GetStatementId() == "":
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "statement_id", "is required")
	case len(req.GetFile()) == 0:
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "file", "is required")
	case len(req.GetFileName()) > 255:
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "file_name", "is longer than 255 bytes")
	}
	run, breaks, replayed, err := s.svc.Reconcile(ctx, req.GetStatementId(), req.GetFileName(), req.GetFile())
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.ReconcileResponse{Replayed: replayed, Run: &settlementv1.ReconcileRun{
		RunId: run.ID, StatementId: run.StatementID, FileName: run.FileName, Sha256: run.SHA256, Rows: run.Rows,
		Matched: run.Matched, Mismatched: run.Mismatched, MissingInUnigate: run.MissingInUnigate,
		MissingAtCounterparty: run.MissingAtCounterparty, Cleared: run.Cleared, CreateTime: timestamppb.New(run.CreateTime), Actor: run.Actor}}
	for _, b := range breaks {
		resp.Breaks = append(resp.Breaks, breakToProto(b))
	}
	return resp, nil
}

// ListBreaks implements settlementv1.SettlementServiceServer.
func (s *Server) ListBreaks(ctx context.Context, req *settlementv1.ListBreaksRequest) (*settlementv1.ListBreaksResponse, error) {
	limit, err := pageLimit(req.GetLimit())
	if err != nil {
		return nil, err
	}
	bs, err := s.svc.ListBreaks(ctx, req.GetStatementId(), req.GetAll(), limit)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.ListBreaksResponse{}
	for _, b := range bs {
		resp.Breaks = append(resp.Breaks, breakToProto(b))
	}
	return resp, nil
}

// ResolveBreak implements settlementv1.SettlementServiceServer.
func (s *Server) ResolveBreak(ctx context.Context, req *settlementv1.ResolveBreakRequest) (*settlementv1.ResolveBreakResponse, error) {
	switch {
	case req.GetBreakId() == "":
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "break_id", "is required")
	case strings.TrimSpace(req.GetReason()) == "":
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "reason", "is required: say why the break needs no further action")
	case len(req.GetReason()) > 1000:
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "reason", "is longer than 1000 bytes")
	}
	b, err := s.svc.ResolveBreak(ctx, req.GetBreakId(), strings.TrimSpace(req.GetReason()))
	if err != nil {
		return nil, err
	}
	return &settlementv1.ResolveBreakResponse{Break: breakToProto(b)}, nil
}

var breakKinds = map[string]settlementv1.BreakKind{
	BreakAmount:         settlementv1.BreakKind_BREAK_KIND_AMOUNT_MISMATCH,
	BreakCurrency:       settlementv1.BreakKind_BREAK_KIND_CURRENCY_MISMATCH,
	BreakState:          settlementv1.BreakKind_BREAK_KIND_STATE_MISMATCH,
	BreakMissingUnigate: settlementv1.BreakKind_BREAK_KIND_MISSING_IN_UNIGATE,
	BreakMissingThem:    settlementv1.BreakKind_BREAK_KIND_MISSING_AT_COUNTERPARTY,
}

func breakToProto(b Break) *settlementv1.Break {
	out := &settlementv1.Break{BreakId: b.ID, StatementId: b.StatementID, PaymentId: b.PaymentID, ReversalId: b.ReversalID,
		Kind: breakKinds[b.Kind], Detail: b.Detail, Line: b.Line, FirstRunId: b.FirstRun, LastRunId: b.LastRun,
		CreateTime: timestamppb.New(b.CreateTime), ResolvedBy: b.ResolvedBy, Resolution: b.Resolution}
	if !b.ResolveTime.IsZero() {
		out.ResolveTime = timestamppb.New(b.ResolveTime)
	}
	return out
}

// pageLimit is a list request's limit: 100 when 0, at most 1000.
func pageLimit(limit int32) (int, error) {
	switch {
	case limit < 0 || limit > 1000:
		return 0, rpcerr.Field(rpcerr.InvalidArgument, "limit", "must be 0..1000")
	case limit == 0:
		return 100, nil
	}
	return int(limit), nil
}

func cycleToProto(c Cycle) *settlementv1.Cycle {
	return &settlementv1.Cycle{CycleId: c.ID, PartnerId: c.PartnerID, Cutoff: timestamppb.New(c.Cutoff),
		CloseTime: timestamppb.New(c.CloseTime), Postings: c.Postings}
}

// validPartnerID is the routing table's rule for an id: 1-64 of [a-z0-9_-].
func validPartnerID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func networkStatementToProto(n NetworkStatement) *settlementv1.NetworkStatement {
	return &settlementv1.NetworkStatement{StatementId: n.ID, CycleId: n.CycleID,
		NetworkId: n.NetworkID, NetPayable: moneypb.ToProto(n.NetPayable), Postings: n.Postings, Cutoff: timestamppb.New(n.Cutoff),
		Gross: &commonv1.Money{Currency: n.NetPayable.Currency, MinorUnits: n.Gross},
		Fee:   &commonv1.Money{Currency: n.NetPayable.Currency, MinorUnits: n.Fee}}
}

// ListNetworkStatements implements settlementv1.SettlementServiceServer.
func (s *Server) ListNetworkStatements(ctx context.Context, req *settlementv1.ListNetworkStatementsRequest) (*settlementv1.ListNetworkStatementsResponse, error) {
	limit, err := pageLimit(req.GetLimit())
	if err != nil {
		return nil, err
	}
	before, err := optionalTime(req.GetBefore(), "before")
	if err != nil {
		return nil, err
	}
	ns, err := s.svc.ListNetworkStatements(ctx, req.GetNetworkId(), before, limit)
	if err != nil {
		return nil, err
	}
	resp := &settlementv1.ListNetworkStatementsResponse{}
	for _, n := range ns {
		resp.NetworkStatements = append(resp.NetworkStatements, networkStatementToProto(n))
	}
	return resp, nil
}

// optionalTime is a request's optional timestamp: zero when unset.
func optionalTime(ts *timestamppb.Timestamp, field string) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, rpcerr.Field(rpcerr.InvalidArgument, field, "%v", err)
	}
	return ts.AsTime(), nil
}
