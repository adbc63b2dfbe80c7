package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/reqsign"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/fx"
	"github.com/unigate/unigate/services/router"
)

// Who may call what, per server. Health and reflection are open; a
// method without a rule is refused.
var (
	viewer = authn.Rule{Kinds: []authn.Kind{authn.Service, authn.Operator}, MinRole: authn.Viewer}
	// acquirerOnly: the internal APIs the acquirer orchestrates; no other
	// service calls them.
	acquirerOnly = authn.Rule{Kinds: []authn.Kind{authn.Service}, Services: []string{"acquirer"}}

	// operatorRole: operators who change things.
	operatorRole = authn.Rule{Kinds: []authn.Kind{authn.Operator}, MinRole: authn.OperatorRole}

	acquirerPolicy = authn.Policy{
		"/unigate.partner.v1.PartnerService/":              {Kinds: []authn.Kind{authn.Partner}},
		"/unigate.partner.v1.PartnerService/GetPayment":    {Kinds: []authn.Kind{authn.Partner, authn.Operator}, MinRole: authn.Viewer},
		"/unigate.acquiring.v1.AcquiringService/":          {Kinds: []authn.Kind{authn.Network}},
		"/unigate.acquiring.v1.AcquiringService/GetRefund": {Kinds: []authn.Kind{authn.Network, authn.Operator}, MinRole: authn.Viewer},
		// Operators' lookups (payments find|timeline, refunds get|list): read only.
		"/unigate.acquiring.v1.OperatorService/": {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.Viewer},
	}
	routerPolicy = authn.Policy{
		"/unigate.router.v1.RouterService/":       {Kinds: []authn.Kind{authn.Service, authn.Operator}, MinRole: authn.Viewer, Services: []string{"acquirer"}},
		"/unigate.router.v1.RoutingAdminService/": {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.Admin},
	}
	fxPolicy = authn.Policy{
		"/unigate.fx.v1.FxService/":             acquirerOnly,
		"/unigate.fx.v1.FxService/ListRates":    viewer,
		"/unigate.fx.v1.FxService/RateHistory":  viewer,
		"/unigate.fx.v1.FxService/PreviewQuote": viewer,
	}
	riskPolicy = authn.Policy{
		"/unigate.risk.v1.RiskService/": acquirerOnly,
		// The replicas' velocity streams: risk only.
		"/unigate.risk.v1.RiskPeerService/": {Kinds: []authn.Kind{authn.Service}, Services: []string{"risk"}},
		// Analysts and operators: anyone may read; changing the policy or
		// working a case takes the operator role.
		"/unigate.risk.v1.RiskAdminService/":                viewer,
		"/unigate.risk.v1.RiskAdminService/PutRules":        operatorRole,
		"/unigate.risk.v1.RiskAdminService/PutListEntry":    operatorRole,
		"/unigate.risk.v1.RiskAdminService/DeleteListEntry": operatorRole,
		"/unigate.risk.v1.RiskAdminService/PutLimits":       operatorRole,
		"/unigate.risk.v1.RiskAdminService/PutModel":        operatorRole,
		"/unigate.risk.v1.RiskAdminService/AssignCase":      operatorRole,
		"/unigate.risk.v1.RiskAdminService/ResolveCase":     operatorRole,
	}
	settlementPolicy = authn.Policy{
		"/unigate.settlement.v1.SettlementService/":                      acquirerOnly,
		"/unigate.settlement.v1.SettlementService/CloseCycle":            {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.OperatorRole},
		"/unigate.settlement.v1.SettlementService/ListStatements":        viewer,
		"/unigate.settlement.v1.SettlementService/StreamStatementFile":   viewer,
		"/unigate.settlement.v1.SettlementService/ListCycles":            viewer,
		"/unigate.settlement.v1.SettlementService/ListPostings":          viewer,
		"/unigate.settlement.v1.SettlementService/GetTrialBalance":       viewer,
		"/unigate.settlement.v1.SettlementService/Reconcile":             {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.OperatorRole},
		"/unigate.settlement.v1.SettlementService/ResolveBreak":          {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.OperatorRole},
		"/unigate.settlement.v1.SettlementService/ListBreaks":            viewer,
		"/unigate.settlement.v1.SettlementService/ListNetworkStatements": viewer,
	}
	// The simulators stand for outside parties: Unigate's services call
	// their network and wallet APIs; operators (and the demo) drive the
	// simulator's own API.
	merchantSimPolicy = authn.Policy{
		"/unigate.merchant.v1.MerchantNetworkService/":    {Kinds: []authn.Kind{authn.Service}, Services: []string{"acquirer", "router"}},
		"/unigate.simulator.v1.MerchantSimulatorService/": viewer,
	}
	walletSimPolicy = authn.Policy{"/unigate.partner.v1.WalletPartnerService/": {Kinds: []authn.Kind{authn.Service}, Services: []string{"acquirer"}}}
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
	creds := &auditedTLS{TransportCredentials: credentials.NewTLS(cfg), refused: c.handshakeRefused()}
	return []grpc.ServerOption{grpc.Creds(creds), grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}, nil
}

