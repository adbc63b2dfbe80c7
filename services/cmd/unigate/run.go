package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/telemetry"
	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/merchantsim"
	"github.com/unigate/unigate/services/walletsim"
)

const usage = `usage: unigate <command> [flags]

commands:
  dev          run the whole switch in one process (embedded etcd and SQL by default) and the demo
  demo         run the demo against a running switch
  acquirer     the partner API and payment orchestration
  router       code classification and the routing table (etcd)
  fx           rates, quotes and quote locks
  risk         pre-transaction checks
  settlement   the double-entry ledger
  merchantsim  a merchant-network simulator
  walletsim    a wallet-partner simulator: WalletPartnerService for the demo partners
  fxsim        an FX rate provider simulator: providers' rates over gRPC and HTTP (docs/fxsim.md)
  etcd         an etcd member (TLS with --pki): alone, for running the services one by one, or one of a cluster
  cluster      every part of the switch as its own process, with replicas, supervised (docs/cluster.md)
  failover-test  measure failover against a running cluster (make failover-test)
  chaos        payments under random faults against a running cluster, then the invariants (make chaos; docs/chaos.md)
  bench        start a cluster, measure payments through it against baselines, ghz and profiles (make bench; docs/BENCHMARKS.md)
  health       check a server's gRPC health over its mutual TLS (a Kubernetes exec probe)

Run 'unigate <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, args)
	case "demo":
		return runDemo(ctx, args)
	case "health":
		return runHealth(ctx, args)
	case "etcd":
		return runEtcd(ctx, args)
	case "failover-test":
		return runFailoverTest(ctx, args, os.Stdout)
	case "chaos":
		return runChaos(ctx, args, os.Stdout)
	case "bench":
		return runBench(ctx, args, os.Stdout)
	case "cluster":
		return runCluster(ctx, args)
	case "fxsim":
		return runFXSim(ctx, args)
	case "acquirer", "router", "fx", "risk", "settlement", "merchantsim", "walletsim":
		return runService(ctx, cmd, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func logger(service, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return telemetry.NewLogger(os.Stderr, l, service)
}

// runWith runs a service with its loaded, valid settings: its traces
// exported (telemetry.Setup) and its logs at its level.
func runWith(ctx context.Context, s *settings) error {
	shutdown, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "unigate-" + s.service})
	if err != nil {
		return err
	}
	defer shutdown(context.WithoutCancel(ctx))
	s.common.Log = telemetry.NewLogger(os.Stderr, s.level, s.service)
	return s.run(ctx)
}

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dataDir := fs.String("data-dir", ".data", "where embedded etcd and SQLite keep their data")
	dsn := fs.String("dsn", env("UNIGATE_DSN", ""), "use this SQL back end (postgres://…) instead of embedded SQLite")
	etcd := fs.String("etcd", env("UNIGATE_ETCD", ""), "use these etcd endpoints instead of an embedded etcd")
	basePort := fs.Int("base-port", 7000, "first port: acquirer, then router, fx, risk, settlement, merchantsim, etcd (0: any free ports)")
	demo := fs.Bool("demo", true, "run the demo once everything serves")
	withFXSim := fs.Bool("fxsim", true, "price from three simulated rate providers (unigate fxsim, in this process); false: fixed demo rates")
	exit := fs.Bool("exit-after-demo", false, "stop after the demo; exit status says whether every step succeeded")
	logLevel := fs.String("log-level", env("UNIGATE_LOG_LEVEL", "error"), "service log level (the services' warnings would interleave with the demo)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	shutdown, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "unigate-dev"})
	if err != nil {
		return err
	}
	defer shutdown(context.WithoutCancel(ctx))
	// The demo should not keep a person waiting minutes: a snappier
	// resolver than production's (acquirer.DefaultConfig), same logic.
	cfg := app.StackConfig{DataDir: *dataDir, DSN: *dsn, BasePort: *basePort, Log: logger("", *logLevel),
		CallTimeout: 2 * time.Second,
		Lifecycle: acquirer.Config{CancelWindow: 24 * time.Hour, ReverseRetry: 10 * time.Second, Tick: 200 * time.Millisecond,
			Schedule: []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute}}}
	if *etcd != "" {
		cfg.Etcd = strings.Split(*etcd, ",")
	}
	cfg.FXSim = *withFXSim
	fmt.Println("Starting Unigate: embedded etcd, SQL store, five services and three simulators…")
	st, err := app.StartStack(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Stop()
	names := make([]string, 0, len(st.Addrs))
	for n := range st.Addrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("  %-11s %s\n", n, st.Addrs[n])
	}
	backend := "embedded SQLite in " + *dataDir
	if *dsn != "" {
		backend = "PostgreSQL"
	}
	fmt.Printf("  storage     %s\n", backend)
	if *demo {
		if err := demoAgainst(ctx, os.Stdout, func(service string, kind authn.Kind, id string) (*grpc.ClientConn, error) {
			return st.Dial(service, kind, id)
		}, "hipay", st.Wallets.Wallet("hipay")); err != nil {
			return fmt.Errorf("demo failed: %w", err)
		}
		if err := verifyBooks(ctx, os.Stdout, st); err != nil {
			return fmt.Errorf("demo failed: %w", err)
		}
		fmt.Println("\nDemo complete: every step answered as expected.")
	}
	if *exit {
		return nil
	}
	fmt.Println("\nServing. Certificates are in", st.PKI.Dir, "(see the README to call the API with grpcurl).")
	fmt.Println("Try: bin/unigatectl --pki", st.PKI.Dir, "--acquirer", st.Addrs["acquirer"], "payments get --partner hipay <payment id>")
	fmt.Println("Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		fmt.Println("\nStopping…")
		return nil
	case <-waitErr(st):
		return st.Wait()
	}
}

func waitErr(st *app.Stack) <-chan struct{} {
	ch := make(chan struct{})
	go func() { _ = st.Wait(); close(ch) }()
	return ch
}

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	acq := fs.String("acquirer", "127.0.0.1:7000", "acquirer address")
	sim := fs.String("merchantsim", "127.0.0.1:7005", "merchant simulator address")
	settlement := fs.String("settlement", "127.0.0.1:7004", "settlement address")
	partner := fs.String("partner", "hipay", "wallet partner to pay as")
	pkiDir := fs.String("pki", env("UNIGATE_PKI", ""), "development PKI directory (unigatectl certs dev); empty: plaintext")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addrs := map[string]string{"acquirer": *acq, "merchantsim": *sim, "settlement": *settlement}
	dev := pki.Dev{Dir: *pkiDir}
	if err := demoAgainst(ctx, os.Stdout, func(service string, kind authn.Kind, id string) (*grpc.ClientConn, error) {
		var opts []grpc.DialOption
		if dev.Dir != "" {
			trust := "unigate"
			if service == "merchantsim" {
				trust = "networks"
			}
			cfg, err := dev.ClientConfig(kind, id, trust)
			if err != nil {
				return nil, err
			}
			sign, err := app.SigningOptions(dev, kind, id)
			if err != nil {
				return nil, err
			}
			opts = append(append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg))), sign...)
		}
		return grpcx.Dial(addrs[service], 10*time.Second, opts...)
	}, *partner, nil); err != nil {
		return err
	}
	fmt.Println("\nDemo complete: every step answered as expected.")
	return nil
}

// dialer connects to a service of the switch as an identity.
type dialer func(service string, kind authn.Kind, id string) (*grpc.ClientConn, error)

// demoAgainst runs the demo: the wallet calls as its partner, the POS and
// back office as the merchant network, the simulator and settlement steps
// as an operator. backend is the partner's simulated wallet when it runs
// in this process (the consumer-presented steps need it).
func demoAgainst(ctx context.Context, out io.Writer, dial dialer, partner string, backend *unigate.MemoryWallet) error {
	conns := make([]interface{ Close() error }, 0, 4)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	connect := func(service string, kind authn.Kind, id string) (*grpcConn, error) {
		c, err := dial(service, kind, id)
		if err == nil {
			conns = append(conns, c)
		}
		return c, err
	}
	networkID := merchantsim.DefaultConfig().NetworkID
	a, err := connect("acquirer", authn.Partner, partner)
	if err != nil {
		return err
	}
	n, err := connect("acquirer", authn.Network, networkID)
	if err != nil {
		return err
	}
	s, err := connect("merchantsim", authn.Operator, "admin")
	if err != nil {
		return err
	}
	l, err := connect("settlement", authn.Operator, "admin")
	if err != nil {
		return err
	}
	d := &walletsim.Demo{Wallet: walletsim.New(partner, a), Simulator: simulatorv1.NewMerchantSimulatorServiceClient(s),
		Settlement: settlementv1.NewSettlementServiceClient(l), Out: out,
		Network: acquiringv1.NewAcquiringServiceClient(n), NetworkID: networkID, Backend: backend}
	return d.Run(ctx)
}

type grpcConn = grpc.ClientConn

// verifyBooks runs `unigatectl ledger verify` over the stack's databases
// once the demo is done: the acquirer's and the ledger's tables in one
// database (PostgreSQL), or the ledger's SQLite file with the acquirer's
// attached.
func verifyBooks(ctx context.Context, out io.Writer, st *app.Stack) error {
	fmt.Fprintf(out, "\n== 12. The books are proved: unigatectl ledger verify\n")
	db, err := sqlstore.Open(ctx, st.DSN("settlement"))
	if err != nil {
		return err
	}
	defer db.Close()
	if acq := st.DSN("acquirer"); acq != st.DSN("settlement") {
		path, ok := strings.CutPrefix(acq, "sqlite://")
		if !ok {
			return fmt.Errorf("ledger verify needs the acquirer's and the ledger's tables in one database")
		}
		// One connection (SQLite's pool has one): the attachment lasts.
		if _, err := db.ExecContext(ctx, `ATTACH DATABASE '`+strings.ReplaceAll(path, "'", "''")+`' AS acquirer`); err != nil {
			return fmt.Errorf("attach the acquirer's database: %w", err)
		}
	}
	// The payments' postings follow their answers by milliseconds.
	var vs []app.Violation
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if vs, err = app.VerifyLedger(ctx, db); err != nil {
			return fmt.Errorf("ledger verify: %w", err)
		}
		if len(vs) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, v := range vs {
		fmt.Fprintf(out, "   VIOLATION %s\n", v)
	}
	if len(vs) > 0 {
		return fmt.Errorf("ledger verify: %d violations", len(vs))
	}
	fmt.Fprintf(out, "   every posting balances, no money created or lost, statements equal their cycles, every movement posted once: 0 violations\n")
	return nil
}
