package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/walletsim"
)

// runFailoverTest measures failover against a running cluster (`unigate
// cluster`): for the acquirer's elected singleton (the resolver, relay and
// poster), how long after its leader is stopped (SIGTERM), killed
// (SIGKILL) or paused (SIGSTOP) its successor can lead — the moment the
// leader's election key is gone; and how many payments fail while a
// replica of a stateless service is killed. It prints p50, p99 and max
// per kind and exits non-zero if a target is missed.
func runFailoverTest(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("failover-test", flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "the cluster's directory (unigate cluster --dir)")
	trials := fs.Int("trials", 20, "trials of each kind")
	kinds := fs.String("kinds", "graceful,crash,pause,stateless", "which trials")
	wait := fs.Duration("wait", 90*time.Second, "how long to wait for the cluster to be ready")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, err := connectHarness(ctx, *dir, *wait, out)
	if err != nil {
		return fmt.Errorf("failover-test: %w", err)
	}
	defer h.Close()
	targets := map[string]time.Duration{"graceful": 50 * time.Millisecond, "crash": 300 * time.Millisecond, "pause": 1500 * time.Millisecond}
	failed := false
	for _, kind := range strings.Split(*kinds, ",") {
		switch kind {
		case "graceful", "crash", "pause":
			var took []time.Duration
			for i := range *trials {
				d, err := h.leaderTrial(ctx, kind)
				if err != nil {
					return fmt.Errorf("%s trial %d: %w", kind, i+1, err)
				}
				took = append(took, d)
			}
			p50, p99, max := percentiles(took)
			verdict := "ok"
			if p99 > targets[kind] {
				verdict, failed = "MISSED", true
			}
			fmt.Fprintf(out, "failover %-9s n=%d p50=%v p99=%v max=%v (target p99 < %v: %s)\n", kind, len(took),
				p50.Round(time.Millisecond/10), p99.Round(time.Millisecond/10), max.Round(time.Millisecond/10), targets[kind], verdict)
		case "stateless":
			paid, lost, err := h.statelessTrials(ctx, *trials)
			if err != nil {
				return fmt.Errorf("stateless trials: %w", err)
			}
			verdict := "ok"
			if lost > 0 {
				verdict, failed = "MISSED", true
			}
			fmt.Fprintf(out, "failover stateless n=%d payments=%d failed=%d (target 0: %s)\n", *trials, paid, lost, verdict)
		default:
			return fmt.Errorf("failover-test: unknown kind %q", kind)
		}
	}
	if failed {
		return errors.New("failover-test: a target was missed")
	}
	return nil
}

func percentiles(ds []time.Duration) (p50, p99, max time.Duration) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[int(math.Ceil(q*float64(len(s))))-1] }
	return at(0.5), at(0.99), s[len(s)-1]
}

