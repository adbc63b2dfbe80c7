package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/reqsign"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/router"
)

// Who may call what, per server. Health and reflection are open; a
// method without a rule is refused.
var (
	viewer = authn.Rule{Kinds: []authn.Kind{authn.Service, authn.Operator}, MinRole: authn.Viewer}

	acquirerPolicy = authn.Policy{
		"/unigate.partner.v1.PartnerService/":              {Kinds: []authn.Kind{authn.Partner}},
		"/unigate.partner.v1.PartnerService/GetPayment":    {Kinds: []authn.Kind{authn.Partner, authn.Operator}, MinRole: authn.Viewer},
		"/unigate.acquiring.v1.AcquiringService/":          {Kinds: []authn.Kind{authn.Network}},
		"/unigate.acquiring.v1.AcquiringService/GetRefund": {Kinds: []authn.Kind{authn.Network, authn.Operator}, MinRole: authn.Viewer},
	}
	routerPolicy     = authn.Policy{"/unigate.router.v1.RouterService/": viewer}
	fxPolicy         = authn.Policy{"/unigate.fx.v1.FxService/": {Kinds: []authn.Kind{authn.Service}}}
	riskPolicy       = authn.Policy{"/unigate.risk.v1.RiskService/": {Kinds: []authn.Kind{authn.Service}}}
	settlementPolicy = authn.Policy{
		"/unigate.settlement.v1.SettlementService/":                {Kinds: []authn.Kind{authn.Service}},
		"/unigate.settlement.v1.SettlementService/CloseCycle":      {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.OperatorRole},
		"/unigate.settlement.v1.SettlementService/ListStatements":  viewer,
		"/unigate.settlement.v1.SettlementService/ListPostings":    viewer,
		"/unigate.settlement.v1.SettlementService/GetTrialBalance": viewer,
	}
	// The simulators stand for outside parties: Unigate's services call
	// their network and wallet APIs; operators (and the demo) drive the
	// simulator's own API.
	merchantSimPolicy = authn.Policy{
		"/unigate.merchant.v1.MerchantNetworkService/":    {Kinds: []authn.Kind{authn.Service}},
		"/unigate.simulator.v1.MerchantSimulatorService/": viewer,
	}
	walletSimPolicy = authn.Policy{"/unigate.partner.v1.WalletPartnerService/": {Kinds: []authn.Kind{authn.Service}}}
)

// security is the mutual TLS of one server and its clients, from a PKI
// directory laid out as pki.Dev (ca/*.crt, service/NAME.crt|key, …). An
// empty directory means plaintext, for local experiments only: callers
// then name themselves in metadata, which nothing checks.
type security struct {
	dev  pki.Dev
	kind authn.Kind
	id   string
	on   bool
}

func (c Common) security(kind authn.Kind, id string) security {
	return security{dev: pki.Dev{Dir: c.PKI}, kind: kind, id: id, on: c.PKI != ""}
}

// serverOptions are the server's TLS credentials and the interceptors
// that enforce policy on the identity of each caller's certificate.
func (s security) serverOptions(c Common, policy authn.Policy) ([]grpc.ServerOption, error) {
	if !s.on {
		return nil, nil
	}
	cfg, err := s.dev.ServerConfig(s.kind, s.id)
	if err != nil {
		return nil, fmt.Errorf("%s: server certificate: %w", s.id, err)
	}
	auth, err := s.dev.Authority()
	if err != nil {
		return nil, err
	}
	unary, stream := auth.Interceptors(policy, func(ctx context.Context, method string, id authn.Identity, err error) {
		actor := "unauthenticated"
		if id.Kind != "" {
			actor = id.String()
		}
		c.refused(ctx, method, actor, err)
	})
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg)), grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}, nil
}

// refused logs and audits a call refused before its handler ran.
func (c Common) refused(ctx context.Context, method, actor string, err error) {
	c.Log.WarnContext(ctx, "call refused", "method", method, "caller", actor, "err", err)
	if c.audit == nil {
		return
	}
	e := audit.Entry{Actor: actor, Action: "auth.denied", Subject: method, Outcome: "refused:" + string(rpcerr.ReasonOf(err)),
		TraceID: trace.SpanContextFromContext(ctx).TraceID().String()}
	if aerr := audit.Append(context.WithoutCancel(ctx), c.audit, e); aerr != nil {
		c.Log.ErrorContext(ctx, "audit entry lost", "err", aerr)
	}
}

