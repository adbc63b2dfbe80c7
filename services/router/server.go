package router

import (
	"context"

	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"

	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Server is the gRPC face of the router.
type Server struct {
	routerv1.UnimplementedRouterServiceServer
	svc    *Service
	tables TableSource
}

// NewServer returns a Server.
func NewServer(svc *Service, tables TableSource) *Server { return &Server{svc: svc, tables: tables} }

// ResolveCode implements routerv1.RouterServiceServer.
func (s *Server) ResolveCode(ctx context.Context, req *routerv1.ResolveCodeRequest) (*routerv1.ResolveCodeResponse, error) {
	if req.GetPartnerId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "partner_id", "is required")
	}
	res, err := s.svc.Resolve(ctx, req.GetPartnerId(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &routerv1.ResolveCodeResponse{
		Kind: res.Kind, Merchant: res.Merchant, Amount: moneypb.ToProto(res.Amount),
		Network: networkToProto(res.Network), Partner: partnerToProto(res.Partner), Warnings: res.Warnings,
	}, nil
}

// GetPartner implements routerv1.RouterServiceServer.
func (s *Server) GetPartner(ctx context.Context, req *routerv1.GetPartnerRequest) (*routerv1.GetPartnerResponse, error) {
	if req.GetPartnerId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "partner_id", "is required")
	}
	p, err := s.svc.Partner(req.GetPartnerId())
	if err != nil {
		return nil, err
	}
	return &routerv1.GetPartnerResponse{Partner: partnerToProto(p)}, nil
}

// GetRoutingTable implements routerv1.RouterServiceServer.
func (s *Server) GetRoutingTable(ctx context.Context, _ *routerv1.GetRoutingTableRequest) (*routerv1.GetRoutingTableResponse, error) {
	t := s.tables.Table()
	resp := &routerv1.GetRoutingTableResponse{Revision: t.Revision}
	for _, p := range t.SortedPartners() {
		resp.Partners = append(resp.Partners, partnerToProto(p))
	}
	for _, n := range t.SortedNetworks() {
		resp.Networks = append(resp.Networks, networkToProto(n))
	}
	return resp, nil
}

// ClassifyCode implements routerv1.RouterServiceServer.
func (s *Server) ClassifyCode(ctx context.Context, req *routerv1.ClassifyCodeRequest) (*routerv1.ClassifyCodeResponse, error) {
	c, err := s.svc.Classify(req.GetCode())
	if err != nil {
		return nil, err
	}
	resp := &routerv1.ClassifyCodeResponse{Warnings: c.Warnings}
	switch c.Kind {
	case paycode.KindMPM:
		resp.Kind = commonv1.CodeKind_CODE_KIND_EMVCO_MPM
	case paycode.KindCPM:
		resp.Kind = commonv1.CodeKind_CODE_KIND_EMVCO_CPM
	case paycode.KindURL:
		resp.Kind, resp.Issuer = commonv1.CodeKind_CODE_KIND_URL, c.URL.Issuer
	case paycode.KindWallet:
		resp.Kind, resp.PartnerId = commonv1.CodeKind_CODE_KIND_WALLET_CODE, c.Wallet.PartnerID
	}
	return resp, nil
}

// GetMerchant implements routerv1.RouterServiceServer.
func (s *Server) GetMerchant(ctx context.Context, req *routerv1.GetMerchantRequest) (*routerv1.GetMerchantResponse, error) {
	if req.GetNetworkId() == "" || req.GetMerchantId() == "" {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "merchant_id", "network_id and merchant_id are required")
	}
	n, ok := s.tables.Table().Networks[req.GetNetworkId()]
	if !ok {
		return nil, rpcerr.New(rpcerr.MerchantNotFound, "network %q is not onboarded", req.GetNetworkId())
	}
	m, err := s.svc.merchant(ctx, n, req.GetMerchantId())
	if err != nil {
		return nil, err
	}
	return &routerv1.GetMerchantResponse{Merchant: m, Network: networkToProto(n)}, nil
}

func partnerToProto(p Partner) *routerv1.Partner {
	out := &routerv1.Partner{PartnerId: p.ID, Name: p.Name, Currency: p.Currency, Disabled: p.Disabled, Endpoint: p.Endpoint}
	for _, r := range p.CodeRanges {
		lengths := make([]int32, len(r.Lengths))
		for i, l := range r.Lengths {
			lengths[i] = int32(l)
		}
		out.CodeRanges = append(out.CodeRanges, &routerv1.CodeRange{Prefix: r.Prefix, Lengths: lengths})
	}
	out.SigningKeys = keysToProto(p.SigningKeys)
	out.SettlementCurrency = p.SettlementCurrency
	out.SettlementCutoff, out.SettlementTimeZone = p.SettlementCutoff, p.SettlementTimeZone
	out.SettlementFees = FeesToProto(p.SettlementFees)
	for _, t := range p.FXMarkup {
		out.FxMarkup = append(out.FxMarkup, &routerv1.MarkupTier{FromMinorUnits: t.FromMinor, MarkupBps: int32(t.Bps)})
	}
	if l := p.Limits; l != nil {
		out.Limits = &routerv1.PartnerLimits{RatePerSecond: l.RatePerSecond, Burst: int32(l.Burst),
			MaxConcurrent: int32(l.MaxConcurrent), MaxStreams: int32(l.MaxStreams)}
	}
	return out
}

func networkToProto(n Network) *routerv1.MerchantNetwork {
	return &routerv1.MerchantNetwork{NetworkId: n.ID, Name: n.Name, Endpoint: n.Endpoint,
		Guids: n.GUIDs, Country: n.Country, Currency: n.Currency, UrlIssuers: n.URLIssuers,
		MerchantIdTag: n.MerchantIDTag, SigningKeys: keysToProto(n.SigningKeys), SettlementFees: FeesToProto(n.SettlementFees)}
}