// steady waits until every acquirer replica runs and campaigns, so that a
// standby stands behind the leader (and has begun following it).
func (h *harness) steady(ctx context.Context) (election.LeaderInfo, childStatus, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := h.status(ctx)
		if err != nil {
			return election.LeaderInfo{}, childStatus{}, err
		}
		all, err := election.Leaders(ctx, h.cli)
		if err != nil {
			return election.LeaderInfo{}, childStatus{}, err
		}
		running, replicas := 0, 0
		for _, c := range st.Children {
			if c.Command == "acquirer" {
				replicas++
				if c.State == stateRunning {
					running++
				}
			}
		}
		for _, l := range all {
			if l.Election != acquirer.SingletonName || l.Standbys < replicas-1 || running != replicas {
				continue
			}
			for _, c := range st.Children {
				if c.Command == "acquirer" && c.Addr == l.Address {
					time.Sleep(300 * time.Millisecond) // the standby's follow-up stream is open
					return l, c, nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return election.LeaderInfo{}, childStatus{}, errors.New("the acquirer replicas did not settle with a leader and a standby within 30s")
}

// leaderTrial stops, kills or pauses the acquirer singleton's leader and
// returns how long until its election key is gone (its successor then
// leads), and brings the cluster back.
func (h *harness) leaderTrial(ctx context.Context, kind string) (time.Duration, error) {
	l, c, err := h.steady(ctx)
	if err != nil {
		return 0, err
	}
	key, err := h.cli.Get(ctx, election.Prefix+acquirer.SingletonName+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(key.Kvs) == 0 {
		return 0, fmt.Errorf("leader key: %v", err)
	}
	if key.Kvs[0].CreateRevision != l.Revision {
		return 0, errors.New("the leader changed while the trial began")
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	wch := h.cli.Watch(wctx, string(key.Kvs[0].Key), clientv3.WithRev(key.Header.Revision+1))
	sig := map[string]syscall.Signal{"graceful": syscall.SIGTERM, "crash": syscall.SIGKILL, "pause": syscall.SIGSTOP}[kind]
	began := time.Now()
	if err := syscall.Kill(c.PID, sig); err != nil {
		return 0, err
	}
	var took time.Duration
wait:
	for wr := range wch {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				took = time.Since(began)
				break wait
			}
		}
	}
	if took == 0 {
		return 0, errors.New("the leader's key stayed for 15s")
	}
	// Bring the cluster back.
	if kind == "pause" {
		if err := syscall.Kill(c.PID, syscall.SIGCONT); err != nil {
			return 0, err
		}
		return took, nil
	}
	if err := h.waitDown(ctx, c.Name, 30*time.Second); err != nil {
		return 0, err
	}
	return took, h.startChild(ctx, c.Name)
}

// statelessTrials kills (SIGKILL) one replica of router, fx, risk and
// settlement in turn while payments run through both acquirers, restarts
// it, and counts the payments that did not succeed.
func (h *harness) statelessTrials(ctx context.Context, trials int) (paid, lost int64, err error) {
	victims := map[string][]string{}
	for _, c := range h.f.Children {
		switch c.Command {
		case "router", "fx", "risk", "settlement":
			victims[c.Command] = append(victims[c.Command], c.Name)
		}
	}
	conn, err := h.dial("acquirer", authn.Partner, "hipay", 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	ms, err := h.merchants(ctx)
	if err != nil {
		return 0, 0, err
	}
	code := ms[0].GetStaticCode()
	w := walletsim.New("hipay", conn)

	var seq, count atomic.Int64
	var failures sync.Map
	pay := func(ctx context.Context) {
		key := fmt.Sprintf("failover-%d-%d", time.Now().UnixNano(), seq.Add(1))
		_, _, p, err := w.ScanAndPay(ctx, code, &commonv1.Money{Currency: "CNY", MinorUnits: 100}, key, "u-failover")
		count.Add(1)
		if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
			why := fmt.Sprint(err)
			if err == nil {
				why = p.GetResult().String() + " " + p.GetFailureReason()
			}
			failures.Store(key, why)
		}
	}
	order := []string{"router", "fx", "risk", "settlement"}
	for i := range trials {
		victim := victims[order[i%len(order)]][i/len(order)%2]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						pay(ctx)
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		st, err := h.status(ctx)
		if err != nil {
			close(stop)
			wg.Wait()
			return 0, 0, err
		}
		for _, c := range st.Children {
			if c.Name == victim {
				_ = syscall.Kill(c.PID, syscall.SIGKILL)
			}
		}
		time.Sleep(700 * time.Millisecond)
		close(stop)
		wg.Wait()
		if err := h.waitDown(ctx, victim, 30*time.Second); err != nil {
			return 0, 0, err
		}
		if err := h.startChild(ctx, victim); err != nil {
			return 0, 0, err
		}
	}
	failures.Range(func(k, v any) bool {
		lost++
		if lost <= 5 {
			fmt.Fprintf(h.out, "  failed payment %s: %s\n", k, v)
		}
		return true
	})
	return count.Load(), lost, nil
}
