package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
)

// `unigate bench` measures the switch in its deployment shape: it starts
// the cluster of `unigate cluster` (every service its own process, two
// replicas each, mutual TLS, PostgreSQL with synchronous commit), pays
// through it as the demo wallet partners with the SDK, and reports
// throughput, latency, errors and CPU per payment, against two baselines
// (a no-op gRPC call through the same client stack, and pgbench running a
// payment's database writes) and ghz. See docs/BENCHMARKS.md.

// benchConfig configures `unigate bench`.
type benchConfig struct {
	// Out is the run's directory: report.txt, the CPU profiles, ghz's
	// files, pgbench's logs, and the cluster (Dir).
	Out string
	// Dir is the cluster's directory (default Out/cluster).
	Dir string
	// BasePort numbers the cluster's port plan.
	BasePort int
	// DSN is the bench's own PostgreSQL database; the cluster recreates it.
	DSN string
	// Concurrency is the closed loops' wallets (and the baselines').
	Concurrency int
	// Duration is the closed loop's length; OpenDuration each open loop's.
	Duration, OpenDuration time.Duration
	// Rates are the open loops' payments a second.
	Rates []float64
	// MaxInFlight bounds an open loop's payments in flight; later starts
	// wait for a slot, their latency counted from their scheduled time.
	MaxInFlight int
	// BaselineDuration is each baseline's length.
	BaselineDuration time.Duration
	// Warmup is a closed loop run before the measured ones, not reported.
	Warmup time.Duration
	// Profile is how long the CPU profiles taken during the closed loop
	// last (at most the loop's length).
	Profile time.Duration
	// GHZ is the ghz binary ("" or missing: the ghz run is left out);
	// GHZRequests how many Pay requests it sends.
	GHZ         string
	GHZRequests int
	// Pgbench is the pgbench binary ("": looked for).
	Pgbench string
	// LogLevel is the cluster's services' log level.
	LogLevel string
	// Wait bounds the wait for the cluster to be ready.
	Wait time.Duration
}

// DefaultBenchDSN is the bench's database.
const DefaultBenchDSN = "postgres://postgres@127.0.0.1:5432/unigate_bench?sslmode=disable"

// Validate reports a configuration the bench cannot run with.
func (c benchConfig) Validate() error {
	switch {
	case c.Out == "" || c.Dir == "":
		return errors.New("bench: --out and --dir are required")
	case c.Concurrency <= 0 || c.MaxInFlight <= 0:
		return errors.New("bench: --concurrency and --max-in-flight must be positive")
	case c.Duration <= 0 || c.OpenDuration <= 0 || c.BaselineDuration <= 0 || c.Wait <= 0:
		return errors.New("bench: --duration, --open-duration, --baseline-duration and --wait must be positive")
	case c.Warmup < 0 || c.Profile < 0 || c.GHZRequests < 0:
		return errors.New("bench: --warmup, --profile and --ghz-requests must not be negative")
	}
	for _, r := range c.Rates {
		if r <= 0 {
			return fmt.Errorf("bench: rate %v: want payments a second above 0", r)
		}
	}
	if _, err := databaseName(c.DSN); err != nil {
		return err
	}
	return nil
}

