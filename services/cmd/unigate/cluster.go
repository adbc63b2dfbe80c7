package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/merchantsim"
)

// `unigate cluster` runs every part of the switch as its own process on
// this machine, with replicas: three etcd members, two replicas of each
// service, the two simulators. See docs/cluster.md.

// clusterConfig configures `unigate cluster`.
type clusterConfig struct {
	// Dir holds the PKI, the logs, etcd's data, cluster.json and the
	// control socket.
	Dir string
	// BasePort numbers the port plan (see clusterPlan).
	BasePort int
	// DSN is every service's PostgreSQL database; the cluster creates it.
	DSN string
	// Fresh starts on an empty database and empty etcd members, and
	// removes etcd's data on stop. Without it both are kept for the next
	// start: they go together, since the database holds etcd revisions
	// (the fences of elected leaders).
	Fresh bool
	// Cycle is the settlement replicas' --cycle.
	Cycle time.Duration
	// LogLevel is the children's --log-level.
	LogLevel string
	// Pprof has the services serve Go's profiles beside their metrics
	// (their --pprof).
	Pprof bool
}

// clusterDBConns is each service replica's connection bound (its
// --db-max-conns).
const clusterDBConns = 8

// DefaultClusterDSN is the cluster's database unless --dsn or UNIGATE_DSN
// says otherwise.
const DefaultClusterDSN = "postgres://postgres@127.0.0.1:5432/unigate_cluster?sslmode=disable"

// childStartTimeout bounds how long a child may take to serve.
const childStartTimeout = 60 * time.Second

// Validate reports a configuration the cluster cannot run with.
func (c clusterConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("cluster: --dir is required")
	}
	if c.BasePort <= 0 || c.BasePort+clusterPorts > 65536 {
		return fmt.Errorf("cluster: --base-port %d: the plan needs ports %d to %d", c.BasePort, c.BasePort, c.BasePort+clusterPorts-1)
	}
	if _, err := databaseName(c.DSN); err != nil {
		return err
	}
	return nil
}

// The port plan: offsets from the base port.
const (
	portEtcd        = 0  // client URLs of etcd-1..3: base+0..2
	portEtcdPeer    = 10 // peer URLs: base+10..12
	portAcquirer    = 20 // acquirer-1, acquirer-2: base+20, 21; then router, fx, risk, settlement
	portMerchantSim = 30
	portWalletSim   = 31
	portFXSim       = 32 // the rate providers' simulator (gRPC)
	portMetrics     = 40 // Prometheus metrics of acquirer-1, acquirer-2, …: base+40..49, in the services' order
	// clusterPorts is the size of the plan's range, base+0..base+49.
	clusterPorts = 50
	etcdMembers  = 3
	replicas     = 2
)

// clusterServices are the replicated services, in port order from
// portAcquirer.
var clusterServices = []string{"acquirer", "router", "fx", "risk", "settlement"}

// clusterPlan lays the cluster out on 127.0.0.1 from a base port.
type clusterPlan struct {
	base int
	dir  string
	pki  pki.Dev
}

func (p clusterPlan) addr(offset int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.base+offset))
}

// ports lists every port the plan uses.
func (p clusterPlan) ports() []int {
	var out []int
	for i := range etcdMembers {
		out = append(out, p.base+portEtcd+i, p.base+portEtcdPeer+i)
	}
	for i := range len(clusterServices) * replicas {
		out = append(out, p.base+portAcquirer+i, p.base+portMetrics+i)
	}
	return append(out, p.base+portMerchantSim, p.base+portWalletSim, p.base+portFXSim)
}

// etcdEndpoints are the members' client URLs.
func (p clusterPlan) etcdEndpoints() []string {
	var out []string
	for i := range etcdMembers {
		out = append(out, "https://"+p.addr(portEtcd+i))
	}
	return out
}

// serviceAddrs are a service's replicas' addresses.
func (p clusterPlan) serviceAddrs(service string) []string {
	return p.replicaAddrs(service, portAcquirer)
}

// metricsAddrs are where a service's replicas serve Prometheus metrics.
func (p clusterPlan) metricsAddrs(service string) []string {
	return p.replicaAddrs(service, portMetrics)
}

func (p clusterPlan) replicaAddrs(service string, first int) []string {
	for i, s := range clusterServices {
		if s == service {
			return []string{p.addr(first + replicas*i), p.addr(first + replicas*i + 1)}
		}
	}
	panic("unknown service " + service)
}

// wave is children started together, and what to do once they all serve.
type wave struct {
	names []string
	then  func(ctx context.Context) error
	// oneByOne stops the children one at a time rather than together.
	oneByOne bool
}

