// Package app wires each Unigate service into a runnable gRPC server:
// typed configuration with defaults and Validate, storage opened and
// migrated, clients dialled with deadlines, health flipped to SERVING once
// listening, and an orderly stop. `unigate <service>` runs one of them;
// Stack runs all of them in one process for `make run` and the tests, each
// still its own gRPC server on its own port.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/grpcapi"
	acqstore "github.com/unigate/unigate/services/acquirer/store"
	"github.com/unigate/unigate/services/fx"
	"github.com/unigate/unigate/services/fx/feed"
	"github.com/unigate/unigate/services/merchantsim"
	"github.com/unigate/unigate/services/risk"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/settlement"
)

// GracePeriod is how long a stopping server lets calls in flight finish.
const GracePeriod = 5 * time.Second

// Common is the configuration every service has.
type Common struct {
	// Listen is the gRPC address ("127.0.0.1:7001"; port 0 picks one).
	Listen string
	// DSN is the SQL back end (sqlstore.Open); unused by the router.
	DSN string
	// CallTimeout bounds each outbound call without a deadline.
	CallTimeout time.Duration
	Log         *slog.Logger
	// Ready, if set, receives the listening address once serving.
	Ready func(addr string)
	// audit, if set, records refused calls: in the acquirer's database,
	// or, for the router, in etcd beside the changes it audits.
	audit func(context.Context, audit.Entry) error
	// Advertise is the address other replicas reach this process at
	// ("10.0.3.7:7000"); empty: the listening address, unless that is
	// unspecified (":7000"), in which case standbys cannot follow this
	// process and a crashed leader is replaced by lease expiry alone.
	Advertise string
	// RoutingCache, if set, is the file where the router and the acquirer
	// keep the last routing table they read, to start on it when etcd is
	// unreachable.
	RoutingCache string
	// PKI is a directory laid out as pki.Dev (ca/*.crt, service/NAME.crt|key):
	// every server then requires mutual TLS and takes each caller's
	// identity from its certificate. Empty means plaintext, for local
	// experiments only.
	PKI string
	// DBMaxConns bounds the service's connections to PostgreSQL or
	// CockroachDB (0: sqlstore.DefaultMaxConns).
	DBMaxConns int
	// MetricsListen, if set, is the HTTP address ("0.0.0.0:9090") serving
	// Prometheus metrics at /metrics; empty serves none.
	MetricsListen string
	// Pprof serves Go's profiles (net/http/pprof) at /debug/pprof/ on
	// MetricsListen too (for `unigate bench`'s CPU profiles); off by
	// default: a profile costs the process CPU while it is taken.
	Pprof bool
	// HealthListen, if set, is a plaintext gRPC address serving only the
	// standard health service (grpc.health.v1), mirroring this process's
	// serving status, for Kubernetes' native gRPC probes, which cannot
	// present a client certificate; empty serves none.
	HealthListen string
}

func (c Common) validate(needDSN bool) error {
	if c.Listen == "" {
		return errors.New("listen address is required")
	}
	if needDSN && c.DSN == "" {
		return errors.New("a database DSN is required")
	}
	if c.Log == nil {
		return errors.New("a logger is required")
	}
	return nil
}

// newServer is a Unigate service's gRPC server, with mutual TLS and its
// policy when the PKI is set.
func newServer(c Common, service string, policy authn.Policy, more ...grpc.ServerOption) (*grpcx.Server, error) {
	opts, err := c.security(authn.Service, service).serverOptions(c, policy)
	if err != nil {
		return nil, err
	}
	return grpcx.NewServer(c.Log, append(opts, more...)...), nil
}

// serve listens and serves srv until ctx ends.
func serve(ctx context.Context, c Common, srv *grpcx.Server) error {
	return serveGrace(ctx, c, srv, GracePeriod)
}

// serveGrace is serve with its own grace period for calls in flight.
func serveGrace(ctx context.Context, c Common, srv *grpcx.Server, grace time.Duration) error {
	lis, err := grpcx.Listen(c.Listen)
	if err != nil {
		return err
	}
	return serveOn(ctx, c, srv, lis, grace)
}

// serveOn serves srv on an open listener.
func serveOn(ctx context.Context, c Common, srv *grpcx.Server, lis net.Listener, grace time.Duration) error {
	stopOps, err := startOps(c, srv)
	if err != nil {
		lis.Close()
		return err
	}
	if c.Ready != nil {
		c.Ready(lis.Addr().String())
	}
	c.Log.InfoContext(ctx, "serving", "addr", lis.Addr().String())
	err = srv.Serve(ctx, lis, grace)
	return errors.Join(err, stopOps())
}