func runBench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := benchConfig{}
	var rates string
	quick := fs.Bool("quick", false, "a short run for tests: 5 s phases, 16 wallets, one open loop at 100/s, 200 ghz requests (flags given explicitly still win)")
	fs.StringVar(&cfg.Out, "out", "", "the run's directory (default .bench/<date-time>)")
	fs.StringVar(&cfg.Dir, "dir", "", "the cluster's directory (default OUT/cluster)")
	fs.IntVar(&cfg.BasePort, "base-port", 7600, "the cluster's first port (unigate cluster --base-port)")
	fs.StringVar(&cfg.DSN, "dsn", env("UNIGATE_BENCH_DSN", DefaultBenchDSN), "the bench's PostgreSQL database: dropped and recreated")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "wallets paying at once in the closed loop; the baselines' concurrency")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "length of the closed loop")
	fs.DurationVar(&cfg.OpenDuration, "open-duration", 0, "length of each open loop (default --duration)")
	fs.StringVar(&rates, "rates", "500,1000,2000", "the open loops' rates, payments a second, comma-separated (\"\": none)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "an open loop's payments in flight at most; later ones wait, their latency counted from their scheduled start")
	fs.DurationVar(&cfg.BaselineDuration, "baseline-duration", 20*time.Second, "length of each baseline (no-op gRPC, pgbench)")
	fs.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "an unreported closed loop before the measured runs")
	fs.DurationVar(&cfg.Profile, "profile", 30*time.Second, "length of the services' CPU profiles, taken during the closed loop (at most its length; 0: none)")
	fs.StringVar(&cfg.GHZ, "ghz", env("UNIGATE_GHZ_BIN", ""), "the ghz binary (make bench builds it); empty: no ghz run")
	fs.IntVar(&cfg.GHZRequests, "ghz-requests", 2000, "Pay requests ghz sends, each with its own key and quote")
	fs.StringVar(&cfg.Pgbench, "pgbench", "", "the pgbench binary (default: on PATH, or PostgreSQL's bin directory)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "the services' log level")
	fs.DurationVar(&cfg.Wait, "wait", 2*time.Minute, "how long to wait for the cluster to be ready")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		for name, v := range map[string]string{"duration": "5s", "open-duration": "5s", "rates": "100", "baseline-duration": "5s",
			"warmup": "1s", "ghz-requests": "200", "concurrency": "16"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
		rates = fs.Lookup("rates").Value.String()
	}
	if cfg.OpenDuration == 0 {
		cfg.OpenDuration = cfg.Duration
	}
	cfg.Profile = min(cfg.Profile, cfg.Duration)
	for _, r := range strings.Split(rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		v, err := strconv.ParseFloat(r, 64)
		if err != nil {
			return fmt.Errorf("bench: --rates: %q is not a number", r)
		}
		cfg.Rates = append(cfg.Rates, v)
	}
	if cfg.Out == "" {
		cfg.Out = filepath.Join(".bench", time.Now().Format("20060102-150405"))
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(cfg.Out, "cluster")
	}
	var err error
	if cfg.Out, err = filepath.Abs(cfg.Out); err != nil {
		return err
	}
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	return bench(ctx, cfg, out)
}

// benchReport writes the report to the terminal and report.txt.
type benchReport struct {
	w io.Writer
}

func (r benchReport) section(title string) { fmt.Fprintf(r.w, "\n== %s\n", title) }
func (r benchReport) line(format string, args ...any) {
	fmt.Fprintf(r.w, format+"\n", args...)
}