// auditedTLS is the server's TLS whose failed handshakes — no client
// certificate, an expired one, one from an unknown authority — are
// audited: they never reach an interceptor.
type auditedTLS struct {
	credentials.TransportCredentials
	refused func(remote net.Addr, err error)
}

func (a *auditedTLS) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := a.TransportCredentials.ServerHandshake(raw)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		// A connection closed before its hello (a port check, a load
		// balancer's probe) is not a refusal.
		a.refused(raw.RemoteAddr(), err)
	}
	return conn, info, err
}

func (a *auditedTLS) Clone() credentials.TransportCredentials {
	return &auditedTLS{TransportCredentials: a.TransportCredentials.Clone(), refused: a.refused}
}

// handshakeAuditRate bounds the audit entries of failed handshakes a
// server writes a second, so that a flood of them cannot flood the audit
// log; the entry after a suppressed burst says how many it stands for.
const handshakeAuditRate = 20

// handshakeRefused logs and (up to handshakeAuditRate a second) audits a
// failed TLS handshake.
func (c Common) handshakeRefused() func(net.Addr, error) {
	var (
		mu         sync.Mutex
		window     time.Time
		written    int
		suppressed int
	)
	return func(remote net.Addr, err error) {
		host := remote.String()
		if h, _, serr := net.SplitHostPort(host); serr == nil {
			host = h
		}
		c.Log.Warn("TLS handshake refused", "remote", host, "err", err)
		if c.audit == nil {
			return
		}
		mu.Lock()
		now := time.Now()
		if now.Sub(window) >= time.Second {
			window, written = now, 0
		}
		if written >= handshakeAuditRate {
			suppressed++
			mu.Unlock()
			return
		}
		written++
		also := suppressed
		suppressed = 0
		mu.Unlock()
		after, _ := json.Marshal(map[string]any{"remote": host, "error": err.Error(), "suppressed_before": also})
		e := audit.Entry{Actor: "unauthenticated", Action: "auth.handshake", Subject: "tls", After: after,
			Outcome: "refused:" + string(rpcerr.Unauthenticated)}
		if aerr := c.audit(context.Background(), e); aerr != nil {
			c.Log.Error("audit entry lost", "err", aerr)
		}
	}
}

