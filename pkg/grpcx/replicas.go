package grpcx

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// serviceConfig is every client connection's: round-robin over the
// target's addresses, each watched with the standard health service (a
// replica that reports NOT_SERVING — draining — gets no new calls), and
// calls that fail with UNAVAILABLE tried again, on another replica when
// there is one. Retrying is safe for every call Unigate makes to its own
// services and to partners and networks: reads, or writes keyed by the
// payment, quote, refund or request id, which the callee applies once.
const serviceConfig = `{
	"loadBalancingConfig": [{"round_robin": {}}],
	"healthCheckConfig": {"serviceName": ""},
	"methodConfig": [{
		"name": [{}],
		"retryPolicy": {
			"maxAttempts": 3,
			"initialBackoff": "0.01s",
			"maxBackoff": "0.1s",
			"backoffMultiplier": 2,
			"retryableStatusCodes": ["UNAVAILABLE"]
		}
	}]
}`

// Probing of replicas: every ProbeInterval each address of a
// multi-address target answers a health check within ProbeTimeout, or
// counts a miss; after ProbeMisses misses in a row it is taken out of the
// connection's addresses until it answers SERVING again. This catches
// what gRPC's own checks do not in time: a replica that is silent with
// its connections open (a paused process, a hung machine), which client
// keepalives (10 s at the least) would notice only much later.
var (
	ProbeInterval = 200 * time.Millisecond
	ProbeTimeout  = 300 * time.Millisecond
	ProbeMisses   = 2
)

var schemeSeq atomic.Int64

// dialReplicas connects to every address of addrs, load-balanced, with
// the addresses that fail their probes taken out (all of them kept when
// all fail: then gRPC's own connection handling decides).
func dialReplicas(addrs []string, base []grpc.DialOption, opts []grpc.DialOption) (*grpc.ClientConn, error) {
	r := manual.NewBuilderWithScheme(fmt.Sprintf("unigate-replicas-%d", schemeSeq.Add(1)))
	r.InitialState(stateOf(addrs))
	all := append(append(append([]grpc.DialOption{}, base...), opts...), grpc.WithResolvers(r))
	conn, err := grpc.NewClient(r.Scheme()+":///"+strings.Join(addrs, ","), all...)
	if err != nil {
		return nil, err
	}
	p := &prober{conn: conn, r: r, addrs: addrs, misses: map[string]int{}, down: map[string]bool{}}
	// The probes share the connection's credentials but not its tracing:
	// five checks a second per replica are not worth a span each.
	probeOpts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	for _, a := range addrs {
		pc, err := grpc.NewClient("passthrough:///"+a, probeOpts...)
		if err != nil {
			p.closeProbes()
			conn.Close()
			return nil, err
		}
		p.probes = append(p.probes, pc)
	}
	go p.run()
	return conn, nil
}

// stateOf lists addrs for the balancer, each verified by TLS against its
// own host (the connection's target, a list, names no host).
func stateOf(addrs []string) resolver.State {
	s := resolver.State{}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		s.Addresses = append(s.Addresses, resolver.Address{Addr: a, ServerName: host})
	}
	return s
}

type prober struct {
	conn   *grpc.ClientConn
	r      *manual.Resolver
	addrs  []string
	probes []*grpc.ClientConn
	misses map[string]int
	down   map[string]bool
}

func (p *prober) closeProbes() {
	for _, c := range p.probes {
		c.Close()
	}
}

// run probes until the connection is closed.
func (p *prober) run() {
	defer p.closeProbes()
	t := time.NewTicker(ProbeInterval)
	defer t.Stop()
	for range t.C {
		if p.conn.GetState() == connectivity.Shutdown {
			return
		}
		var wg sync.WaitGroup
		ok := make([]bool, len(p.addrs))
		for i, c := range p.probes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
				defer cancel()
				resp, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
				// A server without the health service is judged by its
				// answering at all.
				ok[i] = (err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING) || status.Code(err) == codes.Unimplemented
			}()
		}
		wg.Wait()
		changed := false
		for i, a := range p.addrs {
			if ok[i] {
				p.misses[a] = 0
				if p.down[a] {
					p.down[a], changed = false, true
				}
				continue
			}
			p.misses[a]++
			if p.misses[a] >= ProbeMisses && !p.down[a] {
				p.down[a], changed = true, true
			}
		}
		if changed {
			p.update()
		}
	}
}

// update gives the connection the addresses that are up, or all of them
// when none is.
func (p *prober) update() {
	var up []string
	for _, a := range p.addrs {
		if !p.down[a] {
			up = append(up, a)
		}
	}
	if len(up) == 0 {
		up = p.addrs
	}
	if p.conn.GetState() != connectivity.Shutdown {
		p.r.UpdateState(stateOf(up))
	}
}