// dialOptions make this identity's client of servers certified by the CA
// named trust ("unigate" for Unigate's services, "partners" or
// "networks" for the outside parties, whose CA is pinned).
func (s security) dialOptions(trust string) ([]grpc.DialOption, error) {
	if !s.on {
		return nil, nil
	}
	cfg, err := s.dev.ClientConfig(s.kind, s.id, trust)
	if err != nil {
		return nil, fmt.Errorf("%s: client certificate: %w", s.id, err)
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, nil
}

// DevPKI writes (or completes) the development PKI of the demo stack in
// dir: Unigate's services, the demo partners and their wallet simulator,
// the simulated network, and two operators (admin, viewer).
func DevPKI(dir string, extraPartners ...string) (pki.Dev, error) {
	partners := []string{WalletSimID}
	for _, p := range DefaultPartners() {
		partners = append(partners, p.ID)
	}
	return pki.WriteDev(dir, pki.DevSpec{
		Services: []string{"acquirer", "router", "fx", "risk", "settlement"},
		Partners: append(partners, extraPartners...), Networks: []string{"cnsim"},
		Operators: map[string]authn.Role{"admin": authn.Admin, "operator": authn.OperatorRole, "viewer": authn.Viewer},
	})
}

// WalletSimID is the identity of the wallet simulator's server
// certificate (it serves every demo partner's WalletPartnerService).
const WalletSimID = "walletsim"

// PKIDir is where a stack keeps its development PKI.
func PKIDir(dataDir string) string { return filepath.Join(dataDir, "pki") }

// DefaultLimits are the acquirer's quotas per partner and per network
// when the routing table gives none: well above a wallet's normal
// traffic, low enough that one caller cannot take the switch.
func DefaultLimits() quota.Limits {
	return quota.Limits{RatePerSecond: 1000, Burst: 2000, MaxConcurrent: 256, MaxStreams: 8}
}

// callerOf names the authenticated caller for quotas ("partner:hipay").
func callerOf(ctx context.Context) (string, bool) {
	id, ok := authn.FromContext(ctx)
	return id.String(), ok
}

// MoneyMovingMethods are the calls that must be signed (package reqsign).
var MoneyMovingMethods = map[string]bool{
	"/unigate.partner.v1.PartnerService/Pay":               true,
	"/unigate.partner.v1.PartnerService/CancelPayment":     true,
	"/unigate.acquiring.v1.AcquiringService/SubmitPayment": true,
	"/unigate.acquiring.v1.AcquiringService/CancelPayment": true,
	"/unigate.acquiring.v1.AcquiringService/RefundPayment": true,
}

// signatureVerifier checks signed requests against the keys the routing
// table registers for each partner and network, and refuses a request id
// seen before (recorded in the acquirer's database, shared by replicas).
func signatureVerifier(routes *router.Watcher, seen func(ctx context.Context, caller, id string, expire time.Time) (bool, error)) *reqsign.Verifier {
	return &reqsign.Verifier{Seen: seen, Keys: func(caller string) []reqsign.Key {
		kind, id, _ := strings.Cut(caller, ":")
		t := routes.Table()
		switch authn.Kind(kind) {
		case authn.Partner:
			return router.Keys(t.Partners[id].SigningKeys)
		case authn.Network:
			return router.Keys(t.Networks[id].SigningKeys)
		}
		return nil
	}}
}

// SigningOptions are the dial options that sign an identity's money-moving calls
// with its development signing key (version "v1"); none for services and
// operators, or without a PKI.
func SigningOptions(dev pki.Dev, kind authn.Kind, id string) ([]grpc.DialOption, error) {
	if dev.Dir == "" || (kind != authn.Partner && kind != authn.Network) {
		return nil, nil
	}
	key, err := dev.SigningKey(kind, id)
	if err != nil {
		return nil, err
	}
	caller := authn.Identity{Kind: kind, ID: id}.String()
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(reqsign.ClientInterceptor(caller, DevKeyVersion, key, MoneyMovingMethods))}, nil
}

// DevKeyVersion is the version of the development signing keys.
const DevKeyVersion = "v1"

// DevSigningKey is the routing table's registration of a development
// PKI's signing key for kind/id.
func DevSigningKey(dev pki.Dev, kind authn.Kind, id string) (router.SigningKey, error) {
	key, err := dev.SigningKey(kind, id)
	if err != nil {
		return router.SigningKey{}, err
	}
	return router.NewSigningKey(DevKeyVersion, key.Public().(ed25519.PublicKey)), nil
}

// edgeOptions are the acquirer's quotas (after authentication: the
// caller is the certificate's identity), its per-connection stream cap
// and its message size limit.
func edgeOptions(c Common, l *quota.Limiter, v *reqsign.Verifier) ([]grpc.ServerOption, error) {
	verify := v.UnaryServerInterceptor(MoneyMovingMethods, callerOf)
	audited := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		reached := false
		resp, err := verify(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			reached = true
			return handler(ctx, req)
		})
		if err != nil && !reached {
			actor, _ := callerOf(ctx)
			c.refused(ctx, info.FullMethod, actor, err)
		}
		return resp, err
	}
	unary := []grpc.UnaryServerInterceptor{quota.UnaryServerInterceptor(l, callerOf), audited}
	if c.PKI != "" {
		// The answers to signed requests are signed with the acquirer's key.
		key, err := pki.Dev{Dir: c.PKI}.SigningKey(authn.Service, "acquirer")
		if err != nil {
			return nil, fmt.Errorf("acquirer: response-signing key: %w", err)
		}
		unary = append(unary, reqsign.SignResponses(key, MoneyMovingMethods, callerOf))
	}
	return append(quota.ServerOptions(quota.EdgeMaxRecvBytes, quota.EdgeMaxStreamsPerConn),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(quota.StreamServerInterceptor(l, callerOf))), nil
}

// applyPartnerLimits keeps the limiter's per-partner limits equal to the
// routing table's, watching it in etcd: a change applies within a second,
// without a restart.
func applyPartnerLimits(ctx context.Context, routes *router.Watcher, l *quota.Limiter, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- routes.Run(ctx) }()
	var applied int64 = -1
	var set []string
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if tbl := routes.Table(); tbl.Revision != applied {
			for _, c := range set {
				l.ClearLimits(c)
			}
			set = set[:0]
			for id, p := range tbl.Partners {
				if p.Limits != nil {
					c := authn.Identity{Kind: authn.Partner, ID: id}.String()
					l.SetLimits(c, *p.Limits)
					set = append(set, c)
				}
			}
			applied = tbl.Revision
		}
		select {
		case <-ctx.Done():
			return <-done
		case <-t.C:
		}
	}
}