// refused logs and audits a call refused before its handler ran.
func (c Common) refused(ctx context.Context, method, actor string, err error) {
	c.Log.WarnContext(ctx, "call refused", "method", method, "caller", actor, "err", err)
	if c.audit == nil {
		return
	}
	e := audit.Entry{Actor: actor, Action: "auth.denied", Subject: method, Outcome: "refused:" + string(rpcerr.ReasonOf(err)),
		TraceID: trace.SpanContextFromContext(ctx).TraceID().String()}
	if aerr := c.audit(context.WithoutCancel(ctx), e); aerr != nil {
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
		Services: []string{"acquirer", "router", "fx", "risk", "settlement", EtcdServer, EtcdAdmin},
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

// Etcd's access control. Every service campaigns in elections and reads
// the routing table; only the router writes the table (and, in the same
// etcd transaction, the audit entry of the change); the acquirer moves
// those entries into the audit log; risk registers its replicas (their
// membership, RiskPrefix); operators read.
const (
	etcdServiceRole = "unigate-service"
	etcdRoutingRole = "unigate-routing-writer"
	etcdAuditRole   = "unigate-audit-importer"
	etcdReaderRole  = "unigate-reader"
	// etcdFXRole publishes and watches the rates (the FX service only).
	etcdFXRole = "unigate-fx-rates"
	// etcdRiskRole registers and follows the risk replicas (risk only).
	etcdRiskRole = "unigate-risk-peers"
	// EtcdAdmin is the service identity that bootstraps etcd's access
	// control (it holds etcd's root role).
	EtcdAdmin = "etcd-admin"
	// EtcdServer is the identity of the embedded etcd's certificate.
	EtcdServer = "etcd"
)

// EtcdAccess is Unigate's etcd access control, with operators (their
// identities, "operator:alice") given read access.
func EtcdAccess(operators ...string) etcdx.Access {
	svc := func(id string) string { return authn.Identity{Kind: authn.Service, ID: id}.String() }
	a := etcdx.Access{
		Roles: []etcdx.Role{
			{Name: etcdServiceRole, Read: []string{router.Prefix}, ReadWrite: []string{election.Prefix}},
			{Name: etcdRoutingRole, ReadWrite: []string{router.Prefix, router.AuditPrefix}},
			{Name: etcdAuditRole, ReadWrite: []string{router.AuditPrefix}},
			{Name: etcdReaderRole, Read: []string{router.Prefix, election.Prefix, fx.Prefix, RiskPrefix}},
			{Name: etcdFXRole, ReadWrite: []string{fx.Prefix}},
			{Name: etcdRiskRole, ReadWrite: []string{RiskPrefix}},
		},
		Users: map[string][]string{
			svc("acquirer"):   {etcdServiceRole, etcdAuditRole},
			svc("router"):     {etcdServiceRole, etcdRoutingRole},
			svc("fx"):         {etcdServiceRole, etcdFXRole},
			svc("risk"):       {etcdServiceRole, etcdRiskRole},
			svc("settlement"): {etcdServiceRole},
		},
		Admins: []string{svc(EtcdAdmin)},
	}
	for _, o := range operators {
		a.Users[o] = []string{etcdReaderRole}
	}
	return a
}

// connectEtcd opens an etcd client as this service: with its certificate
// when the PKI is set (etcd then knows it as the user "service:NAME").
func (c Common) connectEtcd(service string, endpoints []string) (*clientv3.Client, error) {
	return ConnectEtcd(c.PKI, authn.Service, service, endpoints)
}

// ConnectEtcd opens an etcd client as kind/id of the PKI in dir (empty:
// plaintext).
func ConnectEtcd(dir string, kind authn.Kind, id string, endpoints []string) (*clientv3.Client, error) {
	if dir == "" {
		return etcdx.Connect(endpoints)
	}
	cfg, err := pki.Dev{Dir: dir}.ClientConfig(kind, id, "unigate")
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate of %s:%s: %w", kind, id, err)
	}
	return etcdx.ConnectTLS(endpoints, cfg)
}

// importRoutingAudit moves the audit entries the router wrote beside its
// changes in etcd into the audit log, every interval until ctx ends. An
// entry is appended, then its etcd key deleted: if the process dies in
// between, the next pass appends it again, which the entry's id makes a
// no-op.
func importRoutingAudit(ctx context.Context, cli *clientv3.Client, db *sqlstore.DB, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := ImportRoutingAudit(ctx, cli, db); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ImportRoutingAudit makes one pass of importRoutingAudit.
func ImportRoutingAudit(ctx context.Context, cli *clientv3.Client, db *sqlstore.DB) error {
	for {
		keys, entries, err := router.PendingAudit(ctx, cli, 100)
		if err != nil || len(keys) == 0 {
			return err
		}
		for i, e := range entries {
			if err := audit.Append(ctx, db, e); err != nil && !sqlstore.IsUniqueViolation(err) {
				return err
			}
			if _, err := cli.Delete(ctx, keys[i]); err != nil {
				return err
			}
		}
	}
}