func openDB(ctx context.Context, c Common, m sqlstore.Migrations, opts ...sqlstore.Option) (*sqlstore.DB, error) {
	if c.DBMaxConns > 0 {
		opts = append(opts, sqlstore.MaxConns(c.DBMaxConns))
	}
	db, err := sqlstore.Open(ctx, c.DSN, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, m); err != nil {
		db.Close()
		return nil, err
	}
	// Its pool in the metrics for as long as the service runs.
	context.AfterFunc(ctx, db.Instrument(ctx, m.Component))
	return db, nil
}

// FXConfig configures the FX service.
type FXConfig struct {
	Common
	FX fx.Config
	// Etcd holds the partners' FX terms (the routing table), the rates
	// every replica prices from, and the election of the one replica
	// that ingests them.
	Etcd      []string
	Candidate string
	// Providers are the rate feeds the elected replica ingests.
	Providers []Provider
	// StaticRates are the rates of a "static" provider.
	StaticRates []feed.StaticRate
}

// RunFX runs the FX service until ctx ends: every replica prices quotes
// from the rates it holds in memory, kept current by a watch on etcd, and
// the replica elected for it ingests the providers' feeds.
func RunFX(ctx context.Context, cfg FXConfig) error {
	if err := cfg.Common.validate(true); err != nil {
		return fmt.Errorf("fx: %w", err)
	}
	if err := cfg.FX.Validate(); err != nil {
		return err
	}
	if len(cfg.Etcd) == 0 {
		return errors.New("fx: etcd endpoints are required (partner terms, rates and the ingestion election)")
	}
	if len(cfg.Providers) == 0 {
		return errors.New("fx: at least one rate provider is required")
	}
	db, err := openDB(ctx, cfg.Common, fx.Migrations)
	if err != nil {
		return err
	}
	defer db.Close()
	cli, err := cfg.connectEtcd("fx", cfg.Etcd)
	if err != nil {
		return err
	}
	defer cli.Close()
	feeds, closeFeeds, err := cfg.feeds()
	if err != nil {
		return err
	}
	defer closeFeeds()
	routes := router.NewWatcher(cli, cfg.Log)
	routes.CacheFile = cfg.RoutingCache
	loadCtx, cancelLoad := context.WithTimeout(ctx, 10*time.Second)
	err = routes.Start(loadCtx)
	cancelLoad()
	if err != nil {
		return fmt.Errorf("fx: routing table (partner FX terms): %w", err)
	}
	// Quote writes are group-committed: concurrent quotes and locks share
	// statements (ADR 0019).
	batchCtx, stopBatches := context.WithCancel(ctx)
	defer stopBatches()
	store := fx.NewBatchingStore(batchCtx, db, 128)
	book := fx.NewBook(cfg.FX.Book)
	rates := fx.NewWatcher(cli, book, cfg.Log)
	svc := fx.NewService(cfg.FX, store, book, routingTerms{routes, cli}, nil)
	srv, err := newServer(cfg.Common, "fx", fxPolicy)
	if err != nil {
		return err
	}
	fxv1.RegisterFxServiceServer(srv, fx.NewServer(svc, store, rates, func(ctx context.Context) string {
		l, _, ok, err := election.Leader(ctx, cli, fx.IngestElection)
		if err != nil || !ok {
			return ""
		}
		return l
	}))
	if cfg.Candidate == "" {
		cfg.Candidate = candidateID()
	}
	lis, advertise, err := cfg.listenAdvertised()
	if err != nil {
		return err
	}
	defer lis.Close()
	in := &fx.Ingestor{Feeds: feeds, Store: store, Etcd: cli, Book: cfg.FX.Book, Log: cfg.Log, Candidate: cfg.Candidate}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rates.Run(gctx) })
	g.Go(func() error { return routes.Run(gctx) }) // partners' terms, changed live
	g.Go(func() error {
		return election.Run(gctx, cli, cfg.electionConfig("fx", fx.IngestElection, cfg.Candidate, advertise), in.Lead)
	})
	g.Go(func() error {
		// Serve once this replica holds rates (or after a while without:
		// it then answers RATE_NOT_AVAILABLE saying why), so a replica
		// that just started does not refuse the first quotes.
		wctx, cancel := context.WithTimeout(gctx, 10*time.Second)
		defer cancel()
		for len(book.Pairs()) == 0 && wctx.Err() == nil {
			select {
			case <-wctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		if len(book.Pairs()) == 0 && gctx.Err() == nil {
			cfg.Log.WarnContext(gctx, "serving without rates: no provider has published yet")
		}
		return serveOn(gctx, cfg.Common, srv, lis, GracePeriod)
	})
	return g.Wait()
}

// routingTerms reads partners' FX terms from the routing table.
type routingTerms struct {
	w   *router.Watcher
	cli *clientv3.Client
}

func (r routingTerms) Terms(partnerID string) (fx.Terms, error) {
	p, ok := r.w.Table().Partners[partnerID]
	if !ok {
		// A partner onboarded a moment ago may have reached the acquirer's
		// table before this one's: read the table once more before saying
		// no (only the acquirer calls, for partners it knows).
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p, ok, _ = router.GetPartner(ctx, r.cli, partnerID)
	}
	if !ok {
		return fx.Terms{}, rpcerr.New(rpcerr.PartnerNotFound, "partner %s is not in the routing table", partnerID)
	}
	t := fx.Terms{WalletCurrency: p.Currency, SettlementCurrency: p.SettlementCurrency}
	for _, m := range p.FXMarkup {
		t.Tiers = append(t.Tiers, fx.Tier{FromMinor: m.FromMinor, Bps: m.Bps})
	}
	return t, nil
}

// RiskConfig configures the risk service.
type RiskConfig struct {
	Common
	// Seed, if set, is written as the policy when none was ever
	// configured (the demo's); otherwise the policy is what operators put
	// through the risk API.
	Seed *risk.Policy
	// Etcd, if set, is where the replicas find each other to share
	// velocity (ADR 0014, "Membership"): each registers its address
	// (Advertise, or the listening address) under RiskPeersPrefix and
	// streams to every other one registered.
	Etcd []string
	// Peers, if set, are the other risk replicas' addresses, used instead
	// of the membership in Etcd (a fixed set: tests, an override).
	Peers []string
	// ModelFile, if set, is the model loaded at start instead of the
	// committed one.
	ModelFile string
	// PolicyPoll is how often the policy version is checked (default 1s).
	PolicyPoll time.Duration
	// Candidate names this replica to its peers (default: host name and
	// pid).
	Candidate string
}

// RunRisk runs the risk service until ctx ends.
func RunRisk(ctx context.Context, cfg RiskConfig) error {
	if err := cfg.Common.validate(true); err != nil {
		return fmt.Errorf("risk: %w", err)
	}
	if cfg.Candidate == "" {
		cfg.Candidate = candidateID()
	}
	// Risk decides in one statement per payment that touches only the
	// payment's and its user's rows (conditional upserts): read committed
	// suffices, and spares the predicate locks of serializable scans. Its
	// batch statement takes arrays, which PostgreSQL would plan again at
	// every execution: plan once per connection.
	db, err := openDB(ctx, cfg.Common, risk.Migrations, sqlstore.GenericPlans())
	if err != nil {
		return err
	}
	defer db.Close()
	policy := risk.NewPolicyStore(db, nil)
	if cfg.Seed != nil {
		if err := policy.Seed(ctx, *cfg.Seed, "demo"); err != nil {
			return err
		}
	}
	opts := risk.Options{Replica: cfg.Candidate}
	if cfg.ModelFile != "" {
		m, err := model.LoadFile(cfg.ModelFile)
		if err != nil {
			return fmt.Errorf("risk: %w", err)
		}
		opts.Model = model.NewHolder(m, cfg.ModelFile)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Decisions are group-committed: concurrent payments share statements.
	// One worker: a second would split the crowd into smaller batches, and
	// the statement's cost is mostly per statement (ADR 0019).
	svc, err := risk.NewService(risk.NewBatchingStore(ctx, db, 1, 128), opts)
	if err != nil {
		return err
	}
	// Start on the policy in force: a replica never decides on none.
	p, err := policy.Load(ctx)
	if err != nil {
		return err
	}
	if err := svc.SetPolicy(p); err != nil {
		cfg.Log.Error("risk: rules refused", "err", err)
	}
	if err := svc.UseModel(ctx, policy, p.ModelID); err != nil {
		cfg.Log.Error("risk: the stored model refused; the committed one is in force", "err", err)
	}
	// Start on the day's windows and the month's totals, not on nothing.
	replayed, err := svc.Rebuild(ctx, db)
	if err != nil {
		return err
	}
	if replayed == risk.RebuildLimit {
		cfg.Log.Warn("risk: the day's windows were rebuilt from the newest payments only", "payments", replayed)
	}
	poll := cfg.PolicyPoll
	if poll <= 0 {
		poll = time.Second
	}
	cases := risk.NewCases(db, nil)
	alerts, err := risk.NewAlerter(db, cases, risk.DefaultAlerts, nil)
	if err != nil {
		return err
	}
	go svc.WatchPolicy(ctx, policy, poll, func(err error) { cfg.Log.Warn("risk: policy not read", "err", err) })
	go risk.OpenReviewCases(ctx, db, cases, poll, func(err error) { cfg.Log.Warn("risk: review cases not opened", "err", err) })
	go alerts.Run(ctx, time.Minute, func(err error) { cfg.Log.Warn("risk: alerts not run", "err", err) })
	go svc.Maintain(ctx, time.Minute)
	srv, err := newServer(cfg.Common, "risk", riskPolicy)
	if err != nil {
		return err
	}
	riskv1.RegisterRiskServiceServer(srv, risk.NewServer(svc))
	riskv1.RegisterRiskPeerServiceServer(srv, svc.Sharer())
	riskv1.RegisterRiskAdminServiceServer(srv, risk.NewAdminServer(db, policy, cases))
	lis, advertise, err := cfg.listenAdvertised()
	if err != nil {
		return err
	}
	defer lis.Close()
	// The peers to share velocity with: the fixed list if given, else the
	// replicas registered in etcd.
	var peers func() []string
	switch {
	case len(cfg.Peers) > 0:
		peers = func() []string { return cfg.Peers }
	case len(cfg.Etcd) > 0:
		cli, err := cfg.connectEtcd("risk", cfg.Etcd)
		if err != nil {
			return err
		}
		defer cli.Close()
		if advertise == "" {
			cfg.Log.Warn("risk: no address to advertise (listening on an unspecified host without --advertise): the other replicas will not share velocity with this one")
		}
		members := newPeerMembership(cli, RiskPeersPrefix, cfg.Candidate, advertise, riskPeersTTL, cfg.Log)
		left := make(chan struct{})
		go func() { defer close(left); _ = members.Run(ctx) }()
		// Leave (revoke the lease) before the client closes.
		defer func() { cancel(); <-left }()
		peers = members.Peers
	}
	if peers != nil {
		// Replicas are dialled at their advertised addresses (pod IPs),
		// which their certificates need not name: peerDialOptions checks
		// the chain and that the peer is risk.
		toPeers, err := cfg.peerDialOptions("risk")
		if err != nil {
			return err
		}
		toPeers = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, toPeers...)
		go func() {
			_ = svc.Sharer().Run(ctx, 5*time.Millisecond, peers,
				func(ctx context.Context, addr string) (riskv1.RiskPeerServiceClient, io.Closer, error) {
					conn, err := grpc.NewClient("passthrough:///"+addr, toPeers...)
					if err != nil {
						return nil, nil, err
					}
					return riskv1.NewRiskPeerServiceClient(conn), conn, nil
				})
		}()
	}
	return serveOn(ctx, cfg.Common, srv, lis, GracePeriod)
}

// SettlementConfig configures the settlement service.
type SettlementConfig struct {
	Common
	// CycleInterval closes the cycle of each partner without a daily
	// cutoff of its own (routing table: settlement_cutoff) at every
	// multiple of it (UTC), in the replica elected through Etcd; zero
	// closes none of theirs (their cycles are then closed by CloseCycle
	// calls only). Partners with a daily cutoff get a cycle at it.
	CycleInterval time.Duration
	// Etcd elects the replicas that close cycles and link the audit log.
	Etcd      []string
	Candidate string
}

// RunSettlement runs the settlement service until ctx ends.
func RunSettlement(ctx context.Context, cfg SettlementConfig) error {
	if err := cfg.Common.validate(true); err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	if len(cfg.Etcd) == 0 {
		return errors.New("settlement: etcd endpoints are required (they elect the replicas that close cycles and link the audit log)")
	}
	db, err := openDB(ctx, cfg.Common, settlement.Migrations)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, audit.Migrations); err != nil {
		return err
	}
	svc := settlement.NewService(settlement.NewSQLStore(db), nil)
	defer settlement.ReportCutoffs(settlement.NewSQLStore(db))()
	srv, err := newServer(cfg.Common, "settlement", settlementPolicy)
	if err != nil {
		return err
	}
	settlementv1.RegisterSettlementServiceServer(srv, settlement.NewServer(svc))
	cli, err := cfg.connectEtcd("settlement", cfg.Etcd)
	if err != nil {
		return err
	}
	defer cli.Close()
	if cfg.Candidate == "" {
		cfg.Candidate = candidateID()
	}
	lis, advertise, err := cfg.listenAdvertised()
	if err != nil {
		return err
	}
	defer lis.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return runAuditLinker(ctx, cli, db, cfg.electionConfig("settlement", "", cfg.Candidate, advertise))
	})
	// The partners' cutoffs come from the routing table.
	routes := router.NewWatcher(cli, cfg.Log)
	routes.CacheFile = cfg.RoutingCache
	loadCtx, cancelLoad := context.WithTimeout(ctx, 10*time.Second)
	err = routes.Start(loadCtx)
	cancelLoad()
	if err != nil {
		return fmt.Errorf("settlement: routing table (partners' cutoffs and fees): %w", err)
	}
	svc.SetFees(routingFees{routes})
	g.Go(func() error { return routes.Run(ctx) })
	g.Go(func() error {
		return election.Run(ctx, cli, cfg.electionConfig("settlement", "settlement-cutoff", cfg.Candidate, advertise),
			func(ctx context.Context, term election.Term) error {
				return svc.RunCutoffs(ctx, term.Revision, func() []settlement.Schedule {
					return cutoffSchedules(routes.Table(), cfg.CycleInterval)
				}, func(err error) {
					cfg.Log.ErrorContext(ctx, "closing a settlement cycle", "err", err)
				})
			})
	})
	g.Go(func() error { return serveOn(ctx, cfg.Common, srv, lis, GracePeriod) })
	return g.Wait()
}

