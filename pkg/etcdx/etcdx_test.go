package etcdx_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/pki"
)

// TestAccess runs a real etcd with TLS and its access control on: a
// client without a certificate or with one of another authority gets
// nothing; each service reads and writes exactly its prefixes.
func TestAccess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	dev, err := pki.WriteDev(filepath.Join(dir, "pki"), pki.DevSpec{
		Services: []string{"etcd", "etcd-admin", "router", "fx"}, Partners: []string{"hipay"}})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := dev.Cert(authn.Service, "etcd")
	e, err := etcdx.StartEmbeddedTLS(ctx, filepath.Join(dir, "etcd"), "127.0.0.1:0",
		&etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: dev.CA("unigate")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	connect := func(kind authn.Kind, id string) *clientv3.Client {
		t.Helper()
		cfg, err := dev.ClientConfig(kind, id, "unigate")
		if err != nil {
			t.Fatal(err)
		}
		cli, err := etcdx.ConnectTLS([]string{e.Endpoint}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	user := func(id string) string { return authn.Identity{Kind: authn.Service, ID: id}.String() }
	access := etcdx.Access{
		Roles: []etcdx.Role{
			{Name: "service", Read: []string{"/t/routing/"}, ReadWrite: []string{"/t/election/"}},
			{Name: "routing-writer", ReadWrite: []string{"/t/routing/"}},
		},
		Users:  map[string][]string{user("router"): {"service", "routing-writer"}, user("fx"): {"service"}},
		Admins: []string{user("etcd-admin")},
	}
	admin := connect(authn.Service, "etcd-admin")
	if err := etcdx.Bootstrap(ctx, admin, access); err != nil {
		t.Fatal(err)
	}
	// Again, now with auth on: nothing changes and nothing fails.
	if err := etcdx.Bootstrap(ctx, admin, access); err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}

	router, fx := connect(authn.Service, "router"), connect(authn.Service, "fx")
	if _, err := router.Put(ctx, "/t/routing/partners/hipay", "{}"); err != nil {
		t.Fatalf("router writes the routing table: %v", err)
	}
	if r, err := fx.Get(ctx, "/t/routing/", clientv3.WithPrefix()); err != nil || r.Count != 1 {
		t.Fatalf("fx reads the routing table: %v (count %v)", err, r)
	}
	if _, err := fx.Put(ctx, "/t/routing/partners/hipay", `{"endpoint":"evil:443"}`); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("fx writes the routing table: got %v, want permission denied", err)
	}
	if _, err := fx.Put(ctx, "/t/election/x", "fx"); err != nil {
		t.Fatalf("fx campaigns: %v", err)
	}
	if _, err := fx.Get(ctx, "/t/secret"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("fx reads outside its prefixes: got %v, want permission denied", err)
	}

	// No client certificate, or one from the partners' CA: no access.
	for name, cfg := range map[string]func() (*clientv3.Client, error){
		"no certificate": func() (*clientv3.Client, error) {
			c, err := pki.ClientConfig("", "", dev.CA("unigate"))
			if err != nil {
				return nil, err
			}
			return etcdx.ConnectTLS([]string{e.Endpoint}, c)
		},
		"partner certificate": func() (*clientv3.Client, error) {
			c, err := dev.ClientConfig(authn.Partner, "hipay", "unigate")
			if err != nil {
				return nil, err
			}
			return etcdx.ConnectTLS([]string{e.Endpoint}, c)
		},
		"plaintext": func() (*clientv3.Client, error) {
			return etcdx.Connect([]string{"http://" + e.Endpoint[len("https://"):]})
		},
	} {
		cli, err := cfg()
		if err != nil {
			continue // refused at dial: as good
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = cli.Get(cctx, "/t/routing/", clientv3.WithPrefix())
		ccancel()
		cli.Close()
		if err == nil {
			t.Errorf("%s: read the routing table", name)
		}
	}
}

// TestCluster starts a three-member cluster with TLS between clients and
// members and among the members, writes through one member and reads
// through another, then closes the leader: the other two elect a new one
// and still take writes.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	dev, err := pki.WriteDev(filepath.Join(dir, "pki"), pki.DevSpec{Services: []string{"etcd", "etcd-admin"}})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := dev.Cert(authn.Service, "etcd")
	sec := &etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: dev.CA("unigate")}
	names := []string{"n1", "n2", "n3"}
	members := make([]etcdx.Member, len(names))
	var initial []string
	for i, name := range names {
		members[i] = etcdx.Member{Name: name, Dir: filepath.Join(dir, name), ClientAddr: freeAddr(t), PeerAddr: freeAddr(t), TLS: sec}
		initial = append(initial, name+"=https://"+members[i].PeerAddr)
	}
	// Each member serves only once there is a quorum: start them together.
	started := make([]*etcdx.Embedded, len(members))
	errs := make(chan error, len(members))
	for i := range members {
		members[i].InitialCluster = strings.Join(initial, ",")
		go func() {
			e, err := etcdx.StartMember(ctx, members[i])
			started[i] = e
			errs <- err
		}()
	}
	for range members {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	closed := map[int]bool{}
	defer func() {
		for i, e := range started {
			if !closed[i] {
				e.Close()
			}
		}
	}()
	cfg, err := dev.ClientConfig(authn.Service, "etcd-admin", "unigate")
	if err != nil {
		t.Fatal(err)
	}
	connect := func(i int) *clientv3.Client {
		t.Helper()
		cli, err := etcdx.ConnectTLS([]string{started[i].Endpoint}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	if _, err := connect(0).Put(ctx, "/t/k", "v1"); err != nil {
		t.Fatalf("write through n1: %v", err)
	}
	if r, err := connect(1).Get(ctx, "/t/k"); err != nil || r.Count != 1 || string(r.Kvs[0].Value) != "v1" {
		t.Fatalf("read through n2: %v %v", r, err)
	}

	// Close the leader; the others take writes once they elect a new one.
	leader := -1
	for i, e := range started {
		st, err := connect(i).Status(ctx, e.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader == st.Header.MemberId {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no member is the leader")
	}
	started[leader].Close()
	closed[leader] = true
	for i := range started {
		if closed[i] {
			continue
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := connect(i).Put(wctx, "/t/k", names[i])
		wcancel()
		if err != nil {
			t.Fatalf("write through %s after closing the leader %s: %v", names[i], names[leader], err)
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
