package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/pki"
)

// TestRiskPeers runs the risk replicas' membership on a real etcd with
// TLS and Unigate's access control: replicas connected as service:risk
// see each other (never themselves); one that stops drops out at once,
// one that dies when its lease expires; while etcd is down each keeps the
// last list, and once it is back they register again and see newcomers.
// No other service may write the membership.
func TestRiskPeers(t *testing.T) {
	const ttl = 2
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	dev, err := pki.WriteDev(filepath.Join(dir, "pki"), pki.DevSpec{Services: []string{"risk", "fx", EtcdServer, EtcdAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := dev.Cert(authn.Service, EtcdServer)
	sec := &etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: dev.CA("unigate")}
	data := filepath.Join(dir, "etcd")
	e, err := etcdx.StartEmbeddedTLS(ctx, data, "127.0.0.1:0", sec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() }) // after the replicas' (LIFO): etcd closes fast without clients
	endpoints := []string{e.Endpoint}
	admin, err := ConnectEtcd(dev.Dir, authn.Service, EtcdAdmin, endpoints)
	if err != nil {
		t.Fatal(err)
	}
	if err := etcdx.Bootstrap(ctx, admin, EtcdAccess()); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	fx, err := ConnectEtcd(dev.Dir, authn.Service, "fx", endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	if _, err := fx.Put(ctx, RiskPeersPrefix+"intruder", "10.9.9.9:7003"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("fx registering as a risk peer: %v, want permission denied", err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	type replica struct {
		m    *peerMembership
		stop func()     // as at shutdown: revokes its lease
		kill func()     // as a crash: its connection gone, the lease left
		done chan error // Run's return
	}
	start := func(id, addr string) replica {
		t.Helper()
		cli, err := ConnectEtcd(dev.Dir, authn.Service, "risk", endpoints)
		if err != nil {
			t.Fatal(err)
		}
		m := newPeerMembership(cli, RiskPeersPrefix, id, addr, ttl, log)
		rctx, stop := context.WithCancel(ctx)
		r := replica{m: m, done: make(chan error, 1)}
		go func() { r.done <- m.Run(rctx) }()
		r.stop = func() {
			stop()
			if err := <-r.done; err != nil {
				t.Errorf("replica %s: %v", id, err)
			}
			cli.Close()
		}
		r.kill = func() { cli.Close(); stop(); <-r.done }
		t.Cleanup(func() { stop(); cli.Close() })
		return r
	}
	sees := func(r replica, want ...string) func() bool {
		return func() bool { return slices.Equal(r.m.Peers(), want) }
	}
	waitPeers := func(what string, within time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > within {
				t.Fatalf("%s: not within %v", what, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}

	a := start("risk-a", "10.0.0.1:7003")
	b := start("risk-b", "10.0.0.2:7003")
	c := start("risk-c", "10.0.0.3:7003")
	waitPeers("a sees b and c", 10*time.Second, sees(a, "10.0.0.2:7003", "10.0.0.3:7003"))
	waitPeers("b sees a and c", 10*time.Second, sees(b, "10.0.0.1:7003", "10.0.0.3:7003"))
	waitPeers("c sees a and b", 10*time.Second, sees(c, "10.0.0.1:7003", "10.0.0.2:7003"))

	// A previous process at a's address, whose lease has not expired yet,
	// is a's own address: not a peer of a's.
	old := start("risk-a-before-restart", "10.0.0.1:7003")
	waitPeers("b sees a's address once", 10*time.Second, sees(b, "10.0.0.1:7003", "10.0.0.3:7003"))
	time.Sleep(200 * time.Millisecond)
	if got := a.m.Peers(); !slices.Equal(got, []string{"10.0.0.2:7003", "10.0.0.3:7003"}) {
		t.Fatalf("a's peers with another registration at its address: %v", got)
	}
	old.stop()

	// Stopped: gone at once. Crashed: gone when its lease expires.
	c.stop()
	if d := waitPeers("c gone after it stopped", 5*time.Second, sees(a, "10.0.0.2:7003")); d > time.Second {
		t.Errorf("a stopped replica left its peers' lists after %v, want at once (its lease revoked)", d)
	}
	b.kill()
	if d := waitPeers("b gone after its lease", (ttl+5)*time.Second, sees(a)); d < 500*time.Millisecond {
		t.Errorf("a crashed replica left after %v, before its lease could expire", d)
	}

	// etcd down: the last list stays, beyond the lease.
	d := start("risk-d", "10.0.0.4:7003")
	waitPeers("a sees d", 10*time.Second, sees(a, "10.0.0.4:7003"))
	waitPeers("d sees a", 10*time.Second, sees(d, "10.0.0.1:7003"))
	e.Close()
	time.Sleep((ttl + 2) * time.Second)
	if got := a.m.Peers(); !slices.Equal(got, []string{"10.0.0.4:7003"}) {
		t.Fatalf("a's peers during the outage: %v, want the last list", got)
	}
	if got := d.m.Peers(); !slices.Equal(got, []string{"10.0.0.1:7003"}) {
		t.Fatalf("d's peers during the outage: %v, want the last list", got)
	}

	// etcd back: they register again and see a newcomer.
	e, err = etcdx.StartEmbeddedTLS(ctx, data, strings.TrimPrefix(endpoints[0], "https://"), sec)
	if err != nil {
		t.Fatalf("restarting etcd: %v", err)
	}
	f := start("risk-f", "10.0.0.6:7003")
	waitPeers("a sees d and f after the outage", 30*time.Second, sees(a, "10.0.0.4:7003", "10.0.0.6:7003"))
	waitPeers("f sees a and d", 30*time.Second, sees(f, "10.0.0.1:7003", "10.0.0.4:7003"))
}
