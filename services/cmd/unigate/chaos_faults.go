package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/acquirer"
)

// This file is the fault side of `unigate chaos`: one fault at a time,
// chosen at random from a seeded source, each undone before the next.

// Fault kinds.
const (
	// faultKill: kill -9 of a random replica of a service or a random etcd
	// member, started again through the supervisor after 1–2 s.
	faultKill = "kill"
	// faultPause: SIGSTOP of a random replica or etcd member for 1–3 s.
	faultPause = "pause"
	// faultAcquirerLeader: kill -9 of the acquirer singleton's leader, then
	// restart it.
	faultAcquirerLeader = "acquirer-leader"
	// faultAcquirerLeaderPause: SIGSTOP of the acquirer singleton's leader
	// for 1–3 s, long enough for its standby to take over: the paused
	// leader wakes up still believing it leads, and its writes must be
	// fenced off.
	faultAcquirerLeaderPause = "acquirer-leader-pause"
	// faultEtcdLeader: kill -9 of the etcd member that leads, then restart it.
	faultEtcdLeader = "etcd-leader"
	// faultPostgres: pg_ctlcluster VERSION NAME restart.
	faultPostgres = "postgres"
	// faultNetworkSilent: SIGSTOP of the merchant network (the merchant
	// simulator) for 2–4 s.
	faultNetworkSilent = "network-silent"
)

var faultKinds = []string{faultKill, faultPause, faultAcquirerLeader, faultAcquirerLeaderPause, faultEtcdLeader, faultPostgres, faultNetworkSilent}

// replicated are the commands whose children kill and pause choose from:
// every replica of a service and every etcd member. The simulators stand
// for parties outside the switch and keep their state in memory, so they
// are only ever paused (faultNetworkSilent).
var replicated = map[string]bool{"acquirer": true, "router": true, "fx": true, "risk": true, "settlement": true, "etcd": true}

// postgresControl restarts the cluster's PostgreSQL server.
type postgresControl struct {
	version, name string
	db            *sqlstore.DB
}

// findPostgres finds the local PostgreSQL cluster serving dsn and checks
// that this user may restart it with pg_ctlcluster; otherwise it says why
// not.
func findPostgres(dsn string, db *sqlstore.DB) (*postgresControl, string) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, "the DSN does not parse"
	}
	if h := u.Hostname(); h != "" && h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, "the database is not on this machine (" + h + ")"
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		return nil, "no pg_ctlcluster here (PostgreSQL's Debian wrappers)"
	}
	out, err := exec.Command("pg_lsclusters", "--no-header").Output()
	if err != nil {
		return nil, "pg_lsclusters failed: " + err.Error()
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[2] != port {
			continue
		}
		if me, err := user.Current(); err != nil || (me.Uid != "0" && me.Username != f[4]) {
			return nil, fmt.Sprintf("only root or %s may restart PostgreSQL %s/%s", f[4], f[0], f[1])
		}
		return &postgresControl{version: f[0], name: f[1], db: db}, ""
	}
	return nil, "no PostgreSQL cluster of pg_lsclusters listens on port " + port
}

func (p *postgresControl) String() string { return "PostgreSQL " + p.version + "/" + p.name }

