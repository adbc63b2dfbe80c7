package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/fx"
	"github.com/unigate/unigate/services/fx/feed"
	"github.com/unigate/unigate/services/fxsim"
	"github.com/unigate/unigate/services/merchantsim"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/walletsim"
)

// StackConfig configures a whole switch in one process.
type StackConfig struct {
	// DataDir holds the embedded etcd's data and the SQLite files.
	DataDir string
	// DSN, if set, is the one SQL back end of every service (PostgreSQL);
	// otherwise each service has an SQLite file in DataDir.
	DSN string
	// Etcd, if set, lists external etcd endpoints; otherwise an embedded
	// etcd runs in DataDir.
	Etcd []string
	// Host is the interface to listen on ("127.0.0.1").
	Host string
	// BasePort numbers the services from it (acquirer BasePort, router +1,
	// fx +2, risk +3, settlement +4, merchant simulator +5, etcd +6, wallet
	// simulator +7, rate simulator +8); 0 picks free ports.
	BasePort int
	// Rates overrides the static provider's rates (DefaultStaticRates
	// when nil).
	Rates []feed.StaticRate
	// Providers overrides the FX rate providers (one static provider of
	// Rates when nil).
	Providers []Provider
	// RateStaleness overrides the FX staleness limit (fx.DefaultConfig's
	// when zero).
	RateStaleness time.Duration
	// FXSim starts the rate providers' simulator (unigate fxsim) at
	// BasePort+8 and makes its three providers the FX service's, instead
	// of the static rates.
	FXSim bool
	// QuoteTTL is how long quotes hold (2 minutes when zero).
	QuoteTTL time.Duration
	// CallTimeout bounds each call between services (grpcx default when zero).
	CallTimeout time.Duration
	// Lifecycle tunes the acquirer's cancels and resolver (defaults when zero).
	Lifecycle acquirer.Config
	// CycleInterval closes settlement cycles automatically (none when zero).
	CycleInterval time.Duration
	// Limits are the acquirer's quotas per partner and network
	// (DefaultLimits when zero).
	Limits quota.Limits
	// Insecure runs every server in plaintext, callers naming themselves
	// in metadata: for local experiments only. Otherwise a development PKI
	// in DataDir/pki gives every server mutual TLS.
	Insecure bool
	// WrapAcquirerStore, if set, wraps the store of each acquirer replica
	// (named as in StartAcquirer): tests inject write failures with it.
	WrapAcquirerStore func(replica string, st acquirer.Store) acquirer.Store
	Log               *slog.Logger
}

// Stack is a running switch.
type Stack struct {
	// Addrs maps each service ("acquirer", "router", "fx", "risk",
	// "settlement", "merchantsim") to its gRPC address; "etcd" to the etcd
	// endpoint.
	Addrs  map[string]string
	cancel context.CancelFunc
	g      *errgroup.Group
	etcd   *etcdx.Embedded
	// etcdEndpoints are the etcd the stack's services use.
	etcdEndpoints []string
	dsn           func(service string) string
	stops         map[string]context.CancelFunc
	// start runs another service in the stack (see StartAcquirer).
	start func(name string, i int, run func(context.Context, Common) error) (string, error)
	// acquirer is the configuration acquirer replicas share.
	acquirer AcquirerConfig
	wrap     func(replica string, st acquirer.Store) acquirer.Store
	// Wallets are the demo partners' simulated wallets.
	Wallets *walletsim.Wallets
	// PKI is the development PKI (Dir is empty when the stack is insecure).
	PKI pki.Dev
}

// DefaultPartners are the demo's wallet partners, each with an 18-digit
// one-time code range; their WalletPartnerService is the wallet simulator.
func DefaultPartners() []router.Partner {
	markup := func(bps int) []router.MarkupTier { return []router.MarkupTier{{Bps: bps}} }
	code := func(prefix string) []router.CodeRange {
		return []router.CodeRange{{Prefix: prefix, Lengths: []int{18}}}
	}
	return []router.Partner{
		// Its cycle closes daily at 18:00 in Ulaanbaatar.
		{ID: "hipay", Name: "HiPay (Mongolia)", Currency: "MNT", CodeRanges: code("2899"), FXMarkup: markup(150),
			SettlementCutoff: "18:00", SettlementTimeZone: "Asia/Ulaanbaatar"},
		// Settles in USD: its VND payments owe USD at the quote's rates; its
		// cycle closes daily at 23:00 in Ho Chi Minh City.
		{ID: "zalopay", Name: "ZaloPay (Vietnam)", Currency: "VND", CodeRanges: code("2898"), SettlementCurrency: "USD",
			FXMarkup:         []router.MarkupTier{{FromMinor: 0, Bps: 100}, {FromMinor: 100_000, Bps: 70}},
			SettlementCutoff: "23:00", SettlementTimeZone: "Asia/Ho_Chi_Minh"},
		{ID: "liquidpay", Name: "LiquidPay (Singapore)", Currency: "SGD", CodeRanges: code("2897"), FXMarkup: markup(80)},
		{ID: "hkwallet", Name: "HK Wallet (Hong Kong)", Currency: "HKD", CodeRanges: code("2896"), FXMarkup: markup(60)},
		{ID: "cnbank", Name: "Domestic bank app", Currency: "CNY", CodeRanges: code("2895")},
		// A 3-digit currency priced through USD.
		{ID: "kwallet", Name: "K-Wallet (Kuwait)", Currency: "KWD", CodeRanges: code("2890"), FXMarkup: markup(50)},
	}
}

