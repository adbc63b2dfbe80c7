package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/grpcx"
)

// listenAdvertised opens the service's listener and says where other
// replicas reach it: Advertise, or the listening address unless its host
// is unspecified ("" then).
func (c Common) listenAdvertised() (net.Listener, string, error) {
	lis, err := grpcx.Listen(c.Listen)
	if err != nil {
		return nil, "", err
	}
	if c.Advertise != "" {
		return lis, c.Advertise, nil
	}
	host, _, err := net.SplitHostPort(lis.Addr().String())
	if ip := net.ParseIP(host); err != nil || ip == nil || ip.IsUnspecified() {
		return lis, "", nil
	}
	return lis, lis.Addr().String(), nil
}

// electionConfig is a candidate of this service in election name, which
// publishes its address and, while standing by, follows the leader's
// process so that a crashed leader is replaced at once instead of when
// its lease expires.
func (c Common) electionConfig(service, name, candidate, advertise string) election.Config {
	return election.Config{Name: name, Candidate: candidate, TTL: 1, Log: c.Log,
		Address: advertise, Liveness: c.liveness(service)}
}

// liveness follows a process through its gRPC health stream, over this
// service's mutual TLS: it returns nil when an established stream breaks
// because the connection was lost (the process died or its host went),
// and an error when it cannot tell (no stream to begin with: a wrong
// address, an overloaded peer), after a pause so it is not called in a
// tight loop. A paused process keeps its connection and its stream: lease
// expiry handles that.
func (c Common) liveness(service string) func(ctx context.Context, addr string) error {
	opts, err := c.peerDialOptions(service)
	return func(ctx context.Context, addr string) error {
		wait := func(err error) error {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			return err
		}
		if err != nil {
			return wait(err)
		}
		conn, cerr := grpc.NewClient("passthrough:///"+addr,
			append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
		if cerr != nil {
			return wait(cerr)
		}
		defer conn.Close()
		stream, serr := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
		if serr != nil {
			return wait(serr)
		}
		established := false
		for {
			_, rerr := stream.Recv()
			switch {
			case rerr == nil:
				established = true
			case ctx.Err() != nil:
				return ctx.Err()
			case established && status.Code(rerr) == codes.Unavailable:
				return nil // the connection is gone
			default:
				return wait(rerr)
			}
		}
	}
}

// peerDialOptions connect this service to another replica of itself at an
// address (a pod IP) its certificate need not name: the peer is verified
// by its chain to Unigate's CA and by the identity in its certificate,
// which must be this same service.
func (c Common) peerDialOptions(service string) ([]grpc.DialOption, error) {
	sec := c.security(authn.Service, service)
	if !sec.on {
		return nil, nil
	}
	cfg, err := sec.dev.ClientConfig(authn.Service, service, "unigate")
	if err != nil {
		return nil, err
	}
	roots := cfg.RootCAs
	cfg.InsecureSkipVerify = true // the chain and the identity are checked below, the host name is not
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return err
		}
		for _, u := range leaf.URIs {
			if id, err := authn.Parse(u); err == nil && id.Kind == authn.Service && id.ID == service {
				return nil
			}
		}
		return fmt.Errorf("peer is not service:%s", service)
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, nil
}
