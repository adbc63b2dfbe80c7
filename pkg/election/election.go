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
	err = e.Campaign(cctx, cfg.Candidate)
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
	err = lead(cctx, term)
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
	return string(resp.Kvs[0].Value), resp.Kvs[0].CreateRevision, true, nil
}
