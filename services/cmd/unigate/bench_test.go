package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// TestBenchQuick builds unigate and runs `unigate bench --quick` end to
// end: it starts its own cluster on a fresh database and free ports,
// pays through it, runs the baselines (and ghz when a ghz binary is at
// hand: UNIGATE_GHZ_BIN, or the one make bench builds), takes the CPU
// profiles and verifies the ledger. The run must succeed, and its report
// must hold every section and the final bench: line.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster of 16 processes under load")
	}
	dsn := sqlstoretest.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := goBuild(ctx, t, tmp, ".")
	out := filepath.Join(tmp, "out")
	args := []string{"bench", "--quick", "--out", out, "--base-port", strconv.Itoa(freeBasePort(t)), "--dsn", dsn, "--log-level", "warn"}
	ghz := os.Getenv("UNIGATE_GHZ_BIN")
	if ghz == "" {
		if p, err := filepath.Abs("../../../.bin/ghz"); err == nil {
			if _, err := os.Stat(p); err == nil {
				ghz = p
			}
		}
	}
	if ghz != "" {
		args = append(args, "--ghz", ghz)
	} else {
		if os.Getenv("CI") != "" {
			t.Fatal("no ghz binary: make test builds one and names it in UNIGATE_GHZ_BIN")
		}
		t.Log("no ghz binary (UNIGATE_GHZ_BIN, or make bench's): the ghz run is left out")
	}
	begin := time.Now()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "UNIGATE_GHZ_BIN=") // only --ghz says where ghz is
	printed, err := cmd.CombinedOutput()
	t.Logf("bench ran in %s", time.Since(begin).Round(time.Millisecond))
	if err != nil {
		logClusterErrors(t, filepath.Join(out, "cluster", "logs"))
		t.Fatalf("unigate bench --quick: %v\n%s", err, printed)
	}
	report, err := os.ReadFile(filepath.Join(out, "report.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"== setup", "synchronous_commit = on",
		"== closed loop: 16 wallets, 5s", "== open loop: 100 payments/s scheduled, 5s",
		"payments/s", "flow latency   p50", "pay latency    p50", "errors         none",
		"transactions", "connections    peak", "acquirer-1", "postgres (all processes)",
		"== baseline: no-op gRPC", "== baseline: pgbench", "CPU per script",
		"== ghz: Pay through server reflection",
		"== against the baselines", "== CPU profiles", "== ledger verify", "0 violations",
	}
	if ghz != "" {
		want = append(want, "statuses       OK 200", "payments       200 of 200 paid")
	}
	for _, w := range want {
		if !strings.Contains(string(report), w) {
			t.Errorf("the report lacks %q", w)
		}
	}
	var summary string
	for _, line := range strings.Split(string(printed), "\n") {
		if strings.HasPrefix(line, "bench: ") {
			summary = line
		}
	}
	if summary == "" || !strings.Contains(string(report), summary) {
		t.Errorf("no bench: line in the output and the report")
	}
	for _, w := range []string{"payments/s (closed loop", "p50", "p99", "errors 0", "of no-op gRPC", "of pgbench", "ledger: 0 violations"} {
		if !strings.Contains(summary, w) {
			t.Errorf("the bench: line lacks %q: %s", w, summary)
		}
	}
	for _, name := range []string{"acquirer-1", "acquirer-2", "fx-1", "risk-2", "router-1", "settlement-2"} {
		if fi, err := os.Stat(filepath.Join(out, "cpu-"+name+".pprof")); err != nil || fi.Size() == 0 {
			t.Errorf("no CPU profile of %s: %v", name, err)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

// logClusterErrors logs the first error lines of the cluster's logs.
func logClusterErrors(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "ERROR") && n < 40 {
				t.Logf("%s: %s", filepath.Base(f), line)
				n++
			}
		}
	}
}

func TestBenchPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, v := range n {
			d = append(d, time.Duration(v)*time.Millisecond)
		}
		return d
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 50, 7 * time.Millisecond},
		{"one value, max", ms(7), 100, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four is the last", ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p95 of 1..100", hundred, 95, 95 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"max of 1..100", hundred, 100, 100 * time.Millisecond},
		{"a tiny p is the first", hundred, 0.001, time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.sorted, c.p); got != c.want {
				t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
			}
		})
	}
	var l latencies
	for _, d := range []int{5, 1, 4, 2, 3} {
		l.add(time.Duration(d) * time.Millisecond)
	}
	if s := l.summary(); s.n != 5 || s.p50 != 3*time.Millisecond || s.max != 5*time.Millisecond || s.atLeast {
		t.Errorf("summary of 1..5 = %+v", s)
	}
}

// TestBenchOpenLoop checks the open-loop scheduler: starts on schedule
// when the work keeps up; when it does not, starts keep their scheduled
// times (the latency grows with the backlog instead of hiding it), the
// ones never started are returned, and the loop still ends on time.
func TestBenchOpenLoop(t *testing.T) {
	type start struct {
		i        int
		at, real time.Time
		done     time.Time
	}
	collect := func(work time.Duration) (*[]start, func(context.Context, int, time.Time)) {
		var mu sync.Mutex
		var starts []start
		return &starts, func(_ context.Context, i int, at time.Time) {
			s := start{i: i, at: at, real: time.Now()}
			time.Sleep(work)
			s.done = time.Now()
			mu.Lock()
			starts = append(starts, s)
			mu.Unlock()
		}
	}

	t.Run("keeps up", func(t *testing.T) {
		starts, run := collect(2 * time.Millisecond)
		started, missed, elapsed := openLoop(context.Background(), 200, 500*time.Millisecond, 50, run)
		if started != 100 || len(missed) != 0 || len(*starts) != 100 {
			t.Fatalf("started %d, missed %d, ran %d; want 100 started, none missed", started, len(missed), len(*starts))
		}
		if elapsed < 490*time.Millisecond || elapsed > 2*time.Second {
			t.Errorf("elapsed %v for a 500ms schedule", elapsed)
		}
		var first time.Time
		for _, s := range *starts {
			if s.i == 0 {
				first = s.at
			}
		}
		for _, s := range *starts {
			if want := first.Add(time.Duration(s.i) * 5 * time.Millisecond); !s.at.Equal(want) {
				t.Errorf("start %d scheduled at +%v, want +%v", s.i, s.at.Sub(first), want.Sub(first))
			}
			if s.real.Before(s.at) {
				t.Errorf("start %d ran %v before its time", s.i, s.at.Sub(s.real))
			}
		}
	})

	t.Run("falls behind", func(t *testing.T) {
		// 100 due a second, room for one at a time of 50 ms: 20 a second.
		starts, run := collect(50 * time.Millisecond)
		begin := time.Now()
		started, missed, _ := openLoop(context.Background(), 100, time.Second, 1, run)
		if took := time.Since(begin); took > 2*time.Second {
			t.Errorf("the loop took %v for a 1s schedule", took)
		}
		if started+len(missed) != 100 {
			t.Errorf("started %d + missed %d, want the 100 due", started, len(missed))
		}
		if started > 30 || len(missed) < 70 {
			t.Errorf("started %d, missed %d: want about 20 started at 20/s", started, len(missed))
		}
		var worst time.Duration
		for _, s := range *starts {
			worst = max(worst, s.done.Sub(s.at))
		}
		// The last ones started ~40 ms later than due for each before them.
		if worst < 400*time.Millisecond {
			t.Errorf("worst latency from the schedule %v: the backlog is hidden", worst)
		}
		for i, at := range missed {
			if at.Before(begin) || at.After(begin.Add(time.Second)) {
				t.Errorf("missed start %d at +%v, outside the run", i, at.Sub(begin))
			}
		}
	})
}