// children returns the cluster's processes, and the waves to start them
// in: each waits for the one before it to serve.
func (p clusterPlan) children(cfg clusterConfig) ([]childSpec, []wave) {
	var specs []childSpec
	var waves []wave
	add := func(w *wave, sp childSpec) {
		specs = append(specs, sp)
		w.names = append(w.names, sp.Name)
	}

	// etcd members stop one at a time: a leader stopping hands its
	// leadership to a live member first, which takes milliseconds, but
	// waits for etcd's request timeout (6 s) when that member is stopping too.
	members := wave{oneByOne: true, then: func(ctx context.Context) error { return bootstrapEtcd(ctx, p.pki, p.etcdEndpoints()) }}
	var initial []string
	for i := range etcdMembers {
		initial = append(initial, fmt.Sprintf("etcd-%d=https://%s", i+1, p.addr(portEtcdPeer+i)))
	}
	for i, ep := range p.etcdEndpoints() {
		name := fmt.Sprintf("etcd-%d", i+1)
		add(&members, childSpec{Name: name, Command: "etcd", Addr: ep,
			Args: []string{"--name", name, "--listen", p.addr(portEtcd + i), "--peer-listen", p.addr(portEtcdPeer + i),
				"--initial-cluster", strings.Join(initial, ","), "--data-dir", filepath.Join(p.dir, "etcd", name), "--pki", p.pki.Dir},
			ready: etcdReady(p.pki, ep)})
	}
	waves = append(waves, members)

	sim := merchantsim.DefaultConfig()
	sims := wave{then: func(ctx context.Context) error {
		cli, err := app.ConnectEtcd(p.pki.Dir, authn.Service, app.EtcdAdmin, p.etcdEndpoints())
		if err != nil {
			return err
		}
		defer cli.Close()
		return app.SeedRouting(ctx, cli, sim, p.addr(portMerchantSim), p.addr(portWalletSim), p.pki)
	}}
	for _, s := range []struct {
		name string
		port int
	}{{"merchantsim", portMerchantSim}, {"walletsim", portWalletSim}} {
		add(&sims, childSpec{Name: s.name, Command: s.name, Addr: p.addr(s.port),
			Args:  []string{"--listen", p.addr(s.port), "--pki", p.pki.Dir, "--log-level", cfg.LogLevel},
			ready: listening(p.addr(s.port))})
	}
	// The rate providers: three simulated providers behind one process,
	// each a feed of its own for the fx service.
	add(&sims, childSpec{Name: "fxsim", Command: "fxsim", Addr: p.addr(portFXSim),
		Args:  []string{"--listen", p.addr(portFXSim), "--http", "", "--log-level", cfg.LogLevel},
		ready: listening(p.addr(portFXSim))})
	waves = append(waves, sims)
	var providers []string
	for _, name := range []string{"alpha", "beta", "gamma"} {
		providers = append(providers, name+"=grpc://"+p.addr(portFXSim))
	}

	etcd := strings.Join(p.etcdEndpoints(), ",")
	// Eight pools share one PostgreSQL, whose max_connections (100 by
	// default) counts them all: 8 connections each leaves room for
	// operators, tests and a benchmark's own.
	dbConns := "--db-max-conns=" + strconv.Itoa(clusterDBConns)
	service := func(w *wave, svc string, i int, more ...string) {
		a := p.serviceAddrs(svc)[i]
		add(w, childSpec{Name: fmt.Sprintf("%s-%d", svc, i+1), Command: svc, Addr: a,
			Args: append([]string{"--listen", a, "--etcd", etcd, "--pki", p.pki.Dir, "--log-level", cfg.LogLevel,
				"--metrics-listen", p.metricsAddrs(svc)[i], "--pprof=" + strconv.FormatBool(cfg.Pprof)}, more...),
			ready: serving(p.pki, svc, a)})
	}
	// The first replica of each service migrates the database before the
	// second starts; then the acquirer, which calls all of them.
	for i := range replicas {
		var w wave
		for _, svc := range clusterServices[1:] {
			var more []string
			switch svc {
			case "settlement":
				more = []string{"--cycle", cfg.Cycle.String(), dbConns}
			case "fx":
				more = []string{"--providers", strings.Join(providers, ","), dbConns}
			case "risk":
				// The replicas find each other in etcd to share velocity.
				more = []string{"--demo-policy", dbConns}
			}
			service(&w, svc, i, more...)
		}
		waves = append(waves, w)
	}
	targets := []string{dbConns}
	for _, svc := range clusterServices[1:] {
		targets = append(targets, "--"+svc, strings.Join(p.serviceAddrs(svc), ","))
	}
	for i := range replicas {
		var w wave
		service(&w, "acquirer", i, targets...)
		waves = append(waves, w)
	}
	return specs, waves
}

