package grpcx

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
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
// The partner and network APIs are the exception: their money-moving
// calls are signed with a request id that may be used once, and a
// transport retry would resend the same signature (REQUEST_REPLAYED); their
// callers retry with a new signature instead.
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
	}, {
		"name": [{"service": "unigate.partner.v1.PartnerService"}, {"service": "unigate.acquiring.v1.AcquiringService"}]
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

// ResolveInterval is how often a DNS target ("dns:///router-headless:7001")
// is looked up again, so that replicas added or removed are followed.
var ResolveInterval = 5 * time.Second

// replicaSet says where a target's replicas are: a fixed list, or a DNS
// name looked up now and then; and the name TLS verifies each against.
type replicaSet struct {
	fixed      []string
	host, port string // a DNS target
}

func (rs replicaSet) lookup(ctx context.Context) ([]string, error) {
	if rs.host == "" {
		return rs.fixed, nil
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, rs.host)
	if err != nil {
		return nil, err
	}
	sort.Strings(ips)
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, rs.port)
	}
	return out, nil
}

// serverName is the name addr's certificate is verified against: the DNS
// target's name, or the address's own host.
func (rs replicaSet) serverName(addr string) string {
	if rs.host != "" {
		return rs.host
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// dialReplicas connects to every replica of rs, load-balanced, with the
// addresses that fail their probes taken out (all of them kept when all
// fail: then gRPC's own connection handling decides).
func dialReplicas(rs replicaSet, base []grpc.DialOption, opts []grpc.DialOption) (*grpc.ClientConn, error) {
	// A name that does not resolve yet (no replica ready) is looked up
	// again at every probe until it does; calls fail UNAVAILABLE meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	addrs, _ := rs.lookup(ctx)
	cancel()
	r := manual.NewBuilderWithScheme(fmt.Sprintf("unigate-replicas-%d", schemeSeq.Add(1)))
	p := &prober{rs: rs, r: r, misses: map[string]int{}, down: map[string]bool{},
		probes: map[string]*grpc.ClientConn{},
		// The probes share the connection's credentials but not its
		// tracing: five checks a second per replica are not worth a span.
		probeOpts: append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)}
	r.InitialState(p.stateOf(addrs))
	all := append(append(append([]grpc.DialOption{}, base...), opts...), grpc.WithResolvers(r))
	name := rs.host
	if name == "" {
		name = strings.Join(addrs, ",")
	}
	var err error
	p.conn, err = grpc.NewClient(r.Scheme()+":///"+name, all...)
	if err != nil {
		return nil, err
	}
	if err := p.setAddrs(addrs); err != nil {
		p.closeProbes()
		p.conn.Close()
		return nil, err
	}
	go p.run()
	return p.conn, nil
}

type prober struct {
	rs        replicaSet
	conn      *grpc.ClientConn
	r         *manual.Resolver
	probeOpts []grpc.DialOption
	addrs     []string
	probes    map[string]*grpc.ClientConn
	misses    map[string]int
	down      map[string]bool
}

// stateOf lists addrs for the balancer, each verified by TLS against its
// name (the connection's target, a list or a scheme of ours, names none).
func (p *prober) stateOf(addrs []string) resolver.State {
	s := resolver.State{}
	for _, a := range addrs {
		s.Addresses = append(s.Addresses, resolver.Address{Addr: a, ServerName: p.rs.serverName(a)})
	}
	return s
}

// setAddrs makes addrs the replicas: probes opened for new ones, closed
// for gone ones.
func (p *prober) setAddrs(addrs []string) error {
	keep := map[string]bool{}
	for _, a := range addrs {
		keep[a] = true
		if _, ok := p.probes[a]; ok {
			continue
		}
		pc, err := grpc.NewClient("passthrough:///"+a, append(p.probeOpts, grpc.WithAuthority(p.rs.serverName(a)))...)
		if err != nil {
			return err
		}
		p.probes[a] = pc
	}
	for a, pc := range p.probes {
		if !keep[a] {
			pc.Close()
			delete(p.probes, a)
			delete(p.misses, a)
			delete(p.down, a)
		}
	}
	p.addrs = addrs
	return nil
}

func (p *prober) closeProbes() {
	for _, c := range p.probes {
		c.Close()
	}
}

// run probes (and, for a DNS target, looks the name up again) until the
// connection is closed.
func (p *prober) run() {
	defer p.closeProbes()
	t := time.NewTicker(ProbeInterval)
	defer t.Stop()
	lastLookup := time.Now()
	for range t.C {
		if p.conn.GetState() == connectivity.Shutdown {
			return
		}
		changed := false
		if p.rs.host != "" && (len(p.addrs) == 0 || time.Since(lastLookup) >= ResolveInterval) {
			lastLookup = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			addrs, err := p.rs.lookup(ctx)
			cancel()
			if err == nil && len(addrs) > 0 && !slices.Equal(addrs, p.addrs) {
				if p.setAddrs(addrs) == nil {
					changed = true
				}
			}
		}
		var wg sync.WaitGroup
		ok := make([]bool, len(p.addrs))
		for i, a := range p.addrs {
			c := p.probes[a]
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
		p.r.UpdateState(p.stateOf(up))
	}
}