// bench runs the whole benchmark. It returns an error if the run had an
// error or ledger verify found a violation.
func bench(ctx context.Context, cfg benchConfig, stdout io.Writer) (err error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	file, err := os.Create(filepath.Join(cfg.Out, "report.txt"))
	if err != nil {
		return err
	}
	defer file.Close()
	r := benchReport{w: &lockedWriter{w: io.MultiWriter(stdout, file), mu: &sync.Mutex{}}}
	r.line("unigate bench, %s, %d CPUs; report and profiles in %s", time.Now().Format(time.RFC3339), runtime.NumCPU(), cfg.Out)

	// The cluster, in the background; stopped whatever happens (before
	// pgbench, which takes its database connections).
	stopCluster, err := startBenchCluster(ctx, cfg)
	if err != nil {
		return err
	}
	stopCluster = sync.OnceValue(stopCluster)
	defer func() {
		if serr := stopCluster(); serr != nil && err == nil {
			err = serr
		}
	}()
	begin := time.Now()
	h, err := connectHarness(ctx, cfg.Dir, cfg.Wait, stdout)
	if err != nil {
		return fmt.Errorf("bench: %w (the cluster's output: %s)", err, filepath.Join(cfg.Out, "cluster.log"))
	}
	defer h.Close()
	db, err := sqlstore.Open(ctx, cfg.DSN)
	if err != nil {
		return fmt.Errorf("bench: the bench's database: %w", err)
	}
	defer db.Close()

	r.section("setup")
	var version, syncCommit, maxConns string
	if err := db.QueryRowContext(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'), current_setting('max_connections')`).
		Scan(&version, &syncCommit, &maxConns); err != nil {
		return fmt.Errorf("bench: PostgreSQL's settings: %w", err)
	}
	dbName, _ := databaseName(cfg.DSN)
	r.line("PostgreSQL %s, database %s, synchronous_commit = %s, max_connections = %s", version, dbName, syncCommit, maxConns)
	if syncCommit != "on" {
		r.line("WARNING: synchronous_commit is not on: commits do not wait for the disk, the figures are not those of a durable switch")
	}
	r.line("cluster ready in %.1fs (%s): %d processes, mutual TLS, signed Pay requests", time.Since(begin).Seconds(), cfg.Dir, len(h.f.Children))
	for _, c := range h.f.Children {
		r.line("  %-13s pid %-7d %s", c.Name, c.PID, c.Addr)
	}
	restoreQuotas, err := raiseQuotas(ctx, h)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	restore := sync.OnceValue(func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := restoreQuotas(rctx); err != nil {
			return fmt.Errorf("bench: putting the partners' quotas back: %w", err)
		}
		return nil
	})
	defer func() {
		if rerr := restore(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	run := strconv.FormatInt(time.Now().Unix(), 36)
	l, err := newBenchLoad(ctx, h, run)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer l.Close()
	var codes []string
	for _, m := range l.merchants {
		codes = append(codes, m.GetMerchant().GetMerchantId())
	}
	r.line("load: wallets of %s through the SDK (no retries), each payment a new user paying 10.00-50.00 at a merchant that accepts (%s), by its static code",
		strings.Join(chaosPartners, ", "), strings.Join(codes, ", "))
	r.line("quotas: the partners' limits raised for the run (%s), put back after", quotaText(benchLimits))

	procs := benchProcesses(h.f)
	maxConnections, _ := strconv.Atoi(maxConns)
	if cfg.Warmup > 0 {
		w := l.closedPayments(ctx, cfg.Concurrency, cfg.Warmup)
		r.line("warm-up: %d payments in %.1fs (not reported)", w.ok.Load(), w.elapsed.Seconds())
	}
	failures := 0

	// 1. The closed loop, with the services' CPU profiles.
	r.section(fmt.Sprintf("closed loop: %d wallets, %s", cfg.Concurrency, cfg.Duration))
	profiles := startProfiles(ctx, h.f, cfg.Profile, cfg.Out)
	closed := measurePhase(ctx, db, procs, maxConnections, func() *record { return l.closedPayments(ctx, cfg.Concurrency, cfg.Duration) })
	closed.name = fmt.Sprintf("closed loop, %d wallets", cfg.Concurrency)
	closed.print(r)
	failures += closed.rec.errs.total()

	// 2. Open loops.
	var open []*phase
	for _, rate := range cfg.Rates {
		r.section(fmt.Sprintf("open loop: %g payments/s scheduled, %s, at most %d in flight", rate, cfg.OpenDuration, cfg.MaxInFlight))
		p := measurePhase(ctx, db, procs, maxConnections, func() *record { return l.openPayments(ctx, rate, cfg.OpenDuration, cfg.MaxInFlight) })
		p.name = fmt.Sprintf("open loop, %g/s", rate)
		p.print(r)
		open = append(open, p)
		failures += p.rec.errs.total()
	}

	// 3. Baselines.
	r.section(fmt.Sprintf("baseline: no-op gRPC (health Check on the acquirers through the same connections), %d concurrent, %s", cfg.Concurrency, cfg.BaselineDuration))
	noop := l.closedNoops(ctx, cfg.Concurrency, cfg.BaselineDuration)
	r.line("calls/s        %.1f (%d calls in %.1fs)", noop.perSecond(), noop.ok.Load(), noop.elapsed.Seconds())
	r.line("latency        %s", noop.flow.summary())
	r.line("errors         %s", noop.errorsLine())
	failures += noop.errs.total()

	// 4. ghz.
	r.section("ghz: Pay through server reflection")
	gz, gerr := runGHZ(ctx, cfg, h, l)
	switch {
	case gerr != nil:
		r.line("ghz failed: %v", gerr)
		failures++
	case gz == nil:
		r.line("not run: no ghz binary (--ghz; make bench builds one)")
	default:
		gz.print(r)
		failures += gz.errors
	}

	// The postings of the last payments, and the resolution of any left
	// in flight, follow their answers: let the cluster finish them.
	settle := time.Now()
	if vs, err := benchVerify(ctx, db); err == nil && len(vs) == 0 {
		r.line("\n(the cluster's books were complete %.1fs after the load)", time.Since(settle).Seconds())
	}

	// The cluster is done with: pgbench gets PostgreSQL to itself.
	profileLines := profiles.wait()
	if err := errors.Join(restore(), stopCluster()); err != nil {
		return err
	}
	r.section(fmt.Sprintf("baseline: pgbench, a payment's writes as plain SQL, %s (the cluster stopped)", cfg.BaselineDuration))
	pg, perr := runPgbench(ctx, cfg, db, maxConns)
	if perr != nil {
		r.line("pgbench failed: %v", perr)
		failures++
	} else {
		pg.print(r)
	}

	// 6. The figures against the baselines.
	r.section("against the baselines (payments/s ÷ the baseline's calls/s or scripts/s; p50 ÷ the baseline's p50)")
	tw := tabwriter.NewWriter(r.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tPAYMENTS/S\t÷ NO-OP\t÷ PGBENCH\tP50 ÷ NO-OP\tP50 ÷ PGBENCH")
	for _, p := range append([]*phase{closed}, open...) {
		s := p.rec.flow.summary()
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\n", p.name, p.rec.perSecond(),
			ratio(p.rec.perSecond(), noop.perSecond()), ratio(p.rec.perSecond(), pg.perSecond()),
			ratio(float64(s.p50), float64(noop.flow.summary().p50)), ratio(float64(s.p50), float64(pg.median())))
	}
	if gz != nil {
		fmt.Fprintf(tw, "ghz, Pay alone\t%.1f\t%s\t%s\t%s\t%s\n", gz.rps, ratio(gz.rps, noop.perSecond()), ratio(gz.rps, pg.perSecond()),
			ratio(float64(gz.lat.p50), float64(noop.flow.summary().p50)), ratio(float64(gz.lat.p50), float64(pg.median())))
	}
	tw.Flush()

	r.section("CPU profiles (go tool pprof -top FILE)")
	for _, line := range profileLines {
		r.line("%s", line)
	}

	// The books, once everything has stopped.
	r.section("ledger verify")
	violations, verr := app.VerifyLedger(ctx, db)
	if verr != nil {
		r.line("ledger verify failed: %v", verr)
		failures++
	}
	for _, v := range violations {
		r.line("VIOLATION %s", v)
	}
	if verr == nil {
		r.line("%d violations", len(violations))
	}

	cs := closed.rec.flow.summary()
	r.line("\nbench: %.1f payments/s (closed loop, %d wallets), p50 %s, p99 %s, errors %d; %s of no-op gRPC (%.0f calls/s), %s of pgbench (%.0f payments/s); ledger: %d violations",
		closed.rec.perSecond(), cfg.Concurrency, ms(cs.p50), ms(cs.p99), failures,
		ratio(closed.rec.perSecond(), noop.perSecond()), noop.perSecond(), ratio(closed.rec.perSecond(), pg.perSecond()), pg.perSecond(), len(violations))
	if failures > 0 || len(violations) > 0 || verr != nil {
		return fmt.Errorf("bench: %d errors, %d ledger violations", failures, len(violations))
	}
	return nil
}

// ratio prints a/b, or "-" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3g", a/b)
}

// startBenchCluster starts `unigate cluster` on the bench's database and
// ports, its services serving profiles, in the background (its output in
// OUT/cluster.log). stop stops it and checks nothing is left.
func startBenchCluster(ctx context.Context, cfg benchConfig) (stop func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(cfg.Out, "cluster.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "cluster", "--dir", cfg.Dir, "--base-port", strconv.Itoa(cfg.BasePort), "--dsn", cfg.DSN,
		"--fresh", "--pprof", "--log-level", cfg.LogLevel)
	cmd.SysProcAttr = childAttr()
	cmd.Stdout, cmd.Stderr = log, log
	// The supervisor takes the DSN from its flag; nothing else of the
	// bench's environment is meant for it.
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return func() error {
		defer log.Close()
		select {
		case <-exited:
			return errors.New("bench: the cluster ended before the bench stopped it (see cluster.log)")
		default:
		}
		err := stopCluster(context.WithoutCancel(ctx), cfg.Dir, log)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		return err
	}, nil
}

// benchLimits are the partners' quotas during the bench: high enough
// that the load, not a quota, is what limits it.
var benchLimits = &routerv1.PartnerLimits{RatePerSecond: 1e6, Burst: 1e6, MaxConcurrent: 0, MaxStreams: 8}

func quotaText(l *routerv1.PartnerLimits) string {
	return fmt.Sprintf("%.0f calls/s, burst %d, unbounded calls in flight", l.GetRatePerSecond(), l.GetBurst())
}

// raiseQuotas gives the load's partners benchLimits in the routing table
// and waits until every router replica has them (the acquirers apply a
// change within a second). It returns what puts the old ones back.
func raiseQuotas(ctx context.Context, h *harness) (func(context.Context) error, error) {
	admin, err := h.dial("router", authn.Operator, "admin", benchCallTimeout)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	routes, adm := routerv1.NewRouterServiceClient(admin), routerv1.NewRoutingAdminServiceClient(admin)
	old := map[string]*routerv1.Partner{}
	for _, id := range chaosPartners {
		got, err := routes.GetPartner(ctx, &routerv1.GetPartnerRequest{PartnerId: id})
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w", id, err)
		}
		old[id] = got.GetPartner()
		raised := proto.Clone(got.GetPartner()).(*routerv1.Partner)
		raised.Limits = benchLimits
		if _, err := adm.PutPartner(ctx, &routerv1.PutPartnerRequest{Partner: raised}); err != nil {
			return nil, fmt.Errorf("raise partner %s's quotas: %w", id, err)
		}
	}
	for _, target := range strings.Split(h.addrs("router"), ",") {
		conn, err := h.dialTarget(target, "unigate", authn.Operator, "admin", 2*time.Second)
		if err != nil {
			return nil, err
		}
		rc := routerv1.NewRouterServiceClient(conn)
		for _, id := range chaosPartners {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				got, err := rc.GetPartner(ctx, &routerv1.GetPartnerRequest{PartnerId: id})
				if err == nil && proto.Equal(got.GetPartner().GetLimits(), benchLimits) {
					break
				}
				if time.Now().After(deadline) {
					conn.Close()
					return nil, fmt.Errorf("router %s does not show %s's raised quotas after 30s (%v)", target, id, err)
				}
			}
		}
		conn.Close()
	}
	time.Sleep(2 * time.Second) // the acquirers read the table every second
	return func(ctx context.Context) error {
		admin, err := h.dial("router", authn.Operator, "admin", benchCallTimeout)
		if err != nil {
			return err
		}
		defer admin.Close()
		adm := routerv1.NewRoutingAdminServiceClient(admin)
		var errs []error
		for _, id := range chaosPartners {
			_, err := adm.PutPartner(ctx, &routerv1.PutPartnerRequest{Partner: old[id]})
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}, nil
}

// benchVerify runs ledger verify over the bench's database until it
// finds no violation, for up to a minute: the time the running cluster
// gets to post the last payments and resolve those left in flight.
func benchVerify(ctx context.Context, db *sqlstore.DB) ([]app.Violation, error) {
	for deadline := time.Now().Add(time.Minute); ; {
		vs, err := app.VerifyLedger(ctx, db)
		if err != nil || len(vs) == 0 || time.Now().After(deadline) {
			return vs, err
		}
		select {
		case <-ctx.Done():
			return vs, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