// etcdReady reports whether the member at endpoint serves, with a leader.
func etcdReady(dev pki.Dev, endpoint string) func(context.Context) error {
	return func(ctx context.Context) error {
		cli, err := app.ConnectEtcd(dev.Dir, authn.Service, app.EtcdAdmin, []string{endpoint})
		if err != nil {
			return err
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := cli.Status(ctx, endpoint)
		if err != nil {
			return err
		}
		if st.Leader == 0 {
			return errors.New("no leader yet")
		}
		return nil
	}
}

// serving reports whether a service's gRPC health is SERVING (checked
// with its own certificate).
func serving(dev pki.Dev, service, addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		return runHealth(ctx, []string{"--pki", dev.Dir, "--service", service, "--addr", addr, "--timeout", "1s"})
	}
}

// listening reports whether addr takes connections: the simulators
// listen only once they serve, and their certificates are not of
// Unigate's CA, which the health check trusts.
func listening(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// bootstrapEtcd sets up etcd's access control as the etcd administrator,
// with the PKI's operators as readers.
func bootstrapEtcd(ctx context.Context, dev pki.Dev, endpoints []string) error {
	cli, err := app.ConnectEtcd(dev.Dir, authn.Service, app.EtcdAdmin, endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	ops, err := dev.Operators()
	if err != nil {
		return err
	}
	return etcdx.Bootstrap(ctx, cli, app.EtcdAccess(ops...))
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// databaseName is the database of a PostgreSQL DSN.
func databaseName(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("cluster: --dsn must be a postgres:// URL")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !identifier.MatchString(name) {
		return "", fmt.Errorf("cluster: database name %q: want lower-case letters, digits and _", name)
	}
	return name, nil
}

// prepareDatabase creates the DSN's database on its server unless it
// exists, dropping it first when fresh.
func prepareDatabase(ctx context.Context, dsn string, fresh bool) error {
	name, err := databaseName(dsn)
	if err != nil {
		return err
	}
	u, _ := url.Parse(dsn)
	u.Path = "/postgres"
	db, err := sqlstore.Open(ctx, u.String())
	if err != nil {
		return fmt.Errorf("cluster: PostgreSQL's postgres database: %w", err)
	}
	defer db.Close()
	if fresh {
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			return fmt.Errorf("cluster: drop database %s: %w", name, err)
		}
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
			return fmt.Errorf("cluster: create database %s: %w", name, err)
		}
	}
	return nil
}

// takenPorts returns the ports of ports that cannot be listened on.
func takenPorts(ports []int) []int {
	var taken []int
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			taken = append(taken, p)
			continue
		}
		l.Close()
	}
	return taken
}

func clusterFilePath(dir string) string { return filepath.Join(dir, "cluster.json") }

func readClusterFile(dir string) (clusterFile, error) {
	var f clusterFile
	b, err := os.ReadFile(clusterFilePath(dir))
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(b, &f)
}

func runCluster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: unigate cluster [flags]                     run the cluster until SIGINT/SIGTERM
       unigate cluster [--dir DIR] --stop              stop the cluster running in DIR
       unigate cluster [--dir DIR] status              show its processes
       unigate cluster [--dir DIR] stop|start|restart NAME   one process (etcd-2, acquirer-1, …)

