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

// runEtcd runs a single-member etcd for running the services one by one:
// with --pki it serves https to clients presenting a certificate of
// Unigate's CA (its own is service/etcd of the PKI); bootstrap its access
// control with `unigatectl etcd bootstrap`. A cluster of members is
// `make cluster`'s business.
func runEtcd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	listen := fs.String("listen", env("UNIGATE_ETCD_LISTEN", "127.0.0.1:2379"), "client address")
	dataDir := fs.String("data-dir", ".data/etcd", "where etcd keeps its data")
	pkiDir := fs.String("pki", env("UNIGATE_PKI", ""), "PKI directory (service/etcd.crt|key, ca/unigate.crt); empty: plaintext")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sec *etcdx.ServerTLS
	if *pkiDir != "" {
		dev := pki.Dev{Dir: *pkiDir}
		crt, key := dev.Cert(authn.Service, app.EtcdServer)
		sec = &etcdx.ServerTLS{CertFile: crt, KeyFile: key, ClientCAFile: dev.CA("unigate")}
	}
	e, err := etcdx.StartEmbeddedTLS(ctx, *dataDir, *listen, sec)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintln(os.Stderr, "etcd serving clients on", e.Endpoint)
	<-ctx.Done()
	return nil
}
