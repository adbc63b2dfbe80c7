package unigate

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
)

// WalletPartner is what a wallet implements so that Unigate can debit its
// users for consumer-presented (CPM) payments, reverse such debits and
// credit users for refunds. Serve it with ServeWalletPartner or
// RegisterWalletPartner.
//
// Every method must be idempotent per its id (payment_id, or refund_id for
// RefundUser): Unigate repeats a call whose answer it did not get, and the
// repeat must answer the same without moving money again. Answer money
// outcomes in the response (S, F with a failure_reason, or U when the
// wallet itself does not know yet); return an error only when the request
// cannot be processed at all (an *Error carries a reason and field).
// [MemoryWallet] is a complete implementation to read.
type WalletPartner interface {
	// Authorize debits the user the code belongs to by wallet_amount and
	// returns the user's pseudonymous user_ref.
	Authorize(context.Context, *partnerv1.AuthorizeRequest) (*partnerv1.AuthorizeResponse, error)
	// InquireAuthorization returns the outcome of an earlier Authorize, or
	// a NOT_FOUND status if it never arrived. For S it returns the same
	// user_ref Authorize did: when Authorize's answer was lost, the
	// inquiry is how Unigate learns the user whose limits apply, and a
	// payment whose user is over them is cancelled (CancelAuthorization).
	InquireAuthorization(context.Context, *partnerv1.InquireAuthorizationRequest) (*partnerv1.InquireAuthorizationResponse, error)
	// CancelAuthorization makes sure the user ends up not debited for the
	// payment: it reverses a debit, and makes an Authorize that arrives
	// later fail. It answers S once that holds.
	CancelAuthorization(context.Context, *partnerv1.CancelAuthorizationRequest) (*partnerv1.CancelAuthorizationResponse, error)
	// RefundUser credits the user of a payment for a refund.
	RefundUser(context.Context, *partnerv1.RefundUserRequest) (*partnerv1.RefundUserResponse, error)
}

// ShutdownGrace is how long ServeWalletPartner lets calls in flight finish
// after its context ends before it cuts them off.
const ShutdownGrace = 10 * time.Second

// UnigateKeepalive is the keepalive policy a partner's server must allow:
// Unigate pings its connections every 10 seconds, also between calls, to
// notice a dead one before a payment does. gRPC's default policy (no ping
// more often than every 5 minutes, none without a call) answers such pings
// with GOAWAY "too_many_pings" and drops the connection. ServeWalletPartner
// applies it; a partner serving with its own grpc.Server adds
// grpc.KeepaliveEnforcementPolicy(UnigateKeepalive).
var UnigateKeepalive = keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}

// RegisterWalletPartner registers impl as the WalletPartnerService on s
// (a *grpc.Server), for partners that run their own server.
func RegisterWalletPartner(s grpc.ServiceRegistrar, impl WalletPartner) {
	partnerv1.RegisterWalletPartnerServiceServer(s, &walletPartnerServer{impl: impl})
}

// ServeWalletPartner serves impl as the WalletPartnerService on lis, with
// the standard gRPC health service (SERVING for "" and for
// "unigate.partner.v1.WalletPartnerService"), until ctx ends. Then it
// reports NOT_SERVING, stops accepting calls, lets the calls in flight
// finish (up to ShutdownGrace), and returns nil. It returns Serve's error
// if serving fails. opts are passed to grpc.NewServer (credentials,
// interceptors, …). It closes lis.
func ServeWalletPartner(ctx context.Context, lis net.Listener, impl WalletPartner, opts ...grpc.ServerOption) error {
	s := grpc.NewServer(append([]grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(UnigateKeepalive)}, opts...)...)
	RegisterWalletPartner(s, impl)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(partnerv1.WalletPartnerService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)

	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(ShutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.Stop()
		<-stopped
	}
	<-served
	return nil
}

// walletPartnerServer adapts a WalletPartner to the generated server
// interface, and turns a nil answer into an error instead of a crash.
type walletPartnerServer struct {
	partnerv1.UnimplementedWalletPartnerServiceServer
	impl WalletPartner
}

func answer[T any](method string, resp *T, err error) (*T, error) {
	if err == nil && resp == nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("WalletPartner.%s returned neither an answer nor an error", method))
	}
	return resp, err
}

func (w *walletPartnerServer) Authorize(ctx context.Context, req *partnerv1.AuthorizeRequest) (*partnerv1.AuthorizeResponse, error) {
	resp, err := w.impl.Authorize(ctx, req)
	return answer("Authorize", resp, err)
}

func (w *walletPartnerServer) InquireAuthorization(ctx context.Context, req *partnerv1.InquireAuthorizationRequest) (*partnerv1.InquireAuthorizationResponse, error) {
	resp, err := w.impl.InquireAuthorization(ctx, req)
	return answer("InquireAuthorization", resp, err)
}

func (w *walletPartnerServer) CancelAuthorization(ctx context.Context, req *partnerv1.CancelAuthorizationRequest) (*partnerv1.CancelAuthorizationResponse, error) {
	resp, err := w.impl.CancelAuthorization(ctx, req)
	return answer("CancelAuthorization", resp, err)
}

func (w *walletPartnerServer) RefundUser(ctx context.Context, req *partnerv1.RefundUserRequest) (*partnerv1.RefundUserResponse, error) {
	resp, err := w.impl.RefundUser(ctx, req)
	return answer("RefundUser", resp, err)
}