// RouterConfig configures the router.
type RouterConfig struct {
	Common
	// Etcd lists the etcd endpoints holding the routing table.
	Etcd []string
}

// RunRouter runs the router until ctx ends.
func RunRouter(ctx context.Context, cfg RouterConfig) error {
	if err := cfg.Common.validate(false); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	if len(cfg.Etcd) == 0 {
		return errors.New("router: etcd endpoints are required")
	}
	cli, err := cfg.connectEtcd("router", cfg.Etcd)
	if err != nil {
		return err
	}
	defer cli.Close()
	w := router.NewWatcher(cli, cfg.Log)
	w.CacheFile = cfg.RoutingCache
	loadCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = w.Start(loadCtx)
	cancel()
	if err != nil {
		return err
	}
	toNetworks, err := cfg.security(authn.Service, "router").dialOptions("networks")
	if err != nil {
		return err
	}
	pool := grpcx.NewPool(cfg.CallTimeout, toNetworks...)
	defer pool.Close()
	cfg.Common.audit = func(ctx context.Context, e audit.Entry) error { return router.AppendAudit(ctx, cli, e) }
	srv, err := newServer(cfg.Common, "router", routerPolicy)
	if err != nil {
		return err
	}
	routerv1.RegisterRouterServiceServer(srv, router.NewServer(router.NewService(w, pool), w))
	routerv1.RegisterRoutingAdminServiceServer(srv, router.NewAdminServer(cli))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error { return serve(ctx, cfg.Common, srv) })
	return g.Wait()
}