// StartStack starts every service and returns once all serve. On error
// nothing is left running.
func StartStack(ctx context.Context, cfg StackConfig) (_ *Stack, err error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Rates == nil {
		cfg.Rates = DefaultStaticRates()
	}
	if cfg.QuoteTTL == 0 {
		cfg.QuoteTTL = 2 * time.Minute
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	addr := func(i int) string {
		if cfg.BasePort == 0 {
			return net.JoinHostPort(cfg.Host, "0")
		}
		return net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.BasePort+i))
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(runCtx)
	s := &Stack{Addrs: map[string]string{}, cancel: cancel, g: g, stops: map[string]context.CancelFunc{}, dsn: func(service string) string {
		if cfg.DSN != "" {
			return cfg.DSN
		}
		return "sqlite://" + filepath.Join(cfg.DataDir, service+".db")
	}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	if !cfg.Insecure {
		if s.PKI, err = DevPKI(PKIDir(cfg.DataDir)); err != nil {
			return nil, err
		}
	}
	etcd := cfg.Etcd
	if len(etcd) == 0 {
		var sec *etcdx.ServerTLS
		if s.PKI.Dir != "" {
			crt, key := s.PKI.Cert(authn.Service, EtcdServer)
			sec = &etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: s.PKI.CA("unigate")}
		}
		e, err := etcdx.StartEmbeddedTLS(ctx, filepath.Join(cfg.DataDir, "etcd"), addr(6), sec)
		if err != nil {
			return nil, err
		}
		s.etcd = e
		etcd = []string{e.Endpoint}
	}
	s.Addrs["etcd"] = etcd[0]
	s.etcdEndpoints = etcd
	if s.etcd != nil && s.PKI.Dir != "" {
		// The embedded etcd is the stack's own: it gets Unigate's access
		// control. An external one is bootstrapped by its operator
		// (unigatectl etcd bootstrap).
		if err := s.bootstrapEtcd(ctx); err != nil {
			return nil, err
		}
	}

	common := func(service string, i int, ready chan<- string) Common {
		return Common{Listen: addr(i), DSN: s.dsn(service), Log: cfg.Log.With("service", service), CallTimeout: cfg.CallTimeout,
			Ready: func(a string) { ready <- hostPort(a) }, PKI: s.PKI.Dir,
			RoutingCache: filepath.Join(cfg.DataDir, "routing-cache.json")}
	}
	start := func(name string, i int, run func(context.Context, Common) error) (string, error) {
		ready := make(chan string, 1)
		c := common(name, i, ready)
		failed := make(chan error, 1)
		sctx, stop := context.WithCancel(gctx)
		s.stops[name] = stop
		g.Go(func() error {
			err := run(sctx, c)
			if err != nil {
				failed <- err
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
		select {
		case a := <-ready:
			s.Addrs[name] = a
			return a, nil
		case err := <-failed:
			return "", fmt.Errorf("%s: %w", name, err)
		case <-time.After(60 * time.Second):
			return "", fmt.Errorf("%s did not start within 60s", name)
		}
	}

	simCfg := merchantsim.DefaultConfig()
	simAddr, err := start("merchantsim", 5, func(sctx context.Context, c Common) error {
		return RunMerchantSim(sctx, MerchantSimConfig{Common: c, Sim: simCfg})
	})
	if err != nil {
		return nil, err
	}
	if s.Wallets, err = DefaultWallets(); err != nil {
		return nil, err
	}
	walletAddr, err := start("walletsim", 7, func(sctx context.Context, c Common) error {
		return serveWallets(sctx, c, s.Wallets)
	})
	if err != nil {
		return nil, err
	}
	if cfg.FXSim && cfg.Providers == nil {
		sim, err := fxsim.New(fxsim.DefaultConfig())
		if err != nil {
			return nil, err
		}
		fxsimAddr, err := start("fxsim", 8, func(sctx context.Context, c Common) error {
			return sim.Serve(sctx, fxsim.ServeConfig{GRPCAddr: c.Listen, Log: c.Log, Ready: func(a, _ string) { c.Ready(a) }})
		})
		if err != nil {
			return nil, err
		}
		for _, name := range sim.Config().Providers {
			cfg.Providers = append(cfg.Providers, Provider{Name: name, URL: "grpc://" + fxsimAddr})
		}
	}
	if cfg.Providers == nil {
		cfg.Providers = []Provider{{Name: "static", URL: "static"}}
	}
	if err := s.seedRouting(ctx, simCfg, simAddr, walletAddr); err != nil {
		return nil, err
	}
	if _, err := start("router", 1, func(sctx context.Context, c Common) error {
		return RunRouter(sctx, RouterConfig{Common: c, Etcd: etcd})
	}); err != nil {
		return nil, err
	}
	if _, err := start("fx", 2, func(sctx context.Context, c Common) error {
		fc := fx.DefaultConfig()
		fc.QuoteTTL = cfg.QuoteTTL
		if cfg.RateStaleness > 0 {
			fc.Book.Staleness = cfg.RateStaleness
		}
		return RunFX(sctx, FXConfig{Common: c, FX: fc, Etcd: etcd, Providers: cfg.Providers, StaticRates: cfg.Rates})
	}); err != nil {
		return nil, err
	}
	if _, err := start("risk", 3, func(sctx context.Context, c Common) error {
		demo := DemoRisk()
		return RunRisk(sctx, RiskConfig{Common: c, Seed: &demo})
	}); err != nil {
		return nil, err
	}
	if _, err := start("settlement", 4, func(sctx context.Context, c Common) error {
		return RunSettlement(sctx, SettlementConfig{Common: c, CycleInterval: cfg.CycleInterval, Etcd: etcd})
	}); err != nil {
		return nil, err
	}
	s.start = start
	s.acquirer = AcquirerConfig{Router: s.Addrs["router"], FX: s.Addrs["fx"], Risk: s.Addrs["risk"],
		Settlement: s.Addrs["settlement"], PosterInterval: time.Second, Etcd: etcd, Lifecycle: cfg.Lifecycle, Limits: cfg.Limits}
	s.wrap = cfg.WrapAcquirerStore
	if _, err := s.StartAcquirer("acquirer", 0); err != nil {
		return nil, err
	}
	return s, nil
}

// StartAcquirer starts an acquirer replica named name (its candidate id in
// the resolver's election) on port BasePort+port (or any), sharing the
// stack's database, etcd and services, and returns its address.
func (s *Stack) StartAcquirer(name string, port int) (string, error) {
	return s.start(name, port, func(ctx context.Context, c Common) error {
		cfg := s.acquirer
		cfg.Common, cfg.Candidate = c, name
		cfg.DSN = s.dsn("acquirer")
		if s.wrap != nil {
			cfg.WrapStore = func(st acquirer.Store) acquirer.Store { return s.wrap(name, st) }
		}
		return RunAcquirer(ctx, cfg)
	})
}

// StopEtcd stops the stack's embedded etcd, as an outage would: the
// services keep the routing table they last read.
func (s *Stack) StopEtcd() {
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// StopService stops one service of the stack ("acquirer", or a replica's
// name) gracefully, as SIGTERM would; the others keep running.
func (s *Stack) StopService(name string) {
	if stop, ok := s.stops[name]; ok {
		stop()
	}
}

// DefaultWallets are the simulated wallets of DefaultPartners.
func DefaultWallets() (*walletsim.Wallets, error) {
	var pws []walletsim.PartnerWallet
	for _, p := range DefaultPartners() {
		pws = append(pws, walletsim.PartnerWallet{PartnerID: p.ID, Currency: p.Currency, CodePrefix: p.CodeRanges[0].Prefix})
	}
	return walletsim.NewWallets(pws)
}

// RunWalletSim serves the demo partners' simulated wallets until ctx ends.
func RunWalletSim(ctx context.Context, c Common) error {
	ws, err := DefaultWallets()
	if err != nil {
		return err
	}
	return serveWallets(ctx, c, ws)
}

func serveWallets(ctx context.Context, c Common, ws *walletsim.Wallets) error {
	opts, err := c.security(authn.Partner, WalletSimID).serverOptions(c, walletSimPolicy)
	if err != nil {
		return err
	}
	lis, err := grpcx.Listen(c.Listen)
	if err != nil {
		return err
	}
	if c.Ready != nil {
		c.Ready(hostPort(lis.Addr().String()))
	}
	return unigate.ServeWalletPartner(ctx, lis, ws, opts...)
}

// Dial connects to one of the stack's servers ("acquirer", "merchantsim",
// …) as the identity kind/id of the stack's PKI (issuing its certificate
// if the PKI has none yet), trusting that server's CA. On an insecure
// stack it dials in plaintext.
func (s *Stack) Dial(service string, kind authn.Kind, id string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if s.PKI.Dir != "" {
		spec := pki.DevSpec{}
		switch kind {
		case authn.Partner:
			spec.Partners = []string{id}
		case authn.Network:
			spec.Networks = []string{id}
		case authn.Service:
			spec.Services = []string{id}
		case authn.Operator:
			spec.Operators = map[string]authn.Role{id: authn.Admin}
		}
		if _, err := pki.WriteDev(s.PKI.Dir, spec); err != nil {
			return nil, err
		}
		trust := "unigate"
		switch service {
		case "merchantsim":
			trust = "networks"
		case "walletsim":
			trust = "partners"
		}
		cfg, err := s.PKI.ClientConfig(kind, id, trust)
		if err != nil {
			return nil, err
		}
		sign, err := SigningOptions(s.PKI, kind, id)
		if err != nil {
			return nil, err
		}
		opts = append(append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, sign...), opts...)
	}
	return grpcx.Dial(s.Addrs[service], 30*time.Second, opts...)
}

// EtcdClient opens a client to the stack's etcd with the rights of its
// administrator (etcd's root role): for seeding and for tests.
func (s *Stack) EtcdClient() (*clientv3.Client, error) {
	return ConnectEtcd(s.PKI.Dir, authn.Service, EtcdAdmin, s.etcdEndpoints)
}

// bootstrapEtcd sets up etcd's access control, with the PKI's operators
// as readers.
func (s *Stack) bootstrapEtcd(ctx context.Context) error {
	cli, err := s.EtcdClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	ops, err := s.PKI.Operators()
	if err != nil {
		return err
	}
	return etcdx.Bootstrap(ctx, cli, EtcdAccess(ops...))
}

// seedRouting writes the demo's routing table into the stack's etcd.
func (s *Stack) seedRouting(ctx context.Context, sim merchantsim.Config, simAddr, walletAddr string) error {
	cli, err := s.EtcdClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return SeedRouting(ctx, cli, sim, simAddr, walletAddr, s.PKI)
}

// SeedRouting writes the demo partners (their WalletPartnerService at
// walletAddr, the wallet simulator) and the simulated network sim (at
// simAddr) into the routing table, through cli, which must have the etcd
// administrator's rights: the demo's onboarding. With a PKI (dev.Dir not
// empty) each entry carries its request-signing key from dev.
func SeedRouting(ctx context.Context, cli *clientv3.Client, sim merchantsim.Config, simAddr, walletAddr string, dev pki.Dev) error {
	keys := func(kind authn.Kind, id string) ([]router.SigningKey, error) {
		if dev.Dir == "" {
			return nil, nil
		}
		k, err := DevSigningKey(dev, kind, id)
		return []router.SigningKey{k}, err
	}
	var err error
	for _, p := range DefaultPartners() {
		p.Endpoint = walletAddr
		if p.SigningKeys, err = keys(authn.Partner, p.ID); err != nil {
			return err
		}
		if err := router.PutPartner(ctx, cli, p); err != nil {
			return err
		}
	}
	n := router.Network{ID: sim.NetworkID, Name: "Simulated CNY merchant network",
		Endpoint: simAddr, GUIDs: []string{sim.GUID}, URLIssuers: []string{sim.URLIssuer}, Country: "CN", Currency: "CNY"}
	if n.SigningKeys, err = keys(authn.Network, n.ID); err != nil {
		return err
	}
	return router.PutNetwork(ctx, cli, n)
}

// DSN returns the SQL back end of a service ("acquirer", …).
func (s *Stack) DSN(service string) string { return s.dsn(service) }

// Wait blocks until a service fails or the stack stops.
func (s *Stack) Wait() error { return s.g.Wait() }

// Stop stops every service, then etcd.
func (s *Stack) Stop() error {
	s.cancel()
	err := s.g.Wait()
	if s.etcd != nil {
		s.etcd.Close()
	}
	return err
}
