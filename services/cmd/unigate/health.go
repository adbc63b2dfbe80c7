package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/pki"
)

// runHealth checks a Unigate server's gRPC health over its mutual TLS, as
// the service whose certificate the PKI holds: what a Kubernetes exec
// probe runs, since kubelet's own gRPC probe cannot present a client
// certificate. It succeeds only if the server answers SERVING.
func runHealth(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	service := fs.String("service", env("UNIGATE_SERVICE", ""), "the service whose certificate to present (acquirer, router, …)")
	addr := fs.String("addr", env("UNIGATE_LISTEN", "127.0.0.1:7000"), "the server's address; an empty or unspecified host means 127.0.0.1")
	serverName := fs.String("server-name", "", "the name to verify the server's certificate against (default: the address's host)")
	name := fs.String("name", "", "the health service name to check (\"\": the whole server)")
	pkiDir := fs.String("pki", env("UNIGATE_PKI", ""), "PKI directory; empty: plaintext")
	timeout := fs.Duration("timeout", 2*time.Second, "deadline of the check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	var opts []grpc.DialOption
	if *pkiDir != "" {
		if *service == "" {
			return errors.New("--service is required with --pki")
		}
		cfg, err := pki.Dev{Dir: *pkiDir}.ClientConfig(authn.Service, *service, "unigate")
		if err != nil {
			return err
		}
		if *serverName != "" {
			cfg.ServerName = *serverName
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	conn, err := grpcx.Dial(net.JoinHostPort(host, port), *timeout, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: *name})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s: %s", net.JoinHostPort(host, port), resp.GetStatus())
	}
	return nil
}