// AcquirerConfig configures the acquirer.
type AcquirerConfig struct {
	Common
	Router, FX, Risk, Settlement string // gRPC targets
	// PosterInterval is how often deferred ledger postings are retried.
	PosterInterval time.Duration
	// Etcd lists the endpoints of the etcd that elects the replica running
	// the resolver and the event relay.
	Etcd []string
	// Candidate names this replica in the election (host name when empty).
	Candidate string
	// Lifecycle tunes cancels and the resolver (acquirer.DefaultConfig when zero).
	Lifecycle acquirer.Config
	// Limits are every partner's and network's quotas at the acquirer
	// unless the routing table gives a partner its own (DefaultLimits
	// when zero).
	Limits quota.Limits
	// WrapStore, if set, wraps the acquirer's store: tests inject write
	// failures with it.
	WrapStore func(acquirer.Store) acquirer.Store
}

// RunAcquirer runs the acquirer until ctx ends. On stop it reports
// NOT_SERVING, lets requests in flight finish for longer than the
// processing bound (what a request leaves unfinished is in rows the
// resolver owns), and only then closes the database.
func RunAcquirer(ctx context.Context, cfg AcquirerConfig) error {
	if err := cfg.Common.validate(true); err != nil {
		return fmt.Errorf("acquirer: %w", err)
	}
	sec := cfg.security(authn.Service, "acquirer")
	internal, err := sec.dialOptions("unigate")
	if err != nil {
		return err
	}
	toNetworks, err := sec.dialOptions("networks")
	if err != nil {
		return err
	}
	toPartners, err := sec.dialOptions("partners")
	if err != nil {
		return err
	}
	targets := map[string]string{"router": cfg.Router, "fx": cfg.FX, "risk": cfg.Risk, "settlement": cfg.Settlement}
	conns := map[string]*grpc.ClientConn{}
	for name, t := range targets {
		if t == "" {
			return fmt.Errorf("acquirer: the %s target is required", name)
		}
		c, err := grpcx.Dial(t, cfg.CallTimeout, internal...)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[name] = c
	}
	if cfg.PosterInterval <= 0 {
		cfg.PosterInterval = 5 * time.Second
	}
	if cfg.Lifecycle.Schedule == nil {
		cfg.Lifecycle = acquirer.DefaultConfig()
	}
	cfg.Lifecycle = cfg.Lifecycle.WithDefaults()
	if err := cfg.Lifecycle.Validate(); err != nil {
		return err
	}
	if len(cfg.Etcd) == 0 {
		return errors.New("acquirer: etcd endpoints are required (they elect the resolver)")
	}
	if cfg.Candidate == "" {
		cfg.Candidate = candidateID()
	}
	cli, err := cfg.connectEtcd("acquirer", cfg.Etcd)
	if err != nil {
		return err
	}
	defer cli.Close()
	db, err := openDB(ctx, cfg.Common, acqstore.Migrations)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, audit.Migrations); err != nil {
		return err
	}
	cfg.Common.audit = func(ctx context.Context, e audit.Entry) error { return audit.Append(ctx, db, e) }
	networks := grpcx.NewPool(cfg.CallTimeout, toNetworks...)
	defer networks.Close()
	wallets := grpcx.NewPool(cfg.CallTimeout, toPartners...)
	defer wallets.Close()
	// The MPM request path's insert and success are group-committed:
	// concurrent payments share statements (ADR 0019).
	batchCtx, stopBatches := context.WithCancel(ctx)
	defer stopBatches()
	sqlSt := acqstore.NewBatching(batchCtx, db, 128)
	defer acquirer.ReportBacklog(sqlSt.Backlog)()
	var st acquirer.Store = sqlSt
	if cfg.WrapStore != nil {
		st = cfg.WrapStore(st)
	}
	routes := router.NewWatcher(cli, cfg.Log)
	routes.CacheFile = cfg.RoutingCache
	loadCtx, cancelLoad := context.WithTimeout(ctx, 10*time.Second)
	err = routes.Start(loadCtx)
	cancelLoad()
	if err != nil {
		return fmt.Errorf("acquirer: routing table (limits, signing keys, resolved codes): %w", err)
	}
	deps := grpcapi.Deps(st, grpcapi.Conns{Router: conns["router"], FX: conns["fx"], Risk: conns["risk"],
		Settlement: conns["settlement"], Networks: networks, Wallets: wallets})
	// The router's answers for a code, kept until the routing table this
	// process watches changes (or for grpcapi.ResolveTTL): a wallet
	// resolves a code up to three times per payment.
	deps.Router = grpcapi.CachedRouter(deps.Router, func() int64 { return routes.Table().Revision },
		func(id string) bool { p, ok := routes.Table().Partners[id]; return ok && !p.Disabled }, grpcapi.ResolveTTL)
	svc := acquirer.NewService(deps, cfg.Lifecycle, cfg.Log, nil)
	if cfg.Limits == (quota.Limits{}) {
		cfg.Limits = DefaultLimits()
	}
	limiter := quota.NewLimiter(nil)
	limiter.SetDefault(cfg.Limits)
	verifier := signatureVerifier(routes, sqlSt.SeenRequest)
	edge, err := edgeOptions(cfg.Common, limiter, verifier)
	if err != nil {
		return err
	}
	srv, err := newServer(cfg.Common, "acquirer", acquirerPolicy, edge...)
	if err != nil {
		return err
	}
	lis, advertise, err := cfg.listenAdvertised()
	if err != nil {
		return err
	}
	defer lis.Close()
	partnerv1.RegisterPartnerServiceServer(srv, grpcapi.NewPartnerServer(svc))
	acquiringv1.RegisterAcquiringServiceServer(srv, grpcapi.NewAcquiringServer(svc))
	acquiringv1.RegisterOperatorServiceServer(srv, grpcapi.NewOperatorServer(sqlSt))
	bound := cfg.Lifecycle.ProcessBound
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.RunPoster(gctx, cfg.PosterInterval) })
	g.Go(func() error { return applyPartnerLimits(gctx, routes, limiter, cfg.Log) })
	g.Go(func() error { // forget request ids whose window has passed
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if _, err := sqlSt.PurgeRequestIDs(gctx, time.Now()); err != nil && gctx.Err() == nil {
					cfg.Log.WarnContext(gctx, "purging request ids", "err", err)
				}
			}
		}
	})
	g.Go(func() error {
		return runAuditLinker(gctx, cli, db, cfg.electionConfig("acquirer", "", cfg.Candidate, advertise))
	})
	g.Go(func() error {
		// Every replica moves the router's audit entries from etcd into
		// the log: the move is idempotent, and costs one empty read a
		// second when there is nothing to move.
		importRoutingAudit(gctx, cli, db, time.Second, func(err error) { cfg.Log.WarnContext(gctx, "importing routing audit", "err", err) })
		return nil
	})
	g.Go(func() error {
		return election.Run(gctx, cli, cfg.electionConfig("acquirer", acquirer.SingletonName, cfg.Candidate, advertise), svc.Lead)
	})
	g.Go(func() error {
		err := serveOn(gctx, cfg.Common, srv, lis, bound+time.Second)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), bound)
		defer cancel()
		if derr := svc.Drain(dctx); derr != nil {
			cfg.Log.WarnContext(dctx, "requests still in flight at stop; the resolver finishes them", "err", derr)
		}
		return err
	})
	return g.Wait()
}

