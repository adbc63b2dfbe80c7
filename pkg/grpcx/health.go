package grpcx

import (
	"context"
	"net"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ServeHealth serves on lis, in plaintext and until ctx ends, only the
// standard health service, answering from s.Health: the same status as
// the main server's, which Serve sets (SERVING once listening,
// NOT_SERVING while it stops). It is for probes that cannot present a
// client certificate (Kubernetes' native gRPC probes); stop it after the
// main server, so that they see NOT_SERVING during the drain.
func (s *Server) ServeHealth(ctx context.Context, lis net.Listener) error {
	hs := grpc.NewServer()
	healthpb.RegisterHealthServer(hs, s.Health)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	hs.Stop() // a probe's Watch stream would hold a graceful stop
	<-errc
	return nil
}
