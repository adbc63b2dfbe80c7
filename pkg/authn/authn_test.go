package authn_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/rpcerr"
)

type echo struct {
	testgrpc.UnimplementedTestServiceServer
	seen chan authn.Identity
}

func (e *echo) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	id, _ := authn.FromContext(ctx)
	e.seen <- id
	return &testgrpc.Empty{}, nil
}

func (e *echo) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{}, nil
}

// TestMutualTLS: the identity comes from the verified certificate, each
// kind only from its own CA, and the policy decides per method.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	dev, err := pki.WriteDev(dir, pki.DevSpec{Services: []string{"acquirer"}, Partners: []string{"hipay"}, Networks: []string{"cnsim"},
		Operators: map[string]authn.Role{"vera": authn.Viewer, "adam": authn.Admin}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := dev.Authority()
	if err != nil {
		t.Fatal(err)
	}
	policy := authn.Policy{
		"/grpc.testing.TestService/EmptyCall": {Kinds: []authn.Kind{authn.Partner, authn.Operator}, MinRole: authn.Viewer},
		"/grpc.testing.TestService/UnaryCall": {Kinds: []authn.Kind{authn.Network, authn.Operator}, MinRole: authn.Admin},
	}
	scfg, err := dev.ServerConfig(authn.Service, "acquirer")
	if err != nil {
		t.Fatal(err)
	}
	unary, stream := auth.Interceptors(policy, nil)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(scfg)), grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream))
	e := &echo{seen: make(chan authn.Identity, 10)}
	testgrpc.RegisterTestServiceServer(srv, e)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	call := func(t *testing.T, cfg *tls.Config, unaryCall bool) error {
		t.Helper()
		creds := insecure.NewCredentials()
		if cfg != nil {
			creds = credentials.NewTLS(cfg)
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c := testgrpc.NewTestServiceClient(conn)
		if unaryCall {
			_, err = c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		} else {
			_, err = c.EmptyCall(ctx, &testgrpc.Empty{})
		}
		return err
	}
	client := func(kind authn.Kind, id string) *tls.Config {
		cfg, err := dev.ClientConfig(kind, id, "unigate")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("a partner is who its certificate says", func(t *testing.T) {
		if err := call(t, client(authn.Partner, "hipay"), false); err != nil {
			t.Fatal(err)
		}
		if id := <-e.seen; id != (authn.Identity{Kind: authn.Partner, ID: "hipay"}) {
			t.Fatalf("identity %v", id)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg, err := pki.ClientConfig("", "", dev.CA("unigate"))
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t, cfg, false); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		if err := call(t, nil, false); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a certificate from another CA", func(t *testing.T) {
		other, err := pki.WriteDev(filepath.Join(t.TempDir(), "other"), pki.DevSpec{Partners: []string{"hipay"}})
		if err != nil {
			t.Fatal(err)
		}
		crt, key := other.Cert(authn.Partner, "hipay")
		cfg, err := pki.ClientConfig(crt, key, dev.CA("unigate"))
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t, cfg, false); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an expired certificate", func(t *testing.T) {
		ca, err := pki.LoadCA(dev.CA("partners"), filepath.Join(dir, "ca", "partners.key"))
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := ca.Issue(authn.Identity{Kind: authn.Partner, ID: "hipay"}, nil, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg := client(authn.Partner, "hipay")
		cfg.Certificates = []tls.Certificate{kp}
		if err := call(t, cfg, false); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a network's CA cannot make a partner", func(t *testing.T) {
		ca, err := pki.LoadCA(dev.CA("networks"), filepath.Join(dir, "ca", "networks.key"))
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := ca.Issue(authn.Identity{Kind: authn.Partner, ID: "hipay"}, nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg := client(authn.Partner, "hipay")
		cfg.Certificates = []tls.Certificate{kp}
		err = call(t, cfg, false)
		if status.Code(err) != codes.Unauthenticated || rpcerr.ReasonOf(err) != rpcerr.Unauthenticated {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("kinds and roles per method", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			kind  authn.Kind
			id    string
			unary bool
			ok    bool
		}{
			{"partner on a network method", authn.Partner, "hipay", true, false},
			{"network on a partner method", authn.Network, "cnsim", false, false},
			{"network on its method", authn.Network, "cnsim", true, true},
			{"service on an operator method", authn.Service, "acquirer", false, false},
			{"viewer reads", authn.Operator, "vera", false, true},
			{"viewer on an admin method", authn.Operator, "vera", true, false},
			{"admin on an admin method", authn.Operator, "adam", true, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := call(t, client(tc.kind, tc.id), tc.unary)
				if tc.ok != (err == nil) || (!tc.ok && rpcerr.ReasonOf(err) != rpcerr.PermissionDenied) {
					t.Fatalf("got %v, want ok=%v", err, tc.ok)
				}
				if err == nil && !tc.unary {
					<-e.seen
				}
			})
		}
	})
}

func TestPolicyServices(t *testing.T) {
	p := authn.Policy{
		"/fx.Fx/":        {Kinds: []authn.Kind{authn.Service}, Services: []string{"acquirer"}},
		"/fx.Fx/Rates":   {Kinds: []authn.Kind{authn.Service, authn.Operator}, MinRole: authn.Viewer},
		"/router.Admin/": {Kinds: []authn.Kind{authn.Operator}, MinRole: authn.Admin},
	}
	svc := func(id string) authn.Identity { return authn.Identity{Kind: authn.Service, ID: id} }
	op := func(r authn.Role) authn.Identity { return authn.Identity{Kind: authn.Operator, ID: "alice", Role: r} }
	for _, tc := range []struct {
		method string
		id     authn.Identity
		want   bool
	}{
		{"/fx.Fx/Quote", svc("acquirer"), true},
		{"/fx.Fx/Quote", svc("risk"), false},
		{"/fx.Fx/Quote", op(authn.Admin), false},
		{"/fx.Fx/Rates", svc("risk"), true}, // no Services: any service
		{"/fx.Fx/Rates", op(authn.Viewer), true},
		{"/router.Admin/Put", op(authn.OperatorRole), false},
		{"/router.Admin/Put", op(authn.Admin), true},
		{"/router.Admin/Put", svc("acquirer"), false},
		{"/other.Svc/X", svc("acquirer"), false},
	} {
		if got := p.Allows(tc.method, tc.id); got != tc.want {
			t.Errorf("Allows(%s, %v) = %v, want %v", tc.method, tc.id, got, tc.want)
		}
	}
}