// runAuditLinker links the new entries of db's audit log into its hash
// chain in the one replica elected for that log: services sharing a
// database campaign in the same election (named by the log's ChainID),
// whichever service they are. The linker claims its term as the log's
// fence, so a deposed linker links nothing.
func runAuditLinker(ctx context.Context, cli *clientv3.Client, db *sqlstore.DB, cfg election.Config) error {
	chain, err := audit.ChainID(ctx, db)
	if err != nil {
		return err
	}
	cfg.Name = "audit-linker-" + chain
	log := cfg.Log
	return election.Run(ctx, cli, cfg,
		func(ctx context.Context, term election.Term) error {
			ok, err := audit.ClaimFence(ctx, db, term.Revision)
			if err != nil || !ok {
				return fmt.Errorf("audit linker: fence not claimed (%v)", err)
			}
			audit.Run(ctx, db, time.Second, func(err error) { log.WarnContext(ctx, "audit linker", "err", err) },
				audit.Fenced(term.Revision))
			return nil
		})
}

// MerchantSimConfig configures the merchant-network simulator.
type MerchantSimConfig struct {
	Common
	Sim merchantsim.Config
}

// RunMerchantSim runs the simulator until ctx ends.
func RunMerchantSim(ctx context.Context, cfg MerchantSimConfig) error {
	if err := cfg.Common.validate(false); err != nil {
		return fmt.Errorf("merchantsim: %w", err)
	}
	sim := merchantsim.New(cfg.Sim)
	opts, err := cfg.security(authn.Network, cfg.Sim.NetworkID).serverOptions(cfg.Common, merchantSimPolicy)
	if err != nil {
		return err
	}
	srv := grpcx.NewServer(cfg.Log, opts...)
	merchantv1.RegisterMerchantNetworkServiceServer(srv, sim)
	simulatorv1.RegisterMerchantSimulatorServiceServer(srv, sim)
	return serve(ctx, cfg.Common, srv)
}

