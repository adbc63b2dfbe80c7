package unigate_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// TestServeWalletPartnerAllowsUnigatePings: a connection that pings as
// Unigate's clients do (every 10 seconds, also between calls) stays up on
// a ServeWalletPartner server. gRPC's default policy would answer the third
// ping with GOAWAY "too_many_pings" and drop it. Takes about 35 seconds.
func TestServeWalletPartnerAllowsUnigatePings(t *testing.T) {
	e := serveWallet(t, nil)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if s := conn.GetState(); s != connectivity.Ready {
		t.Fatalf("state %s after a call", s)
	}
	idle, cancel := context.WithTimeout(ctx, 35*time.Second)
	defer cancel()
	if conn.WaitForStateChange(idle, connectivity.Ready) {
		t.Fatalf("the connection left READY (%s) while only pinging", conn.GetState())
	}
}
