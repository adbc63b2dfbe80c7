// Package etcdx starts an embedded etcd server — a single member for the
// no-setup default (`make run`) and for tests, or one member of a
// multi-member cluster (`unigate etcd --initial-cluster`, which
// `unigate cluster` runs three of) — opens clients, and sets up etcd's own
// access control (Bootstrap). Services only connect (Connect, ConnectTLS).
//
// With TLS, etcd authenticates each client by its certificate and, once
// auth is enabled, takes the certificate's common name as the etcd user:
// Unigate's certificates carry their identity there ("service:router",
// "operator:alice"), so each service is an etcd user whose roles say
// which key prefixes it may read or write.
package etcdx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Embedded is a running embedded etcd.
type Embedded struct {
	etcd *embed.Etcd
	// Endpoint is the client URL ("http://127.0.0.1:2379").
	Endpoint string
}

// ServerTLS names the files of an embedded etcd's TLS: its certificate and
// key, and the CA whose certificates its clients (and its peer) present.
type ServerTLS struct{ CertFile, KeyFile, ClientCAFile string }

// StartEmbedded starts a single-member etcd keeping its data in dir and
// serving clients on clientAddr ("127.0.0.1:2379"; port 0 picks one). It
// uses short ticks (50 ms heartbeat, 500 ms election) so that leases as
// short as one second are honoured, which leader election relies on.
func StartEmbedded(ctx context.Context, dir, clientAddr string) (*Embedded, error) {
	return StartEmbeddedTLS(ctx, dir, clientAddr, nil)
}

// StartEmbeddedTLS is StartEmbedded serving https to clients that present
// a certificate of sec.ClientCAFile (and talking TLS to its peer URL);
// nil sec serves plain http.
func StartEmbeddedTLS(ctx context.Context, dir, clientAddr string, sec *ServerTLS) (*Embedded, error) {
	return StartMember(ctx, Member{Name: "unigate", Dir: dir, ClientAddr: clientAddr, PeerAddr: "127.0.0.1:0", TLS: sec})
}

// Member configures one member of an etcd cluster.
type Member struct {
	// Name is the member's name in InitialCluster ("n1").
	Name string
	// Dir keeps the member's data. A member restarted on the same Dir
	// rejoins its cluster; a new cluster needs empty dirs (each member
	// preallocates a 64 MB write-ahead log there).
	Dir string
	// ClientAddr and PeerAddr are where the member serves clients and the
	// other members ("127.0.0.1:2379", "127.0.0.1:2380"). Port 0 picks a
	// free port, which only a single member can do: the others must know
	// its peer address beforehand.
	ClientAddr, PeerAddr string
	// InitialCluster lists every member's peer URL,
	// "n1=https://127.0.0.1:2380,n2=https://127.0.0.1:2381,…", this one's
	// included; the scheme is https when TLS is set. Empty means a
	// single-member cluster of this member alone.
	InitialCluster string
	// TLS, if set, serves https to clients presenting a certificate of
	// TLS.ClientCAFile, and the peers talk TLS to each other with the same
	// certificate; nil: plain http everywhere.
	TLS *ServerTLS
}

// Validate reports a member that cannot start.
func (m Member) Validate() error {
	if m.Name == "" || m.Dir == "" || m.ClientAddr == "" || m.PeerAddr == "" {
		return errors.New("etcdx: a member needs a name, a data directory, a client and a peer address")
	}
	if m.InitialCluster == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(m.PeerAddr); err != nil || port == "0" {
		return fmt.Errorf("etcdx: member %s of a cluster: peer address %q must have a fixed port", m.Name, m.PeerAddr)
	}
	for _, item := range strings.Split(m.InitialCluster, ",") {
		if name, _, _ := strings.Cut(item, "="); name == m.Name {
			return nil
		}
	}
	return fmt.Errorf("etcdx: member %s is not in the initial cluster %q", m.Name, m.InitialCluster)
}

