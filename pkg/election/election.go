// Package election runs singleton work (the payment resolver, settlement
// cutoffs, FX feed ingestion) under etcd leader election.
//
// Run campaigns on a session whose lease has a short TTL, so a crashed
// leader is replaced within about the TTL plus etcd's lease-expiry sweep
// (≈ 1.2 s with TTL 1 s on 50/500 ms ticks). The leader's work runs with a
// context that is cancelled the moment leadership is in doubt: the session
// ends (lease lost, etcd unreachable), or the process stops — in which case
// Run resigns, handing over in milliseconds.
//
// Campaign is bound to the session: a Campaign that outlives its session
// could later "win" while holding nothing, so the campaign context is
// cancelled when the session ends and leadership is re-checked after
// Campaign returns.
//
// Every write a leader makes must be fenced with Term.Revision (the etcd
// revision at which its election key was created, strictly increasing from
// leader to leader), so a deposed leader that has not noticed yet cannot
// overwrite its successor's work.
package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Term is one leader's tenure.
type Term struct {
	// Name is the election ("resolver").
	Name string
	// Candidate is this candidate's id.
	Candidate string
	// Revision is the fencing token: larger for every new leader.
	Revision int64
}

// Config configures a candidate.
type Config struct {
	// Name of the election; candidates of one name elect one leader.
	Name string
	// Candidate identifies this process (host name, pod name).
	Candidate string
	// TTL is the session lease in seconds (etcd raises values below its
	// minimum: 1 s with 50/500 ms ticks, 2 s with the defaults).
	TTL int
	Log *slog.Logger
	// Address and Liveness let standbys replace a crashed leader before
	// its lease expires. A candidate publishes its Address (where others
	// reach its process) with its key; while campaigning, a standby calls
	// Liveness with the leader's Address. Liveness must block while the
	// leader's process is there and return nil once it has seen it go (its
	// connection dropped); it returns an error if it could not tell (it
	// could not reach the process at all), and must return when its ctx
	// ends. When it returns nil the standby revokes the leader's lease, and
	// the next candidate leads within milliseconds. A wrong verdict is
	// safe: the revoked leader's term ends, and its writes carry its fence.
	// A process that is paused, not gone, keeps its connections: lease
	// expiry (TTL) replaces it.
	Address  string
	Liveness func(ctx context.Context, address string) error
}

// value is what a candidate's key holds: its id, and its address after a
// newline when it has one.
func (cfg Config) value() string {
	if cfg.Address == "" {
		return cfg.Candidate
	}
	return cfg.Candidate + "\n" + cfg.Address
}

// parseValue splits a key's value into candidate and address.
func parseValue(v []byte) (candidate, address string) {
	c, a, _ := strings.Cut(string(v), "\n")
	return c, a
}

// handoverGrace is how long a stopping candidate may take to resign and
// revoke its lease.
const handoverGrace = time.Second

// Prefix is where elections live in etcd.
const Prefix = "/unigate/election/"

