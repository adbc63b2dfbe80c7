// Package etcdx starts an embedded, single-member etcd server for the
// no-setup default (`make run`) and for tests, and opens clients. In a
// cluster, services use an external etcd through Connect alone.
package etcdx

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

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

// StartEmbedded starts a single-member etcd keeping its data in dir and
// serving clients on clientAddr ("127.0.0.1:2379"; port 0 picks one). It
// uses short ticks (50 ms heartbeat, 500 ms election) so that leases as
// short as one second are honoured, which leader election relies on.
func StartEmbedded(ctx context.Context, dir, clientAddr string) (*Embedded, error) {
	clientAddr, err := resolvePort(clientAddr)
	if err != nil {
		return nil, err
	}
	peerAddr, err := resolvePort("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "unigate"
	cfg.Dir = dir
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cu := url.URL{Scheme: "http", Host: clientAddr}
	pu := url.URL{Scheme: "http", Host: peerAddr}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdx: start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcdx: embedded etcd not ready after 30s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Embedded{etcd: e, Endpoint: cu.String()}, nil
}

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

// Connect opens a client to endpoints.
func Connect(endpoints []string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcdx: connect %v: %w", endpoints, err)
	}
	return cli, nil
}
