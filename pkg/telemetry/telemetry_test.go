package telemetry_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/telemetry"
)

// collector is an OTLP/gRPC trace collector that keeps the names of the
// spans it receives.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

// startCollector serves a collector on loopback, over TLS when tlsCfg is
// set, and returns its host:port.
func startCollector(t *testing.T, tlsCfg *tls.Config) (string, *collector) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	srv := grpc.NewServer(opts...)
	c := &collector{}
	coltracepb.RegisterTraceServiceServer(srv, c)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String(), c
}

// testPKI is a CA made for the test, the collector's certificate for
// 127.0.0.1 and a client certificate, the CA and the client's pair in
// files as OTEL_EXPORTER_OTLP_* name them.
type testPKI struct {
	server                    tls.Certificate
	pool                      *x509.CertPool
	caFile, certFile, keyFile string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("telemetry test CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue(authn.Identity{Kind: authn.Service, ID: "otel-collector"}, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	server, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := ca.Issue(authn.Identity{Kind: authn.Service, ID: "acquirer"}, nil, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := testPKI{server: server, pool: x509.NewCertPool(),
		caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "client.crt"), keyFile: filepath.Join(dir, "client.key")}
	p.pool.AddCert(ca.Cert)
	for file, b := range map[string][]byte{p.caFile: ca.CertPEM(), p.certFile: cliCert, p.keyFile: cliKey} {
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// otelEnv lists every variable Setup or the exporter reads; each test
// case starts with all of them empty (which both treat as unset).
var otelEnv = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
}

// TestSetupTransport exports a span to a real collector on loopback and
// checks that the endpoint's form chose the transport: each collector
// serves only TLS (with or without requiring a client certificate) or only
// plaintext, so an export over the other fails.
func TestSetupTransport(t *testing.T) {
	p := newTestPKI(t)
	const (
		plain = iota
		tlsOnly
		mutualTLS
	)
	for _, tc := range []struct {
		name      string
		collector int
		endpoint  string            // Config.OTLPEndpoint; ADDR is the collector's host:port
		env       map[string]string // ADDR, CA, CERT and KEY are replaced
	}{
		{"https URL, CA from OTEL_EXPORTER_OTLP_CERTIFICATE", tlsOnly, "https://ADDR",
			map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "CA"}},
		{"https URL from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tlsOnly, "",
			map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://ADDR", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
				"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "CA"}},
		{"https URL with a client certificate from the environment", mutualTLS, "https://ADDR",
			map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "CA", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "CERT", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "KEY"}},
		{"http URL is plaintext even with a CA set", plain, "http://ADDR",
			map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "CA"}},
		{"http URL from OTEL_EXPORTER_OTLP_ENDPOINT", plain, "",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://ADDR"}},
		{"bare host:port stays plaintext", plain, "ADDR",
			map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "CA"}},
		{"bare host:port with OTEL_EXPORTER_OTLP_INSECURE=false is TLS", tlsOnly, "ADDR",
			map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "false", "OTEL_EXPORTER_OTLP_CERTIFICATE": "CA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *tls.Config
			switch tc.collector {
			case tlsOnly:
				cfg = &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
			case mutualTLS:
				cfg = &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12,
					ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert}
			}
			addr, col := startCollector(t, cfg)
			fill := strings.NewReplacer("ADDR", addr, "CA", p.caFile, "CERT", p.certFile, "KEY", p.keyFile).Replace
			for _, k := range otelEnv {
				t.Setenv(k, fill(tc.env[k]))
			}
			prev := otel.GetTracerProvider()
			t.Cleanup(func() { otel.SetTracerProvider(prev) })

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			shutdown, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "telemetry-test", OTLPEndpoint: fill(tc.endpoint)})
			if err != nil {
				t.Fatal(err)
			}
			_, span := otel.Tracer("telemetry-test").Start(ctx, "exported span")
			span.End()
			if err := shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if got := col.received(); !slices.Equal(got, []string{"exported span"}) {
				t.Fatalf("collector received %q, want the one span", got)
			}
		})
	}
}