// Run campaigns until ctx ends. Each time this candidate wins, lead runs
// with a context that ends with the term; lead should return when it does.
// Run returns nil when ctx ends, after resigning if it was leading.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config, lead func(ctx context.Context, t Term) error) error {
	if cfg.Name == "" || cfg.Candidate == "" {
		return errors.New("election: name and candidate are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 1
	}
	standing(cfg.Name)
	for ctx.Err() == nil {
		if err := runSession(ctx, cli, cfg, lead); err != nil && ctx.Err() == nil {
			cfg.Log.WarnContext(ctx, "election session ended", "election", cfg.Name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func runSession(ctx context.Context, cli *clientv3.Client, cfg Config, lead func(context.Context, Term) error) error {
	// The session outlives ctx on purpose: when ctx ends we still want to
	// resign and revoke the lease (a clean handover), which a session bound
	// to ctx could no longer do.
	// It still ends shortly after ctx does (handoverGrace): a session that
	// cannot reach etcd must not keep Run from returning.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(handoverGrace, scancel) })
	defer stop()
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(cfg.TTL), concurrency.WithContext(sctx))
	if err != nil {
		return fmt.Errorf("election: session: %w", err)
	}
	defer s.Close() // revokes the lease: a clean stop frees the election at once
	e := concurrency.NewElection(s, Prefix+cfg.Name)

	// Bind the campaign to the session.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	if cfg.Liveness != nil {
		go watchLeader(cctx, cli, cfg, s.Lease())
	}
	err = e.Campaign(cctx, cfg.value())
	if err != nil {
		cancel()
		return fmt.Errorf("election: campaign: %w", err)
	}
	// Re-check: the session may have ended as Campaign returned.
	select {
	case <-s.Done():
		cancel()
		return errors.New("election: session ended while winning")
	default:
	}
	term := Term{Name: cfg.Name, Candidate: cfg.Candidate, Revision: e.Rev()}
	cfg.Log.InfoContext(ctx, "elected", "election", cfg.Name, "candidate", cfg.Candidate, "revision", term.Revision)
	endTerm := leading(cfg.Name)
	err = lead(cctx, term)
	endTerm()
	stillLeader := true
	select {
	case <-s.Done():
		stillLeader = false
	default:
	}
	cancel()
	if stillLeader {
		rctx, rcancel := context.WithTimeout(sctx, handoverGrace)
		if rerr := e.Resign(rctx); rerr != nil {
			cfg.Log.WarnContext(ctx, "resign failed", "election", cfg.Name, "err", rerr)
		}
		rcancel()
	}
	cfg.Log.InfoContext(ctx, "term ended", "election", cfg.Name, "candidate", cfg.Candidate, "revision", term.Revision)
	return err
}

// Leader returns the current leader's candidate id and revision, or ok=false.
func Leader(ctx context.Context, cli *clientv3.Client, name string) (candidate string, revision int64, ok bool, err error) {
	resp, err := cli.Get(ctx, Prefix+name+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", 0, false, err
	}
	if len(resp.Kvs) == 0 {
		return "", 0, false, nil
	}
	c, _ := parseValue(resp.Kvs[0].Value)
	return c, resp.Kvs[0].CreateRevision, true, nil
}

// LeaderInfo is the leader of one election as Leaders reports it.
type LeaderInfo struct {
	Election  string
	Candidate string
	Address   string
	// Revision is the leader's term (its key's create revision), the fence
	// its writes carry.
	Revision int64
	// Standbys is how many other candidates are campaigning.
	Standbys int
}

// Leaders returns the leader of every election with a candidate, by name.
func Leaders(ctx context.Context, cli *clientv3.Client) ([]LeaderInfo, error) {
	resp, err := cli.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	byName := map[string]*LeaderInfo{}
	var names []string
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), Prefix)
		i := strings.LastIndex(rest, "/")
		if i <= 0 {
			continue
		}
		name := rest[:i]
		l, ok := byName[name]
		if !ok {
			l = &LeaderInfo{Election: name}
			byName[name] = l
			names = append(names, name)
		}
		if l.Revision == 0 || kv.CreateRevision < l.Revision {
			if l.Revision != 0 {
				l.Standbys++
			}
			l.Candidate, l.Address = parseValue(kv.Value)
			l.Revision = kv.CreateRevision
		} else {
			l.Standbys++
		}
	}
	sort.Strings(names)
	out := make([]LeaderInfo, 0, len(names))
	for _, n := range names {
		out = append(out, *byName[n])
	}
	return out, nil
}

// watchLeader runs in a standby while it campaigns: it follows the
// current leader's process with cfg.Liveness and, when Liveness sees the
// process go, revokes the leader's lease. It returns when ctx ends (the
// campaign is won or abandoned).
func watchLeader(ctx context.Context, cli *clientv3.Client, cfg Config, own clientv3.LeaseID) {
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
			return true
		}
	}
	for ctx.Err() == nil {
		resp, err := cli.Get(ctx, Prefix+cfg.Name+"/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) == own {
			if !pause() {
				return
			}
			continue
		}
		kv := resp.Kvs[0]
		who, addr := parseValue(kv.Value)
		if addr == "" {
			if !pause() {
				return
			}
			continue
		}
		// Follow this leader until Liveness answers or its key goes.
		lctx, cancel := context.WithCancel(ctx)
		wch := cli.Watch(lctx, string(kv.Key))
		go func() {
			for wr := range wch {
				for _, ev := range wr.Events {
					if ev.Type == clientv3.EventTypeDelete {
						cancel()
					}
				}
			}
		}()
		err = cfg.Liveness(lctx, addr)
		gone := err == nil && lctx.Err() == nil
		cancel()
		if gone {
			if _, rerr := cli.Revoke(ctx, clientv3.LeaseID(kv.Lease)); rerr != nil && ctx.Err() == nil {
				cfg.Log.WarnContext(ctx, "revoking a gone leader's lease", "election", cfg.Name, "leader", who, "err", rerr)
			} else if rerr == nil {
				cfg.Log.InfoContext(ctx, "leader's process gone: its lease revoked", "election", cfg.Name, "leader", who, "address", addr)
			}
			continue
		}
		if !pause() {
			return
		}
	}
}
