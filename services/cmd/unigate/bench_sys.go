package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/reqsign"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
)

// This file is what `unigate bench` measures around the load: the CPU of
// the cluster's processes and of PostgreSQL, the database's transactions,
// the services' CPU profiles, and the pgbench and ghz runs.

// benchProc is a process whose CPU a phase accounts.
type benchProc struct {
	name string
	pid  int
}

// benchProcesses are the cluster's children, in its order.
func benchProcesses(f clusterFile) []benchProc {
	var out []benchProc
	for _, c := range f.Children {
		out = append(out, benchProc{name: c.Name, pid: c.PID})
	}
	return out
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on
// Linux).
const clockTick = 10 * time.Millisecond

// procCPU returns a process's CPU time (user and system) from
// /proc/PID/stat ("self" for this process); with children, that of its
// ended, waited-for children too.
func procCPU(pid string, children bool) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces), from field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	last := 12 // utime (field 14) and stime (15)
	if children {
		last = 14 // and cutime (16), cstime (17)
	}
	var ticks int64
	for _, s := range f[11 : last+1] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// postgresCPU sums the CPU time of every postgres process on this
// machine, with that of the ended backends the postmaster reaped.
func postgresCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var total time.Duration
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if t, err := procCPU(filepath.Base(d), true); err == nil {
			total += t
		}
	}
	return total
}

// cpuNames are a CPU snapshot's entries beside the cluster's processes.
const (
	cpuPostgres = "postgres (all processes)"
	cpuClient   = "bench client (this process)"
)

// cpuSnapshot reads the CPU time of each process, PostgreSQL and this
// process.
func cpuSnapshot(procs []benchProc) map[string]time.Duration {
	m := map[string]time.Duration{}
	for _, p := range procs {
		if t, err := procCPU(strconv.Itoa(p.pid), false); err == nil {
			m[p.name] = t
		}
	}
	m[cpuPostgres] = postgresCPU()
	m[cpuClient], _ = procCPU("self", false)
	return m
}

// phase is one measured run: the load's record, the CPU each process
// spent, and the database's transactions.
type phase struct {
	name  string
	rec   *record
	procs []benchProc
	cpu   map[string]time.Duration
	// commits is the bench database's committed transactions
	// (pg_stat_database); xids the transaction ids used, server-wide (the
	// transactions that wrote).
	commits, xids int64
	statsErr      error
	// peakConns is the most client connections PostgreSQL had at once
	// during the phase (all databases: max_connections counts them all),
	// peakBench those to the bench's database.
	peakConns, peakBench int
	// maxConns is PostgreSQL's max_connections.
	maxConns int
}

// dbCounters reads the bench database's committed transactions and the
// server's next transaction id (without using one).
func dbCounters(ctx context.Context, db *sqlstore.DB) (commits, nextXID int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&commits, &nextXID)
	return commits, nextXID, err
}

