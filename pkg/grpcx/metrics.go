package grpcx

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unigate/unigate/pkg/metrics"
)

// latencyBuckets are the handling-time histograms' buckets, in seconds:
// from a millisecond (a cached lookup) to ten seconds (past every call
// timeout), finer where payments' calls fall.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// The RED metrics of every server and client in the process
// (grpc_server_* and grpc_client_* in docs/metrics.md), by service,
// method and code, registered once in the process's registry.
var (
	serverMetrics = register(grpcprom.NewServerMetrics(
		grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets))))
	clientMetrics = register(grpcprom.NewClientMetrics(
		grpcprom.WithClientHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets))))
)

func register[C prometheus.Collector](c C) C {
	metrics.Registry.MustRegister(c)
	return c
}
