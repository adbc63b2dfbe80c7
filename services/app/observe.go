package app

import (
	"context"
	"errors"
	"net"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/metrics"
)

// startOps starts what operators and Kubernetes reach a service by, each
// when its address is set: the process's Prometheus metrics over HTTP at
// c.MetricsListen (/metrics; with c.Pprof, Go's profiles at
// /debug/pprof/ too), and srv's health service in plaintext at
// c.HealthListen, answering srv's own status. stop ends both; call it
// once srv has stopped, so that probes see NOT_SERVING while it drains.
func startOps(c Common, srv *grpcx.Server) (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var errs []chan error
	stop = func() error {
		cancel()
		var all []error
		for _, e := range errs {
			all = append(all, <-e)
		}
		return errors.Join(all...)
	}
	start := func(addr, what string, serve func(context.Context, net.Listener) error) error {
		if addr == "" {
			return nil
		}
		l, err := grpcx.Listen(addr)
		if err != nil {
			return err
		}
		e := make(chan error, 1)
		errs = append(errs, e)
		c.Log.Info("serving "+what, "addr", l.Addr().String())
		go func() { e <- serve(ctx, l) }()
		return nil
	}
	serveMetrics := metrics.Serve
	if c.Pprof {
		serveMetrics = metrics.ServeWithProfiles
	}
	if err := start(c.MetricsListen, "metrics", serveMetrics); err != nil {
		return nil, errors.Join(err, stop())
	}
	if err := start(c.HealthListen, "plaintext health", srv.ServeHealth); err != nil {
		return nil, errors.Join(err, stop())
	}
	return stop, nil
}
