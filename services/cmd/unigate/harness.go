package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/services/app"
)

// This file is what the harnesses that run against a cluster of processes
// (`unigate failover-test`, `unigate chaos`) share: waiting for the
// cluster, its supervisor's control socket, its etcd as administrator,
// and clients of the switch as its partners, its network and operators.

// harness drives a running cluster (`unigate cluster`).
type harness struct {
	f   clusterFile
	cli *clientv3.Client
	out io.Writer
}

// connectHarness waits up to wait for the cluster in dir to be ready (the
// make targets start it just before) and connects to its etcd as the etcd
// administrator.
func connectHarness(ctx context.Context, dir string, wait time.Duration, out io.Writer) (*harness, error) {
	var f clusterFile
	for deadline := time.Now().Add(wait); ; {
		var err error
		f, err = readClusterFile(dir)
		if err == nil && f.State == "ready" {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no ready cluster in %s after %v (state %q, %v)", dir, wait, f.State, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	cli, err := app.ConnectEtcd(f.PKI, authn.Service, app.EtcdAdmin, f.Etcd)
	if err != nil {
		return nil, err
	}
	return &harness{f: f, cli: cli, out: out}, nil
}

func (h *harness) Close() error { return h.cli.Close() }

// status reads the cluster's children from the supervisor.
func (h *harness) status(ctx context.Context) (clusterFile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://cluster/status", nil)
	if err != nil {
		return clusterFile{}, err
	}
	var st clusterFile
	return st, h.control(req, &st)
}

func (h *harness) control(req *http.Request, v any) error {
	body, err := doControl(h.f, req)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

// startChild starts a stopped or exited child; it returns once the child
// serves.
func (h *harness) startChild(ctx context.Context, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://cluster/start/"+name, nil)
	if err != nil {
		return err
	}
	return h.control(req, nil)
}

// child returns a child's current entry.
func (h *harness) child(ctx context.Context, name string) (childStatus, error) {
	st, err := h.status(ctx)
	if err != nil {
		return childStatus{}, err
	}
	for _, c := range st.Children {
		if c.Name == name {
			return c, nil
		}
	}
	return childStatus{}, fmt.Errorf("no child %q", name)
}

// waitDown waits until the supervisor has seen a child end (exited or
// stopped), up to timeout.
func (h *harness) waitDown(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := h.child(ctx, name)
		if err != nil {
			return err
		}
		if c.State == stateExited || c.State == stateStopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not end within %v (state %s)", name, timeout, c.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// addrs returns the addresses of the children running command, in the
// cluster's order, comma-separated (a grpcx.Dial target).
func (h *harness) addrs(command string) string {
	var out []string
	for _, c := range h.f.Children {
		if c.Command == command {
			out = append(out, c.Addr)
		}
	}
	return strings.Join(out, ",")
}

// dial connects to every replica of a service ("acquirer", "settlement",
// "router", "merchantsim") as kind/id of the cluster's PKI, signing
// money-moving calls as a partner or network does.
func (h *harness) dial(service string, kind authn.Kind, id string, callTimeout time.Duration) (*grpc.ClientConn, error) {
	trust := "unigate"
	if service == "merchantsim" {
		trust = "networks"
	}
	target := h.addrs(service)
	if target == "" {
		return nil, fmt.Errorf("the cluster has no %s", service)
	}
	return h.dialTarget(target, trust, kind, id, callTimeout)
}

// dialTarget connects to one target (a replica, or comma-separated
// replicas) as kind/id, trusting the CA named trust.
func (h *harness) dialTarget(target, trust string, kind authn.Kind, id string, callTimeout time.Duration) (*grpc.ClientConn, error) {
	dev := pki.Dev{Dir: h.f.PKI}
	cfg, err := dev.ClientConfig(kind, id, trust)
	if err != nil {
		return nil, err
	}
	sign, err := app.SigningOptions(dev, kind, id)
	if err != nil {
		return nil, err
	}
	return grpcx.Dial(target, callTimeout, append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, sign...)...)
}

// merchants lists the simulated network's merchants and their static
// codes, asking the merchant simulator as an operator.
func (h *harness) merchants(ctx context.Context) ([]*simulatorv1.SimulatedMerchant, error) {
	conn, err := h.dial("merchantsim", authn.Operator, "admin", 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ms, err := simulatorv1.NewMerchantSimulatorServiceClient(conn).ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		return nil, err
	}
	if len(ms.GetMerchants()) == 0 {
		return nil, errors.New("the merchant simulator has no merchants")
	}
	return ms.GetMerchants(), nil
}