// restart restarts the server and waits until it answers again.
func (p *postgresControl) restart(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(cctx, "pg_ctlcluster", p.version, p.name, "restart").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctlcluster %s %s restart: %v: %s", p.version, p.name, err, strings.TrimSpace(string(out)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.db.Ping(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL does not answer 30s after its restart: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// injector injects faults into a cluster.
type injector struct {
	h     *harness
	rng   *rand.Rand
	kinds []string
	pg    *postgresControl
	begin time.Time

	mu     sync.Mutex
	counts map[string]int
	// broken counts faults the cluster did not come back from on its own
	// terms (a child that would not start again); each is printed.
	broken int
	last   string
}

func newInjector(h *harness, seed int64, kinds []string, pg *postgresControl) *injector {
	return &injector{h: h, rng: rand.New(rand.NewSource(seed)), kinds: kinds, pg: pg, counts: map[string]int{}, begin: time.Now()}
}

func (in *injector) logf(format string, args ...any) {
	fmt.Fprintf(in.h.out, "chaos: %5.1fs fault: %s\n", time.Since(in.begin).Seconds(), fmt.Sprintf(format, args...))
}

// minFaultGap is the least time between one fault's end and the next
// fault.
const minFaultGap = 500 * time.Millisecond

// run injects a fault every interval until ctx ends: a fault begins
// interval after the one before began, or minFaultGap after it ended if
// it lasted longer. Each fault is undone (under a context that outlives
// ctx) before the next is chosen, so there is never more than one at a
// time, and never more than one replica of a service down.
func (in *injector) run(ctx context.Context, interval time.Duration) {
	undo := context.WithoutCancel(ctx)
	next := time.Now().Add(interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		if ctx.Err() != nil {
			return
		}
		began := time.Now()
		in.whole(undo)
		// Every draw is made whatever happens, so a seed replays the same
		// choices.
		kind := in.kinds[in.rng.Intn(len(in.kinds))]
		pick, length := in.rng.Intn(1<<30), in.rng.Float64()
		what, err := in.inject(undo, kind, pick, length)
		in.mu.Lock()
		in.counts[kind]++
		in.last = what
		if err != nil {
			in.broken++
		}
		in.mu.Unlock()
		if err != nil {
			in.logf("%s: %v", what, err)
			if kind == faultPostgres {
				// Not a fault of the switch: this machine will not restart
				// PostgreSQL for us. Leave it out from now on.
				in.kinds = slices.DeleteFunc(in.kinds, func(k string) bool { return k == faultPostgres })
				in.logf("PostgreSQL restarts left out from now on")
			}
		} else {
			in.logf("%s", what)
		}
		next = began.Add(interval)
		if soonest := time.Now().Add(minFaultGap); next.Before(soonest) {
			next = soonest
		}
	}
}

// whole starts any child that is down and continues any that is paused:
// the state before each fault, and after the last.
func (in *injector) whole(ctx context.Context) {
	st, err := in.h.status(ctx)
	if err != nil {
		in.logf("cluster status: %v", err)
		return
	}
	for _, c := range st.Children {
		if c.PID > 0 && (c.State == stateRunning || c.State == stateStarting) {
			_ = syscall.Kill(c.PID, syscall.SIGCONT)
			continue
		}
		if c.State == stateExited || c.State == stateStopped {
			if err := in.h.startChild(ctx, c.Name); err != nil {
				in.logf("%s was down and does not start: %v", c.Name, err)
				continue
			}
			in.logf("%s was down: started", c.Name)
		}
	}
}

// counts returns the faults injected so far by kind, the last one, and
// how many left the cluster broken.
func (in *injector) snapshot() (map[string]int, string, int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int, len(in.counts))
	for k, v := range in.counts {
		out[k] = v
	}
	return out, in.last, in.broken
}

// between is lo plus a fraction f of (hi - lo).
func between(lo, hi time.Duration, f float64) time.Duration {
	return lo + time.Duration(f*float64(hi-lo))
}