// DefaultStaticRates are the demo's rates, for a "static" provider: the
// pairs the demo partners' wallets and settlement currencies need, direct
// for MNT, VND, SGD and HKD, through USD for KWD. No spread: the cost is
// the mid, and the partners' markups make the price.
func DefaultStaticRates() []feed.StaticRate {
	r := func(pair, mid string) feed.StaticRate {
		b, q, _ := strings.Cut(pair, "/")
		return feed.StaticRate{Base: b, Quote: q, Mid: money.MustRate(mid)}
	}
	return []feed.StaticRate{
		r("CNY/MNT", "480.25"), r("CNY/VND", "3450.5"), r("CNY/SGD", "0.1862"), r("CNY/HKD", "1.0834"),
		r("USD/CNY", "7.1"), r("USD/MNT", "3409.775"), r("USD/VND", "24498.55"), r("USD/SGD", "1.32202"),
		r("USD/HKD", "7.69214"), r("USD/KWD", "0.3075"), r("USD/BHD", "0.376"),
	}
}

// ParseStaticRates parses "CNY/MNT=480.25:10,USD/CNY=7.1" (BASE/QUOTE =
// mid rate, optionally : bid-ask spread in basis points).
func ParseStaticRates(s string) ([]feed.StaticRate, error) {
	var out []feed.StaticRate
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		pair, rest, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("rate %q: want BASE/QUOTE=MID[:SPREAD_BPS]", item)
		}
		p, err := fx.ParsePair(pair)
		if err != nil {
			return nil, err
		}
		mid, spread, hasSpread := strings.Cut(rest, ":")
		r, err := money.ParseRate(mid)
		if err != nil {
			return nil, fmt.Errorf("rate %q: %w", item, err)
		}
		bps := 0
		if hasSpread {
			if bps, err = strconv.Atoi(spread); err != nil {
				return nil, fmt.Errorf("rate %q: spread: %w", item, err)
			}
		}
		out = append(out, feed.StaticRate{Base: p.Base, Quote: p.Quote, Mid: r, SpreadBps: bps})
	}
	return out, nil
}

