package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// `unigate chaos` drives payments, refunds and cancels through a running
// cluster (`unigate cluster`) while it kills, pauses and restarts its
// parts, then waits for the switch to settle and checks that no money was
// lost, made up or moved twice. See docs/chaos.md.

// chaosConfig configures `unigate chaos`.
type chaosConfig struct {
	// Dir is the cluster's directory.
	Dir string
	// Duration is how long the load and the faults run.
	Duration time.Duration
	// FaultInterval is the time from one fault's start to the next's
	// (the next starts shortly after the end of one that lasts longer).
	FaultInterval time.Duration
	// Seed drives every random choice: the faults, their targets and
	// lengths, and the workers' requests.
	Seed int64
	// DSN is the cluster's database (cluster.json shows it redacted).
	DSN string
	// Workers is how many workers send requests at once.
	Workers int
	// CloseEvery is how often an operator closes a settlement cycle (0: never).
	CloseEvery time.Duration
	// Settle bounds the wait, after the run, for the switch to finish what
	// is in flight.
	Settle time.Duration
	// Wait bounds the wait for the cluster to be ready.
	Wait time.Duration
	// Faults are the kinds of fault to inject.
	Faults []string
}

// Validate reports a configuration chaos cannot run with.
func (c chaosConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("chaos: --dir is required")
	case c.Duration <= 0 || c.FaultInterval <= 0 || c.Settle <= 0 || c.Wait <= 0:
		return errors.New("chaos: --duration, --fault-interval, --settle and --wait must be positive")
	case c.Workers <= 0:
		return errors.New("chaos: --workers must be positive")
	case c.CloseEvery < 0:
		return errors.New("chaos: --close-every must not be negative")
	}
	for _, f := range c.Faults {
		if !slices.Contains(faultKinds, f) {
			return fmt.Errorf("chaos: unknown fault %q (want some of %s)", f, strings.Join(faultKinds, ","))
		}
	}
	return nil
}

func runChaos(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	cfg := chaosConfig{}
	defDuration := 2 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("CHAOS_DURATION")); err == nil {
		defDuration = d
	}
	var faults string
	fs.StringVar(&cfg.Dir, "dir", ".cluster", "the cluster's directory (unigate cluster --dir)")
	fs.DurationVar(&cfg.Duration, "duration", defDuration, "how long to run load and faults (default: CHAOS_DURATION, else 2m)")
	fs.DurationVar(&cfg.FaultInterval, "fault-interval", 3*time.Second, "time from one fault's start to the next's (longer when a fault lasts longer)")
	fs.Int64Var(&cfg.Seed, "seed", 0, "seed of every random choice (0: a new one, printed); the same seed replays the same faults and requests")
	fs.StringVar(&cfg.DSN, "dsn", env("UNIGATE_DSN", DefaultClusterDSN), "the cluster's PostgreSQL database, for the checks")
	fs.IntVar(&cfg.Workers, "workers", 6, "concurrent workers")
	fs.DurationVar(&cfg.CloseEvery, "close-every", 20*time.Second, "close a settlement cycle this often, as an operator (0: never)")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Minute, "how long to wait after the run for the switch to finish what is in flight")
	fs.DurationVar(&cfg.Wait, "wait", 90*time.Second, "how long to wait for the cluster to be ready")
	fs.StringVar(&faults, "faults", strings.Join(faultKinds, ","), "the faults to inject, comma-separated (\"none\": load only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if faults != "none" && faults != "" {
		cfg.Faults = strings.Split(faults, ",")
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1_000_000_000
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	return chaos(ctx, cfg, out)
}