func (in *injector) inject(ctx context.Context, kind string, pick int, length float64) (string, error) {
	st, err := in.h.status(ctx)
	if err != nil {
		return kind, err
	}
	var victims []childStatus
	for _, c := range st.Children {
		if replicated[c.Command] && c.State == stateRunning {
			victims = append(victims, c)
		}
	}
	byAddr := func(addr string) (childStatus, bool) {
		for _, c := range st.Children {
			if c.Addr == addr && c.State == stateRunning {
				return c, true
			}
		}
		return childStatus{}, false
	}
	switch kind {
	case faultKill:
		if len(victims) == 0 {
			return kind + ": nothing running", errors.New("no replica runs")
		}
		return in.killAndRestart(ctx, victims[pick%len(victims)], between(time.Second, 2*time.Second, length))
	case faultPause:
		if len(victims) == 0 {
			return kind + ": nothing running", errors.New("no replica runs")
		}
		return in.pause(ctx, victims[pick%len(victims)], between(time.Second, 3*time.Second, length))
	case faultAcquirerLeader, faultAcquirerLeaderPause:
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		leaders, err := election.Leaders(lctx, in.h.cli)
		cancel()
		if err != nil {
			return kind, fmt.Errorf("find the acquirer's leader: %w", err)
		}
		for _, l := range leaders {
			if l.Election != acquirer.SingletonName {
				continue
			}
			c, ok := byAddr(l.Address)
			if !ok {
				break
			}
			if kind == faultAcquirerLeaderPause {
				what, err := in.pause(ctx, c, between(time.Second, 3*time.Second, length))
				return "leader " + what, err
			}
			what, err := in.killAndRestart(ctx, c, between(time.Second, 2*time.Second, length))
			return "leader " + what, err
		}
		return kind + ": no acquirer leads now", nil
	case faultEtcdLeader:
		for _, c := range st.Children {
			if c.Command != "etcd" || c.State != stateRunning {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			s, err := in.h.cli.Status(sctx, c.Addr)
			cancel()
			if err == nil && s.Leader != 0 && s.Header.GetMemberId() == s.Leader {
				what, err := in.killAndRestart(ctx, c, between(time.Second, 2*time.Second, length))
				return "etcd leader " + what, err
			}
		}
		return "kill -9 the etcd leader: no member leads now", nil
	case faultPostgres:
		began := time.Now()
		if err := in.pg.restart(ctx); err != nil {
			return "restart " + in.pg.String(), err
		}
		return fmt.Sprintf("restart %s: answering again after %.1fs", in.pg, time.Since(began).Seconds()), nil
	case faultNetworkSilent:
		for _, c := range st.Children {
			if c.Command == "merchantsim" && c.State == stateRunning {
				what, err := in.pause(ctx, c, between(2*time.Second, 4*time.Second, length))
				return "merchant network silent: " + what, err
			}
		}
		return "merchant network silent: the simulator is not running", errors.New("merchantsim is not running")
	}
	return kind, fmt.Errorf("unknown fault %q", kind)
}

// killAndRestart kills c with SIGKILL, waits until the supervisor has
// seen it end, and after down in all starts it again.
func (in *injector) killAndRestart(ctx context.Context, c childStatus, down time.Duration) (string, error) {
	what := fmt.Sprintf("kill -9 %s (pid %d)", c.Name, c.PID)
	began := time.Now()
	if err := syscall.Kill(c.PID, syscall.SIGKILL); err != nil {
		return what, err
	}
	if err := in.h.waitDown(ctx, c.Name, 15*time.Second); err != nil {
		return what, err
	}
	time.Sleep(time.Until(began.Add(down)))
	var err error
	for range 3 {
		if err = in.h.startChild(ctx, c.Name); err == nil {
			return fmt.Sprintf("%s, started again after %.1fs down, serving after %.1fs", what, down.Seconds(), time.Since(began).Seconds()), nil
		}
		time.Sleep(time.Second)
	}
	return what, fmt.Errorf("does not start again: %w", err)
}

// pause stops c with SIGSTOP for d, then continues it.
func (in *injector) pause(ctx context.Context, c childStatus, d time.Duration) (string, error) {
	what := fmt.Sprintf("SIGSTOP %s (pid %d) for %.1fs", c.Name, c.PID, d.Seconds())
	if err := syscall.Kill(c.PID, syscall.SIGSTOP); err != nil {
		return what, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	if err := syscall.Kill(c.PID, syscall.SIGCONT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return what, fmt.Errorf("SIGCONT: %w", err)
	}
	return what, nil
}