// DemoRisk is the demo's risk policy, seeded when none was configured:
// CNY limits of 50,000 per payment, 20,000 per user payment, 50,000 per
// user per day and 200,000 per month; a blocked user and gambling
// merchants blocked; two rules, one in shadow.
func DemoRisk() risk.Policy {
	return risk.Policy{
		Rules: risk.RuleSet{Version: 1, Rules: []rules.Rule{
			{ID: "probe.user", Expr: "user_count_1m > 10 && amount <= 500", Action: rules.Decline, Mode: rules.Enforce,
				Description: "a burst of small probes: more than ten payments of one user in a minute, this one of 5.00 or less"},
			{ID: "new-device.high", Expr: "new_device && amount >= 500000", Action: rules.Review, Mode: rules.Shadow,
				Description: "a new device paying 5,000 or more (shadow: measuring before enforcing)"},
		}},
		Lists: []risk.ListEntry{
			{List: risk.ListBlock, Kind: risk.KindUser, Value: "hipay/blocked-user", Note: "demo"},
			{List: risk.ListBlock, Kind: risk.KindMCC, Value: "7995", Note: "gambling"},
		},
		Limits: []risk.PartnerLimits{{PartnerID: "*", Currency: "CNY", PerPayment: 5000000, UserPerPayment: 2000000,
			UserDaily: 5000000, UserMonthly: 20000000}},
	}
}