// sampleConnections counts PostgreSQL's client connections, in all and
// to the bench's database, every half second until ctx ends, and returns
// the peaks.
func sampleConnections(ctx context.Context, db *sqlstore.DB) [2]int {
	var peak [2]int
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		var all, bench int
		if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE datname = current_database())
			FROM pg_stat_activity WHERE backend_type = 'client backend'`).Scan(&all, &bench); err == nil {
			peak[0], peak[1] = max(peak[0], all), max(peak[1], bench)
		}
		select {
		case <-ctx.Done():
			return peak
		case <-t.C:
		}
	}
}

// statsSettle is how long a phase waits, before and after, for the
// backends to publish their counts (each does at most once a second
// while busy).
const statsSettle = 1500 * time.Millisecond

// measurePhase runs run and accounts for it.
func measurePhase(ctx context.Context, db *sqlstore.DB, procs []benchProc, maxConns int, run func() *record) *phase {
	time.Sleep(statsSettle)
	c0, x0, err0 := dbCounters(ctx, db)
	cpu0 := cpuSnapshot(procs)
	sampled := make(chan [2]int, 1)
	sctx, stopSampling := context.WithCancel(ctx)
	go func() { sampled <- sampleConnections(sctx, db) }()
	rec := run()
	cpu1 := cpuSnapshot(procs)
	stopSampling()
	peaks := <-sampled
	time.Sleep(statsSettle)
	c1, x1, err1 := dbCounters(ctx, db)
	p := &phase{rec: rec, procs: procs, cpu: map[string]time.Duration{}, commits: c1 - c0, xids: x1 - x0, statsErr: errors.Join(err0, err1),
		peakConns: peaks[0], peakBench: peaks[1], maxConns: maxConns}
	for k, v := range cpu1 {
		if before, ok := cpu0[k]; ok {
			p.cpu[k] = v - before
		}
	}
	return p
}

func (p *phase) print(r benchReport) {
	rec := p.rec
	paid := rec.ok.Load()
	r.line("payments/s     %.1f (%d paid in %.1fs)", rec.perSecond(), paid, rec.elapsed.Seconds())
	switch {
	case rec.notStarted > 0:
		r.line("schedule       %d due, %d not started by the end: the switch fell behind (they count in the flow latency at their wait so far)",
			rec.scheduled, rec.notStarted)
	case rec.scheduled > 0:
		r.line("schedule       %d due, all started", rec.scheduled)
	}
	r.line("flow latency   %s (decode + quote + pay, from the scheduled start)", rec.flow.summary())
	r.line("pay latency    %s (Pay alone)", rec.pay.summary())
	r.line("errors         %s", rec.errorsLine())
	if p.statsErr != nil {
		r.line("transactions   unknown: %v", p.statsErr)
	} else if paid > 0 {
		r.line("transactions   %.2f committed per payment in the bench database (pg_stat_database), %.2f of them writing (transaction ids, whole server)",
			float64(p.commits)/float64(paid), float64(p.xids)/float64(paid))
	}
	r.line("connections    peak %d to PostgreSQL, %d of them the cluster's and the bench's (max_connections counts them all)", p.peakConns, p.peakBench)
	if p.maxConns > 0 && p.peakConns >= p.maxConns-3 { // superuser_reserved_connections
		r.line("WARNING        PostgreSQL ran out of connections (max_connections %d): the services' pools over-subscribe it, and the calls that found none failed", p.maxConns)
	}
	r.line("CPU per payment:")
	tw := tabwriter.NewWriter(r.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  PROCESS\tCPU S\tMS/PAYMENT\t")
	row := func(name string, t time.Duration) {
		per := "-"
		if paid > 0 {
			per = fmt.Sprintf("%.3f", t.Seconds()*1000/float64(paid))
		}
		fmt.Fprintf(tw, "  %s\t%.2f\t%s\t\n", name, t.Seconds(), per)
	}
	var cluster time.Duration
	for _, pr := range p.procs {
		if t, ok := p.cpu[pr.name]; ok {
			row(pr.name, t)
			cluster += t
		}
	}
	row("cluster (all above)", cluster)
	row(cpuPostgres, p.cpu[cpuPostgres])
	row(cpuClient, p.cpu[cpuClient])
	row("total", cluster+p.cpu[cpuPostgres]+p.cpu[cpuClient])
	tw.Flush()
}

// profileSet is the services' CPU profiles being taken.
type profileSet struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	lines []string
}

// startProfiles takes a CPU profile of d from every service replica of
// the cluster (its metrics address serves /debug/pprof/), saving each
// as DIR/cpu-NAME.pprof.
func startProfiles(ctx context.Context, f clusterFile, d time.Duration, dir string) *profileSet {
	ps := &profileSet{}
	if d <= 0 {
		ps.lines = append(ps.lines, "none taken (--profile 0)")
		return ps
	}
	plan := clusterPlan{base: f.BasePort}
	secs := max(1, int(d.Seconds()))
	for _, c := range f.Children {
		if !slices.Contains(clusterServices, c.Command) {
			continue
		}
		i, err := strconv.Atoi(c.Name[strings.LastIndexByte(c.Name, '-')+1:])
		if err != nil || i < 1 || i > replicas {
			continue
		}
		addr := plan.metricsAddrs(c.Command)[i-1]
		file := filepath.Join(dir, "cpu-"+c.Name+".pprof")
		ps.wg.Go(func() {
			line := c.Name + ": " + saveProfile(ctx, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), file, d)
			ps.mu.Lock()
			ps.lines = append(ps.lines, line)
			ps.mu.Unlock()
		})
	}
	return ps
}

func saveProfile(ctx context.Context, url, file string, d time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s (%d bytes, %v)", file, len(body), d)
}

// wait waits for the profiles and describes them, in name order.
func (ps *profileSet) wait() []string {
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	slices.Sort(ps.lines)
	return ps.lines
}

// pgbenchScript is a payment's writes as plain SQL, on tables of its
// own: the seven writing transactions a payment makes (the bench measures
// the transaction ids a payment uses), each a synchronous commit, in the
// shape of the services' statements but not theirs — fx's quote; the
// acquirer's record of the signed request's id; risk's decision with the
// user's usage; the acceptance (the quote's lock, the payment, its audit
// entry); the outcome with its event for the partner; the ledger's
// posting; the acquirer marking the payment posted.
const pgbenchScript = `\set id random(1, 1000000000000)
INSERT INTO bench_quotes (id, partner_id, amount, state, expire_time) VALUES (:id, 'hipay', 2500, 'OPEN', now() + interval '2 minutes') ON CONFLICT DO NOTHING;
INSERT INTO bench_request_ids (id, expire_time) VALUES (:id, now() + interval '5 minutes') ON CONFLICT DO NOTHING;
BEGIN;
INSERT INTO bench_usage AS u (user_ref, day_used) VALUES ('u' || :id, 2500) ON CONFLICT (user_ref) DO UPDATE SET day_used = u.day_used + 2500;
INSERT INTO bench_decisions (payment_id, user_ref, approved) VALUES (:id, 'u' || :id, true) ON CONFLICT DO NOTHING;
COMMIT;
BEGIN;
UPDATE bench_quotes SET state = 'LOCKED' WHERE id = :id AND state = 'OPEN';
INSERT INTO bench_payments (id, partner_id, partner_payment_id, amount, status) VALUES (:id, 'hipay', 'k' || :id, 2500, 'PENDING') ON CONFLICT DO NOTHING;
INSERT INTO bench_audit (subject, action) VALUES (:id, 'payment.pay');
COMMIT;
BEGIN;
UPDATE bench_payments SET status = 'SUCCEEDED', update_time = now() WHERE id = :id AND status = 'PENDING';
INSERT INTO bench_events (payment_id, kind) VALUES (:id, 'payment.succeeded');
COMMIT;
INSERT INTO bench_postings (payment_id, debit_account, credit_account, amount) VALUES (:id, 'partner:hipay', 'merchant:M10001', 2500);
UPDATE bench_payments SET posted = true WHERE id = :id;
`

// pgbenchCommits is how many transactions pgbenchScript commits.
const pgbenchCommits = 7

// pgbenchTables are the script's tables, created for the run in the
// bench's database and dropped after it.
var pgbenchTables = []string{
	`CREATE TABLE bench_quotes (id bigint PRIMARY KEY, partner_id text NOT NULL, amount bigint NOT NULL, state text NOT NULL, expire_time timestamptz NOT NULL)`,
	`CREATE TABLE bench_request_ids (id bigint PRIMARY KEY, expire_time timestamptz NOT NULL)`,
	`CREATE TABLE bench_usage (user_ref text PRIMARY KEY, day_used bigint NOT NULL)`,
	`CREATE TABLE bench_decisions (payment_id bigint PRIMARY KEY, user_ref text NOT NULL, approved boolean NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE bench_payments (id bigint PRIMARY KEY, partner_id text NOT NULL, partner_payment_id text NOT NULL, amount bigint NOT NULL,
		status text NOT NULL, posted boolean NOT NULL DEFAULT false, create_time timestamptz NOT NULL DEFAULT now(),
		update_time timestamptz NOT NULL DEFAULT now(), UNIQUE (partner_id, partner_payment_id))`,
	`CREATE TABLE bench_audit (seq bigserial PRIMARY KEY, subject bigint NOT NULL, action text NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE bench_events (seq bigserial PRIMARY KEY, payment_id bigint NOT NULL, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE bench_postings (seq bigserial PRIMARY KEY, payment_id bigint NOT NULL, debit_account text NOT NULL, credit_account text NOT NULL, amount bigint NOT NULL)`,
}

// pgbenchTableNames are pgbenchTables' names.
var pgbenchTableNames = []string{"bench_quotes", "bench_request_ids", "bench_usage", "bench_decisions", "bench_payments", "bench_audit", "bench_events", "bench_postings"}

// pgbenchResult is a pgbench run's figures.
type pgbenchResult struct {
	clients   int
	scripts   int // scripts run (payments' worth of writes)
	tps       float64
	p50, p99  time.Duration
	summary   summary
	failedRun int
	// postgresCPU is PostgreSQL's CPU time during the run, clientCPU
	// pgbench's.
	postgresCPU, clientCPU time.Duration
}

func (p *pgbenchResult) perSecond() float64 {
	if p == nil {
		return 0
	}
	return p.tps
}

// median is a script's median latency (0 with no run).
func (p *pgbenchResult) median() time.Duration {
	if p == nil {
		return 0
	}
	return p.p50
}

func (p *pgbenchResult) print(r benchReport) {
	if p == nil {
		r.line("not run: no pgbench found (--pgbench)")
		return
	}
	r.line("script         %d transactions, each a synchronous commit: a payment's writing transactions, modelled (pgbench.sql)", pgbenchCommits)
	r.line("payments/s     %.1f (scripts/s, %d clients; %.0f commits/s)", p.tps, p.clients, p.tps*pgbenchCommits)
	r.line("latency        %s (one script)", p.summary)
	r.line("errors         %d failed scripts", p.failedRun)
	if p.scripts > 0 {
		r.line("CPU per script %.3f ms PostgreSQL (all processes), %.3f ms pgbench", p.postgresCPU.Seconds()*1000/float64(p.scripts),
			p.clientCPU.Seconds()*1000/float64(p.scripts))
	}
}

// findPgbench returns the pgbench binary: given, on PATH, or in
// PostgreSQL's Debian bin directory; "" if none.
func findPgbench(given string) string {
	if given != "" {
		return given
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) > 0 {
		return found[len(found)-1]
	}
	return ""
}

var (
	pgbenchTPS    = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	pgbenchFailed = regexp.MustCompile(`number of failed transactions: ([0-9]+)`)
)

// runPgbench runs pgbenchScript against the bench's database at the
// bench's concurrency (fewer if PostgreSQL's connections would run out),
// each script's latency from pgbench's per-transaction log. It returns
// nil, nil when there is no pgbench.
func runPgbench(ctx context.Context, cfg benchConfig, db *sqlstore.DB, maxConns string) (*pgbenchResult, error) {
	bin := findPgbench(cfg.Pgbench)
	if bin == "" {
		return nil, nil
	}
	drop := func() {
		for _, t := range pgbenchTableNames {
			_, _ = db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+t)
		}
	}
	drop()
	defer drop()
	for _, stmt := range pgbenchTables {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create pgbench's tables: %w", err)
		}
	}
	var used int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity`).Scan(&used); err != nil {
		return nil, err
	}
	limit, _ := strconv.Atoi(maxConns)
	clients := max(1, min(cfg.Concurrency, limit-used-10))
	script := filepath.Join(cfg.Out, "pgbench.sql")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o644); err != nil {
		return nil, err
	}
	logs := filepath.Join(cfg.Out, "pgbench-log")
	_ = os.MkdirAll(logs, 0o755)
	secs := int(math.Ceil(cfg.BaselineDuration.Seconds()))
	cmd := exec.CommandContext(ctx, bin, "--no-vacuum", "--client", strconv.Itoa(clients), "--jobs", strconv.Itoa(min(clients, runtime.NumCPU())),
		"--time", strconv.Itoa(secs), "--file", script, "--log", "--log-prefix", filepath.Join(logs, "pgbench"), cfg.DSN)
	cpu0 := postgresCPU()
	out, err := cmd.CombinedOutput()
	pgCPU := postgresCPU() - cpu0
	var clientCPU time.Duration
	if cmd.ProcessState != nil {
		clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	_ = os.WriteFile(filepath.Join(cfg.Out, "pgbench.out"), out, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", filepath.Base(bin), err, lastLines(out, 5))
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("no tps in pgbench's output: %s", lastLines(out, 5))
	}
	res := &pgbenchResult{clients: clients, postgresCPU: pgCPU, clientCPU: clientCPU}
	res.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := pgbenchFailed.FindSubmatch(out); m != nil {
		res.failedRun, _ = strconv.Atoi(string(m[1]))
	}
	// Each log line: client, script number, latency in µs, …
	var lat latencies
	files, _ := filepath.Glob(filepath.Join(logs, "pgbench.*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
				lat.d = append(lat.d, time.Duration(us)*time.Microsecond)
			}
		}
	}
	res.summary = lat.summary()
	res.scripts, res.p50, res.p99 = res.summary.n, res.summary.p50, res.summary.p99
	return res, nil
}