// chaos runs the load and the faults, lets the switch settle and checks
// it. It returns an error if an invariant is violated.
func chaos(ctx context.Context, cfg chaosConfig, out io.Writer) error {
	var outMu sync.Mutex
	out = &lockedWriter{w: out, mu: &outMu}
	logf := func(format string, args ...any) { fmt.Fprintf(out, "chaos: "+format+"\n", args...) }

	h, err := connectHarness(ctx, cfg.Dir, cfg.Wait, out)
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	defer h.Close()
	db, err := sqlstore.Open(ctx, cfg.DSN)
	if err != nil {
		return fmt.Errorf("chaos: the cluster's database: %w", err)
	}
	defer db.Close()

	kinds := cfg.Faults
	pg, why := findPostgres(cfg.DSN, db)
	if pg == nil && slices.Contains(kinds, faultPostgres) {
		kinds = slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k == faultPostgres })
		logf("PostgreSQL restarts left out: %s", why)
	}
	logf("seed %d (replay with --seed %d), %v of load from %d workers, a fault every %v: %s",
		cfg.Seed, cfg.Seed, cfg.Duration, cfg.Workers, cfg.FaultInterval, strings.Join(kinds, ", "))

	// The wallets the load serves live until the checks are done.
	serve, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	run := strconv.FormatInt(cfg.Seed, 36) + "-" + strconv.FormatInt(time.Now().Unix()%100000, 36)
	l, err := newLoad(serve, h, run)
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	defer l.Close()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := l.restore(rctx); err != nil {
			logf("putting the partners' routes back: %v", err)
		}
	}()

	runCtx, stopRun := context.WithTimeout(ctx, cfg.Duration)
	defer stopRun()
	var in *injector
	if len(kinds) > 0 {
		in = newInjector(h, cfg.Seed, kinds, pg)
	}
	began := time.Now()
	var wg sync.WaitGroup
	if in != nil {
		wg.Add(1)
		go func() { defer wg.Done(); in.run(runCtx, cfg.FaultInterval) }()
	}
	for w := range cfg.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.worker(runCtx, w, rand.New(rand.NewSource(cfg.Seed+int64(w)+1))) }()
	}
	if cfg.CloseEvery > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); l.closer(runCtx, rand.New(rand.NewSource(cfg.Seed-1)), cfg.CloseEvery) }()
	}
	progress := func(prefix string) {
		var faults map[string]int
		last := ""
		if in != nil {
			faults, last, _ = in.snapshot()
		}
		n := 0
		for _, c := range faults {
			n += c
		}
		r := l.rec
		logf("%s %3.0fs: requests %s; attempts %d (S %d, F %d, refused %d, U %d, retried %d); faults %d, last: %s",
			prefix, time.Since(began).Seconds(), l.requestCounts(), r.attempts.Load(), r.success.Load(), r.failure.Load(),
			r.refusal.Load(), r.unknown.Load(), r.retried.Load(), n, last)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Second)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			progress("running")
		}
	}
	tick.Stop()
	progress("stopped")

	// Bring everything back: what a fault left down (none should be) is
	// started, anything paused continued.
	if in != nil {
		in.whole(context.WithoutCancel(ctx))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	q, took, err := waitQuiet(ctx, db, cfg.Settle, logf)
	if err != nil {
		logf("settling: %v", err)
	}
	if q.done() {
		logf("settled in %.1fs", took.Seconds())
	} else {
		logf("NOT settled after %.0fs: %s", took.Seconds(), q)
	}
	v, err := l.check(ctx, db, cfg.Seed)
	if err != nil {
		return fmt.Errorf("chaos: checks: %w", err)
	}
	for _, inv := range invariantNames {
		for i, s := range v[inv] {
			if i == 20 {
				logf("VIOLATION %s: … and %d more", inv, len(v[inv])-20)
				break
			}
			logf("VIOLATION %s: %s", inv, s)
		}
	}
	reasons := l.rec.reasonCounts()
	if reasons != "" {
		logf("retried and refused attempts by reason: %s", reasons)
	}

	// The one line to read.
	var faultParts []string
	broken := 0
	if in != nil {
		var counts map[string]int
		counts, _, broken = in.snapshot()
		for _, k := range faultKinds {
			if slices.Contains(kinds, k) {
				faultParts = append(faultParts, fmt.Sprintf("%s=%d", k, counts[k]))
			}
		}
	}
	if pg == nil {
		faultParts = append(faultParts, "postgres=left-out")
	}
	var invParts []string
	for _, inv := range invariantNames {
		invParts = append(invParts, fmt.Sprintf("%s=%d", inv, len(v[inv])))
	}
	settled := "settled"
	if !q.done() {
		settled = "NOT-settled"
	}
	fmt.Fprintf(out, "chaos: seed=%d duration=%v requests %s faults %s (not recovered %d) %s in %.0fs violations %s\n",
		cfg.Seed, cfg.Duration, l.requestCounts(), strings.Join(faultParts, " "), broken, settled, took.Seconds(), strings.Join(invParts, " "))
	if n := v.total(); n > 0 {
		return fmt.Errorf("chaos: %d violations (replay with --seed %d)", n, cfg.Seed)
	}
	if broken > 0 {
		return fmt.Errorf("chaos: %d faults the cluster did not recover from", broken)
	}
	return nil
}

// requestCounts gives the distinct requests (keys) sent, by kind.
func (l *load) requestCounts() string {
	var parts []string
	for _, k := range requestKinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, l.rec.sentCount(k)))
	}
	return strings.Join(parts, " ")
}

// reasonCounts lists why attempts were retried or refused, most frequent first.
func (r *records) reasonCounts() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range r.reasons {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || (all[i].n == all[j].n && all[i].k < all[j].k) })
	var parts []string
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s=%d", e.k, e.n))
	}
	return strings.Join(parts, " ")
}

// lockedWriter serialises the lines of the harness's goroutines.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