`)
		fs.PrintDefaults()
	}
	cfg := clusterConfig{}
	fs.StringVar(&cfg.Dir, "dir", ".cluster", "the cluster's directory: PKI, logs, etcd data, cluster.json, control socket")
	fs.IntVar(&cfg.BasePort, "base-port", 7100, "first port of the plan (etcd +0..2, peers +10..12, services +20..29, simulators +30, +31, rate providers +32, metrics +40..49)")
	fs.StringVar(&cfg.DSN, "dsn", env("UNIGATE_DSN", DefaultClusterDSN), "PostgreSQL database of every service; created if missing")
	fs.BoolVar(&cfg.Fresh, "fresh", true, "start on an empty database and etcd, and remove etcd's data on stop; false keeps both for the next start")
	fs.DurationVar(&cfg.Cycle, "settlement-cycle", 0, "the settlement replicas' --cycle (0: cycles close only on request)")
	fs.StringVar(&cfg.LogLevel, "log-level", env("UNIGATE_LOG_LEVEL", "info"), "the children's log level")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "the services serve Go's profiles at /debug/pprof/ on their metrics addresses (unigate bench)")
	stop := fs.Bool("stop", false, "stop the cluster running in --dir (SIGTERM to its supervisor) and check that no process or port is left")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return err
	}
	cfg.Dir = dir
	switch {
	case *stop:
		return stopCluster(ctx, cfg.Dir, os.Stdout)
	case fs.NArg() > 0:
		return controlCluster(ctx, cfg.Dir, fs.Args(), os.Stdout)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	return superviseCluster(ctx, cfg, os.Stdout)
}

// superviseCluster runs the cluster until ctx ends.
func superviseCluster(ctx context.Context, cfg clusterConfig, out io.Writer) (err error) {
	begin := time.Now()
	log := logger("cluster", "info")
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return err
	}
	if f, err := readClusterFile(cfg.Dir); err == nil && processAlive(f.PID, "cluster") {
		return fmt.Errorf("cluster: a cluster already runs in %s (supervisor pid %d); stop it with unigate cluster --dir %s --stop", cfg.Dir, f.PID, cfg.Dir)
	}
	plan := clusterPlan{base: cfg.BasePort, dir: cfg.Dir}
	if taken := takenPorts(plan.ports()); len(taken) > 0 {
		return fmt.Errorf("cluster: ports %v are taken (another cluster? unigate cluster --stop, or --base-port)", taken)
	}
	socket := filepath.Join(cfg.Dir, "control.sock")
	if len(socket) > 100 { // a unix socket's path holds at most 107 bytes
		return fmt.Errorf("cluster: the control socket's path %s is too long: choose a shorter --dir", socket)
	}
	if plan.pki, err = app.DevPKI(app.PKIDir(cfg.Dir)); err != nil {
		return err
	}
	if err := prepareDatabase(ctx, cfg.DSN, cfg.Fresh); err != nil {
		return err
	}
	etcdData := filepath.Join(cfg.Dir, "etcd")
	if cfg.Fresh {
		if err := os.RemoveAll(etcdData); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	_ = os.Remove(socket) // left by a supervisor that died
	control, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("cluster: control socket: %w", err)
	}
	defer os.Remove(socket)
	specs, waves := plan.children(cfg)
	var all [][]string // groups to stop, the last first
	for _, w := range waves {
		if !w.oneByOne {
			all = append(all, w.names)
			continue
		}
		for _, name := range w.names {
			all = append(all, []string{name})
		}
	}
	dsn, _ := url.Parse(cfg.DSN)
	s := newSupervisor(exe, childEnv(cfg.DSN), log, clusterFilePath(cfg.Dir), clusterFile{
		PID: os.Getpid(), State: "starting", Control: socket, Dir: cfg.Dir, PKI: plan.pki.Dir, BasePort: cfg.BasePort,
		Ports: plan.ports(), Etcd: plan.etcdEndpoints(), DSN: dsn.Redacted(), Fresh: cfg.Fresh,
	}, specs, filepath.Join(cfg.Dir, "logs"))
	s.save()
	ctlCtx, stopControl := context.WithCancel(context.WithoutCancel(ctx))
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		if err := s.serveControl(ctlCtx, control); err != nil {
			log.Error("control socket", "err", err)
		}
	}()
	defer func() {
		halt := time.Now()
		s.setState("stopping")
		stopControl()
		<-ctlDone
		s.stopAll(all)
		if cfg.Fresh {
			if rerr := os.RemoveAll(etcdData); rerr != nil && err == nil {
				err = rerr
			}
		}
		s.setState("stopped")
		fmt.Fprintf(out, "cluster stopped in %.1fs\n", time.Since(halt).Seconds())
	}()

	for _, w := range waves {
		g, gctx := errgroup.WithContext(ctx)
		for _, name := range w.names {
			g.Go(func() error { return s.start(gctx, name, childStartTimeout) })
		}
		if err := g.Wait(); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return fmt.Errorf("cluster: %w", err)
		}
		if w.then != nil {
			if err := w.then(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("cluster: %w", err)
			}
		}
	}
	s.setState("ready")
	printChildren(out, s.status())
	fmt.Fprintf(out, "\nLogs in %s, state in %s, control socket %s.\n", filepath.Join(cfg.Dir, "logs"), clusterFilePath(cfg.Dir), socket)
	fmt.Fprintf(out, "Demo: unigate demo --pki %s --acquirer %s --merchantsim %s --settlement %s\n",
		plan.pki.Dir, plan.serviceAddrs("acquirer")[0], plan.addr(portMerchantSim), plan.serviceAddrs("settlement")[0])
	fmt.Fprintf(out, "cluster ready in %.1fs; Ctrl-C or unigate cluster --dir %s --stop stops it\n", time.Since(begin).Seconds(), cfg.Dir)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping the cluster…")
	return nil
}

// childEnv is the supervisor's environment for its children, without
// Unigate's settings (each child's flags say everything) but the DSN,
// kept off command lines and out of cluster.json: it may hold a password.
func childEnv(dsn string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UNIGATE_") {
			env = append(env, kv)
		}
	}
	return append(env, "UNIGATE_DSN="+dsn)
}

func printChildren(out io.Writer, f clusterFile) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tADDRESS\tPID\tSTATE\tLOG")
	for _, c := range f.Children {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", c.Name, c.Addr, c.PID, c.State, c.Log)
	}
	w.Flush()
}

// stopCluster stops the cluster whose cluster.json is in dir: SIGTERM to
// its supervisor, which stops the children; then it checks that no child
// is left (killing any that is) and that every port of the plan is free.
func stopCluster(ctx context.Context, dir string, out io.Writer) error {
	f, err := readClusterFile(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cluster: no cluster.json in %s", dir)
	}
	if err != nil {
		return err
	}
	begin := time.Now()
	if processAlive(f.PID, "cluster") {
		if p, err := os.FindProcess(f.PID); err == nil {
			_ = p.Signal(syscall.SIGTERM)
		}
		// The supervisor stops its children in four waves, each within
		// stopGrace.
		deadline := time.Now().Add(5*stopGrace + 10*time.Second)
		for processAlive(f.PID, "cluster") {
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster: the supervisor (pid %d) has not stopped after %s", f.PID, time.Since(begin).Round(time.Second))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		if f2, err := readClusterFile(dir); err == nil {
			f = f2
		}
	}
	var left []string
	for _, c := range f.Children {
		if processAlive(c.PID, c.Command) {
			left = append(left, fmt.Sprintf("%s (pid %d)", c.Name, c.PID))
			if p, err := os.FindProcess(c.PID); err == nil {
				_ = p.Kill()
			}
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(out, "killed what the supervisor left running: %s\n", strings.Join(left, ", "))
		time.Sleep(200 * time.Millisecond)
	}
	if f.State != "stopped" { // the supervisor died without cleaning up
		fmt.Fprintf(out, "the supervisor (pid %d) ended without stopping the cluster: cleaning up after it\n", f.PID)
		if f.Fresh {
			if err := os.RemoveAll(filepath.Join(dir, "etcd")); err != nil {
				return err
			}
		}
		_ = os.Remove(f.Control)
	}
	if taken := takenPorts(f.Ports); len(taken) > 0 {
		return fmt.Errorf("cluster: stopped, but ports %v are still taken", taken)
	}
	fmt.Fprintf(out, "cluster in %s stopped in %.1fs: no process left, all %d ports free\n", dir, time.Since(begin).Seconds(), len(f.Ports))
	return nil
}

// controlCluster sends one command to the supervisor's control socket.
func controlCluster(ctx context.Context, dir string, args []string, out io.Writer) error {
	f, err := readClusterFile(dir)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if !processAlive(f.PID, "cluster") {
		return fmt.Errorf("cluster: no supervisor runs in %s", dir)
	}
	var req *http.Request
	switch {
	case len(args) == 1 && args[0] == "status":
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, "http://cluster/status", nil)
	case len(args) == 2 && (args[0] == "stop" || args[0] == "start" || args[0] == "restart"):
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "http://cluster/"+args[0]+"/"+url.PathEscape(args[1]), nil)
	default:
		return fmt.Errorf("cluster: want status, or stop|start|restart NAME; got %q", strings.Join(args, " "))
	}
	if err != nil {
		return err
	}
	body, err := doControl(f, req)
	if err != nil {
		return err
	}
	if args[0] == "status" {
		var st clusterFile
		if err := json.Unmarshal(body, &st); err != nil {
			return err
		}
		fmt.Fprintf(out, "cluster %s (supervisor pid %d)\n", st.State, st.PID)
		printChildren(out, st)
		return nil
	}
	var c childStatus
	if err := json.Unmarshal(body, &c); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s, pid %d\n", c.Name, c.State, c.PID)
	return nil
}

// doControl sends req to the supervisor's control socket and returns the
// body of an OK answer.
func doControl(f clusterFile, req *http.Request) ([]byte, error) {
	resp, err := controlClient(f.Control).Do(req)
	if err != nil {
		return nil, fmt.Errorf("cluster: control socket: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cluster: %s", strings.TrimSpace(string(body)))
	}
	return body, nil
}