// StartMember starts the member m and returns once it serves clients,
// which takes a quorum: start the members of a new cluster together (in
// their own processes, or concurrently). Every member gets the same short
// ticks as StartEmbedded, so a cluster elects a new leader about 0.6 s
// after losing its leader.
func StartMember(ctx context.Context, m Member) (*Embedded, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	clientAddr, err := resolvePort(m.ClientAddr)
	if err != nil {
		return nil, err
	}
	peerAddr, err := resolvePort(m.PeerAddr)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.Dir
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	scheme := "http"
	if sec := m.TLS; sec != nil {
		scheme = "https"
		cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = sec.CertFile, sec.KeyFile
		cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = sec.ClientCAFile, true
		cfg.PeerTLSInfo = cfg.ClientTLSInfo
		cfg.ClientTLSInfo.MinVersion = tls.VersionTLS13
	}
	cu := url.URL{Scheme: scheme, Host: clientAddr}
	pu := url.URL{Scheme: scheme, Host: peerAddr}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = m.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	}
	cfg.ClusterState = embed.ClusterStateFlagNew // ignored once Dir holds data: a restarted member rejoins
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdx: start etcd member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdx: etcd member %s: %w", m.Name, err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcdx: etcd member %s not ready after 30s", m.Name)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Embedded{etcd: e, Endpoint: cu.String()}, nil
}

// Err reports a fatal error of the running server.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the server.
func (e *Embedded) Close() { e.etcd.Close() }

// resolvePort replaces port 0 by a free port. (etcd needs to know its
// advertised URLs before it listens.)
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("etcdx: %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("etcdx: pick a port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Connect opens a plaintext client to endpoints.
func Connect(endpoints []string) (*clientv3.Client, error) {
	return ConnectTLS(endpoints, nil)
}

// ConnectTLS opens a client to endpoints that authenticates with the
// client certificate of tlsCfg (nil: plaintext).
func ConnectTLS(endpoints []string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		TLS:         tlsCfg,
	})
	if err != nil {
		return nil, fmt.Errorf("etcdx: connect %v: %w", endpoints, err)
	}
	return cli, nil
}

// Role is an etcd role: the key prefixes it may read, and those it may
// read and write.
type Role struct {
	Name            string
	Read, ReadWrite []string
}

// Access is etcd's access control for Unigate: roles, the users holding
// them (each named by a certificate's common name) and the users with
// etcd's root role.
type Access struct {
	Roles []Role
	// Users maps each user to its roles.
	Users map[string][]string
	// Admins hold the root role: they may do anything, including change
	// this access control.
	Admins []string
}

// Bootstrap creates a's roles and users (none has a password: they
// authenticate by certificate), grants the roles, and enables etcd's
// authentication. It is idempotent: run again, with auth already enabled
// and a client whose user is one of a's Admins, it adds what is missing
// and changes nothing else. etcd requires a user named "root" with the
// root role before it enables auth; Bootstrap creates it without a
// password, so no one can log in as it.
func Bootstrap(ctx context.Context, cli *clientv3.Client, a Access) error {
	noPassword := &clientv3.UserAddOptions{NoPassword: true}
	addUser := func(name string) error {
		if _, err := cli.Auth.UserAddWithOptions(ctx, name, "", noPassword); err != nil && !errors.Is(err, rpctypes.ErrUserAlreadyExist) {
			return fmt.Errorf("etcdx: add user %q: %w", name, err)
		}
		return nil
	}
	grant := func(user, role string) error {
		if _, err := cli.Auth.UserGrantRole(ctx, user, role); err != nil {
			return fmt.Errorf("etcdx: grant %q to %q: %w", role, user, err)
		}
		return nil
	}
	for _, r := range a.Roles {
		if _, err := cli.Auth.RoleAdd(ctx, r.Name); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
			return fmt.Errorf("etcdx: add role %q: %w", r.Name, err)
		}
		perms := []struct {
			prefixes []string
			t        clientv3.PermissionType
		}{{r.Read, clientv3.PermissionType(clientv3.PermRead)}, {r.ReadWrite, clientv3.PermissionType(clientv3.PermReadWrite)}}
		for _, p := range perms {
			for _, prefix := range p.prefixes {
				if _, err := cli.Auth.RoleGrantPermission(ctx, r.Name, prefix, clientv3.GetPrefixRangeEnd(prefix), p.t); err != nil {
					return fmt.Errorf("etcdx: grant %v on %q to role %q: %w", p.t, prefix, r.Name, err)
				}
			}
		}
	}
	for _, name := range append([]string{"root"}, a.Admins...) {
		if err := addUser(name); err != nil {
			return err
		}
		if err := grant(name, "root"); err != nil {
			return err
		}
	}
	users := make([]string, 0, len(a.Users))
	for u := range a.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		if err := addUser(u); err != nil {
			return err
		}
		for _, r := range a.Users[u] {
			if err := grant(u, r); err != nil {
				return err
			}
		}
	}
	if _, err := cli.Auth.AuthEnable(ctx); err != nil {
		return fmt.Errorf("etcdx: enable auth: %w", err)
	}
	return nil
}