// lastLines returns the last n lines of b, on one line.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// ghzResult is a ghz run's figures.
type ghzResult struct {
	requests, concurrency int
	host                  string
	rps                   float64
	lat                   summary
	average               time.Duration
	statuses              map[string]int
	errors                int
	// paid counts the requests whose payment the switch shows as paid.
	paid, checked int
}

func (g *ghzResult) print(r benchReport) {
	r.line("requests       %d Pay calls to %s, %d concurrent: each its own key and a quote made just before, signed (metadata from a template indexed by ghz's request number)",
		g.requests, g.host, g.concurrency)
	r.line("requests/s     %.1f", g.rps)
	r.line("latency        %s (average %s)", g.lat, ms(g.average))
	var st []string
	for k, v := range g.statuses {
		st = append(st, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(st)
	r.line("statuses       %s", strings.Join(st, ", "))
	r.line("payments       %d of %d paid (S), read back with GetPayment", g.paid, g.checked)
	r.line("files          ghz-data.json, ghz-metadata.tmpl, ghz.json")
}

// payMethod is Pay's full name, as signed.
const payMethod = "/unigate.partner.v1.PartnerService/Pay"

// runGHZ has ghz send cfg.GHZRequests Pay requests to the first acquirer
// as the first partner, through server reflection and the partner's mutual
// TLS. Each request has its own key and a quote made just before; the
// signatures are made here too (ghz cannot sign), one per request, and
// ghz's metadata template picks each request's by its request number.
// It returns nil, nil when no ghz binary is configured.
func runGHZ(ctx context.Context, cfg benchConfig, h *harness, l *benchLoad) (*ghzResult, error) {
	if cfg.GHZ == "" || cfg.GHZRequests == 0 {
		return nil, nil
	}
	if _, err := os.Stat(cfg.GHZ); err != nil {
		return nil, fmt.Errorf("--ghz: %w", err)
	}
	partner, client := chaosPartners[0], l.partners[0]
	dev := pki.Dev{Dir: h.f.PKI}
	key, err := dev.SigningKey(authn.Partner, partner)
	if err != nil {
		return nil, err
	}
	caller := authn.Identity{Kind: authn.Partner, ID: partner}.String()
	n, conc := cfg.GHZRequests, min(cfg.Concurrency, cfg.GHZRequests)
	reqs := make([]*partnerv1.PayRequest, n)
	var (
		mu     sync.Mutex
		failed int
		qerr   error // the first
	)
	next := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range next {
				m := l.merchants[i%len(l.merchants)]
				q, err := client.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: m.GetStaticCode(),
					Amount: &commonv1.Money{Currency: m.GetMerchant().GetCurrency(), MinorUnits: benchAmount()}})
				if err != nil {
					mu.Lock()
					if failed++; qerr == nil {
						qerr = err
					}
					mu.Unlock()
					continue
				}
				k := fmt.Sprintf("g-%s-%d", l.run, i)
				reqs[i] = &partnerv1.PayRequest{PartnerPaymentId: k, Code: m.GetStaticCode(), Amount: q.GetQuote().GetMerchantAmount(),
					QuoteId: q.GetQuote().GetQuoteId(), UserRef: "bench-" + k}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if qerr != nil {
		return nil, fmt.Errorf("%d of the %d quotes for ghz failed, the first with: %w", failed, n, qerr)
	}
	// The data: a JSON array, request i for ghz's request number i. The
	// metadata: a template whose signature is the i-th of a list; the
	// request id is the key, unique like it.
	now := time.Now()
	var data bytes.Buffer
	sigs := make([]string, n)
	var at string
	data.WriteString("[")
	for i, req := range reqs {
		b, err := protojson.Marshal(req)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			data.WriteString(",\n")
		}
		data.Write(b)
		md, err := reqsign.Sign(key, app.DevKeyVersion, payMethod, caller, req, now, req.GetPartnerPaymentId())
		if err != nil {
			return nil, err
		}
		sigs[i], at = md.Get(reqsign.HeaderSignature)[0], md.Get(reqsign.HeaderTime)[0]
	}
	data.WriteString("]\n")
	tmpl := fmt.Sprintf(`{{- $sig := splitList " " %q -}}
{"%s": "%s", "%s": "%s", "%s": "g-%s-{{.RequestNumber}}", "%s": "{{index $sig .RequestNumber}}"}
`, strings.Join(sigs, " "), reqsign.HeaderKeyVersion, app.DevKeyVersion, reqsign.HeaderTime, at, reqsign.HeaderID, l.run, reqsign.HeaderSignature)
	dataFile, mdFile, outFile := filepath.Join(cfg.Out, "ghz-data.json"), filepath.Join(cfg.Out, "ghz-metadata.tmpl"), filepath.Join(cfg.Out, "ghz.json")
	if err := os.WriteFile(dataFile, data.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(mdFile, []byte(tmpl), 0o644); err != nil {
		return nil, err
	}
	var host string
	for _, c := range h.f.Children {
		if c.Command == "acquirer" {
			host = c.Addr
			break
		}
	}
	crt, keyFile := dev.Cert(authn.Partner, partner)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, cfg.GHZ, "--cacert", dev.CA("unigate"), "--cert", crt, "--key", keyFile,
		"--call", "unigate.partner.v1.PartnerService.Pay", "--data-file", dataFile, "--metadata-file", mdFile,
		"--total", strconv.Itoa(n), "--concurrency", strconv.Itoa(conc), "--timeout", "10s",
		"--format", "json", "--output", outFile, host)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ghz: %v: %s", err, lastLines(out, 5))
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Count    int            `json:"count"`
		Average  time.Duration  `json:"average"`
		Slowest  time.Duration  `json:"slowest"`
		RPS      float64        `json:"rps"`
		Statuses map[string]int `json:"statusCodeDistribution"`
		Latency  []struct {
			Percentage int           `json:"percentage"`
			Latency    time.Duration `json:"latency"`
		} `json:"latencyDistribution"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("ghz's report: %w", err)
	}
	g := &ghzResult{requests: n, concurrency: conc, host: host, rps: rep.RPS, average: rep.Average, statuses: rep.Statuses,
		lat: summary{n: rep.Count, max: rep.Slowest}}
	for _, d := range rep.Latency {
		switch d.Percentage {
		case 50:
			g.lat.p50 = d.Latency
		case 95:
			g.lat.p95 = d.Latency
		case 99:
			g.lat.p99 = d.Latency
		}
	}
	g.errors = rep.Count - rep.Statuses["OK"]
	if rep.Count < n {
		g.errors += n - rep.Count
	}
	// What the switch made of them.
	keys := make(chan string)
	for range conc {
		wg.Go(func() {
			for k := range keys {
				resp, err := client.GetPaymentByPartnerKey(ctx, k)
				mu.Lock()
				g.checked++
				if err == nil && resp.GetPayment().GetResult() == commonv1.Result_RESULT_SUCCESS {
					g.paid++
				}
				mu.Unlock()
			}
		})
	}
	for _, req := range reqs {
		keys <- req.GetPartnerPaymentId()
	}
	close(keys)
	wg.Wait()
	// A request ghz saw fail left no paid payment: count each once.
	g.errors = max(g.errors, g.checked-g.paid)
	return g, nil
}