// hostPort returns "127.0.0.1:0"-style addresses' resolved form.
func hostPort(addr string) string {
	if h, p, err := net.SplitHostPort(addr); err == nil && h == "" {
		return net.JoinHostPort("127.0.0.1", p)
	}
	return addr
}

// candidateID names this process in an election: host name and pid.
func candidateID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// cutoffSchedules is when each partner's cycles close: at its daily cutoff
// in its time zone, or at every multiple of interval (UTC) without one.
func cutoffSchedules(t *router.Table, interval time.Duration) []settlement.Schedule {
	out := make([]settlement.Schedule, 0, len(t.Partners))
	for id, p := range t.Partners {
		at, loc, err := router.ParseCutoff(p.SettlementCutoff, p.SettlementTimeZone)
		switch {
		case err != nil: // the router refuses it; a table written otherwise falls back
			out = append(out, settlement.Schedule{PartnerID: id, Interval: interval})
		case at >= 0:
			out = append(out, settlement.Schedule{PartnerID: id, Location: loc, Daily: at})
		default:
			out = append(out, settlement.Schedule{PartnerID: id, Interval: interval})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartnerID < out[j].PartnerID })
	return out
}

// routingFees reads the fee agreements from the routing table.
type routingFees struct{ w *router.Watcher }

func feeTiers(ts []router.FeeTier) []settlement.FeeTier {
	out := make([]settlement.FeeTier, len(ts))
	for i, t := range ts {
		out[i] = settlement.FeeTier{FromMinor: t.FromMinor, Bps: int64(t.Bps), FixedMinor: t.FixedMinor}
	}
	return out
}

func (r routingFees) PartnerFees(id string) []settlement.FeeTier {
	return feeTiers(r.w.Table().Partners[id].SettlementFees)
}

func (r routingFees) NetworkFees(id string) []settlement.FeeTier {
	return feeTiers(r.w.Table().Networks[id].SettlementFees)
}
