package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const (
	// RiskPrefix is the risk service's part of etcd (read-write for it
	// alone: EtcdAccess).
	RiskPrefix = "/unigate/risk/"
	// RiskPeersPrefix holds one key per running risk replica, its
	// candidate id, whose value is the address the other replicas reach it
	// at, under a lease the replica keeps alive (ADR 0014, "Membership").
	RiskPeersPrefix = RiskPrefix + "peers/"
	// riskPeersTTL is the lease of a replica's key, in seconds: a replica
	// that dies without revoking it leaves its peers' lists this long
	// after.
	riskPeersTTL = 5
)

// peerMembership registers this replica under prefix and follows the
// other replicas registered there. Peers, cheap enough to call every few
// milliseconds, is their addresses; while etcd is unreachable it stays
// the last list read, and the registration is renewed once etcd answers.
type peerMembership struct {
	cli *clientv3.Client
	// prefix ends with "/"; id names this replica's key under it; addr is
	// its value. An empty addr registers nothing (no one could reach this
	// replica) but still follows the others.
	prefix, id, addr string
	// ttl is the lease, in seconds.
	ttl int
	log *slog.Logger

	mu      sync.RWMutex
	members map[string]string // id → address, this replica's excluded
	list    []string          // the distinct addresses of members, sorted
}

func newPeerMembership(cli *clientv3.Client, prefix, id, addr string, ttl int, log *slog.Logger) *peerMembership {
	return &peerMembership{cli: cli, prefix: prefix, id: id, addr: addr, ttl: ttl, log: log, members: map[string]string{}}
}

// Peers returns the other replicas' addresses (a slice not to be
// modified: it is replaced, never changed, by updates).
func (m *peerMembership) Peers() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.list
}

// Run registers and follows until ctx ends, then revokes the
// registration so that the others drop this replica at once. Lost
// connections to etcd are retried; the list of peers is kept meanwhile.
func (m *peerMembership) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := m.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			m.log.WarnContext(ctx, "risk peers: etcd", "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

// session takes a lease, puts this replica's key under it, reads the
// others and follows their changes until the lease is lost (etcd
// unreachable longer than the TTL) or ctx ends.
func (m *peerMembership) session(ctx context.Context) error {
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, time.Duration(m.ttl)*time.Second)
	}
	cctx, cancel := call()
	lease, err := m.cli.Grant(cctx, int64(m.ttl))
	cancel()
	if err != nil {
		return err
	}
	s, err := concurrency.NewSession(m.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(m.ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer func() {
		s.Orphan()
		// Leaving: revoke now rather than let the others wait for the TTL
		// (ctx is over, so on a context of its own).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_, _ = m.cli.Revoke(rctx, s.Lease())
		cancel()
	}()
	key := m.prefix + m.id
	register := func() error {
		if m.addr == "" {
			return nil
		}
		cctx, cancel := call()
		defer cancel()
		_, err := m.cli.Put(cctx, key, m.addr, clientv3.WithLease(s.Lease()))
		return err
	}
	if err := register(); err != nil {
		return err
	}
	for {
		cctx, cancel := call()
		resp, err := m.cli.Get(cctx, m.prefix, clientv3.WithPrefix())
		cancel()
		if err != nil {
			return err
		}
		members := map[string]string{}
		for _, kv := range resp.Kvs {
			members[strings.TrimPrefix(string(kv.Key), m.prefix)] = string(kv.Value)
		}
		m.set(members)
		wctx, stop := context.WithCancel(clientv3.WithRequireLeader(ctx))
		err = m.follow(wctx, s, resp.Header.Revision+1, register)
		stop()
		if err != nil || ctx.Err() != nil {
			return err
		}
		// The watch ended (compaction, etcd lost its leader): read again.
	}
}

// follow applies the changes under the prefix from revision rev on, and
// puts this replica's key again should it be deleted. It returns nil when
// the watch ends and should be started again on a fresh read, and an
// error when the lease is lost.
func (m *peerMembership) follow(ctx context.Context, s *concurrency.Session, rev int64, register func() error) error {
	wch := m.cli.Watch(ctx, m.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Done():
			return errors.New("lease lost (etcd unreachable)")
		case wr, ok := <-wch:
			if !ok || wr.Canceled || wr.Err() != nil {
				return nil
			}
			m.mu.RLock()
			members := make(map[string]string, len(m.members))
			for id, a := range m.members {
				members[id] = a
			}
			m.mu.RUnlock()
			reput := false
			for _, ev := range wr.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), m.prefix)
				switch ev.Type {
				case clientv3.EventTypePut:
					members[id] = string(ev.Kv.Value)
				case clientv3.EventTypeDelete:
					delete(members, id)
					reput = reput || id == m.id
				}
			}
			m.set(members)
			if reput {
				if err := register(); err != nil {
					return err
				}
			}
		}
	}
}

// set replaces the members (id → address) and the list of peers: every
// address but this replica's own, under its id or another (a previous
// process at the same address whose lease has not yet expired).
func (m *peerMembership) set(members map[string]string) {
	delete(members, m.id)
	var list []string
	for _, a := range members {
		if a != "" && a != m.addr && !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	slices.Sort(list)
	m.mu.Lock()
	changed := !slices.Equal(m.list, list)
	m.members = members
	m.list = list
	m.mu.Unlock()
	if changed {
		m.log.Info("risk peers", "peers", list)
	}
}
