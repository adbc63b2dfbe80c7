package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/services/app"
)

// runEtcd runs an etcd member: alone by default, for running the services
// one by one, or with --initial-cluster one member of a cluster (what
// `unigate cluster` starts three of). With --pki it serves https to
// clients presenting a certificate of Unigate's CA, and its peers talk TLS
// with the same certificate (service/etcd of the PKI); bootstrap its
// access control with `unigatectl etcd bootstrap`.
func runEtcd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	name := fs.String("name", "unigate", "the member's name in --initial-cluster")
	listen := fs.String("listen", env("UNIGATE_ETCD_LISTEN", "127.0.0.1:2379"), "client address")
	peerListen := fs.String("peer-listen", "127.0.0.1:0", "peer address (a fixed port with --initial-cluster)")
	initialCluster := fs.String("initial-cluster", "", "every member's peer URL, NAME=https://HOST:PORT,… (this one's included); empty: a single member")
	dataDir := fs.String("data-dir", ".data/etcd", "where etcd keeps its data")
	pkiDir := fs.String("pki", env("UNIGATE_PKI", ""), "PKI directory (service/etcd.crt|key, ca/unigate.crt); empty: plaintext")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m := etcdx.Member{Name: *name, Dir: *dataDir, ClientAddr: *listen, PeerAddr: *peerListen, InitialCluster: *initialCluster}
	if *pkiDir != "" {
		dev := pki.Dev{Dir: *pkiDir}
		crt, key := dev.Cert(authn.Service, app.EtcdServer)
		m.TLS = &etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: dev.CA("unigate")}
	}
	e, err := etcdx.StartMember(ctx, m)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintf(os.Stderr, "etcd member %s serving clients on %s\n", *name, e.Endpoint)
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("etcd member %s: %w", *name, err)
	}
}
