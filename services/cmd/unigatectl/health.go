package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthServices are the services health checks, in its table's order.
var healthServices = []string{"acquirer", "router", "fx", "risk", "settlement", "etcd"}

// healthRow is one service's (or etcd endpoint's) health.
type healthRow struct {
	Service string `json:"service"`
	Target  string `json:"target"`
	Status  string `json:"status"`
	Latency string `json:"latency"`
	Detail  string `json:"detail,omitempty"`
}

func newHealthCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health [SERVICE…]",
		Short: "the health of every service and etcd endpoint, in one table",
		Long: `Ask every service (acquirer, router, fx, risk, settlement) for its gRPC
health (grpc.health.v1: SERVING once it is ready, NOT_SERVING while it
starts or drains), and every etcd endpoint for its status (version, leader,
raft term, database size). Name services to check only those. Exits 1 if
any is not SERVING.`,
		Example: `  unigatectl health
  unigatectl health acquirer etcd -o json`,
		Args:      checkArgs(cobra.OnlyValidArgs),
		ValidArgs: healthServices,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			args = healthServices
		}
		targets := map[string]string{"acquirer": g.acquirer, "router": g.router, "fx": g.fx, "risk": g.risk, "settlement": g.settlement}
		var (
			mu   sync.Mutex
			rows []healthRow
			wg   sync.WaitGroup
		)
		add := func(r ...healthRow) {
			mu.Lock()
			rows = append(rows, r...)
			mu.Unlock()
		}
		for _, s := range args {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s == "etcd" {
					add(g.etcdHealth(cmd.Context())...)
					return
				}
				add(g.grpcHealth(cmd.Context(), s, targets[s]))
			}()
		}
		wg.Wait()
		slices.SortStableFunc(rows, func(a, b healthRow) int {
			if c := slices.Index(healthServices, a.Service) - slices.Index(healthServices, b.Service); c != 0 {
				return c
			}
			return strings.Compare(a.Target, b.Target)
		})
		out := cmd.OutOrStdout()
		err := o.printValue(out, rows, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tTARGET\tSTATUS\tLATENCY\tDETAIL")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, r.Target, r.Status, r.Latency, orDash(r.Detail))
			}
			return tw.Flush()
		})
		if err != nil {
			return err
		}
		var down []string
		for _, r := range rows {
			if r.Status != "SERVING" {
				down = append(down, r.Service+" "+r.Target)
			}
		}
		if len(down) > 0 {
			return fmt.Errorf("not serving: %s", strings.Join(down, ", "))
		}
		return nil
	}
	return cmd
}

// grpcHealth asks a service for its overall health.
func (g globals) grpcHealth(ctx context.Context, service, target string) healthRow {
	r := healthRow{Service: service, Target: target, Latency: "-"}
	conn, err := g.dial(target)
	if err != nil {
		r.Status, r.Detail = "UNREACHABLE", err.Error()
		return r
	}
	defer conn.Close()
	start := time.Now()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		r.Status, r.Detail = "UNREACHABLE", status.Convert(err).Message()
		return r
	}
	r.Status, r.Latency = resp.GetStatus().String(), time.Since(start).Round(time.Microsecond).String()
	return r
}

// etcdHealth asks each etcd endpoint for its status.
func (g globals) etcdHealth(ctx context.Context) []healthRow {
	endpoints := split(g.etcd)
	cli, err := g.connectEtcd()
	if err != nil {
		return []healthRow{{Service: "etcd", Target: g.etcd, Status: "UNREACHABLE", Latency: "-", Detail: err.Error()}}
	}
	defer cli.Close()
	var rows []healthRow
	for _, ep := range endpoints {
		r := healthRow{Service: "etcd", Target: ep, Latency: "-"}
		start := time.Now()
		st, err := cli.Status(ctx, ep)
		if err != nil {
			r.Status, r.Detail = "UNREACHABLE", err.Error()
			rows = append(rows, r)
			continue
		}
		r.Status, r.Latency = "SERVING", time.Since(start).Round(time.Microsecond).String()
		role := "follower"
		if st.Header.GetMemberId() == st.Leader {
			role = "leader"
		}
		r.Detail = fmt.Sprintf("v%s %s, raft term %d, db %d bytes", st.Version, role, st.RaftTerm, st.DbSize)
		if len(st.Errors) > 0 {
			r.Status, r.Detail = "NOT_SERVING", r.Detail+": "+strings.Join(st.Errors, "; ")
		}
		rows = append(rows, r)
	}
	return rows
}
