package quota

import (
	"context"
	"math"

	"google.golang.org/grpc"
)

// Recommended settings for a server that partners or merchant networks
// call; see the package documentation.
const (
	// EdgeMaxRecvBytes bounds one request message.
	EdgeMaxRecvBytes = 64 << 10
	// EdgeMaxStreamsPerConn bounds the streams, unary calls included, in
	// flight on one connection.
	EdgeMaxStreamsPerConn = 100
)

// UnaryServerInterceptor admits each unary call of a caller within l's
// budgets and refuses it before the handler runs otherwise (see
// Limiter.AcquireCall). callerOf names the authenticated caller; a call it
// reports no caller for is not limited.
func UnaryServerInterceptor(l *Limiter, callerOf func(ctx context.Context) (string, bool)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		caller, ok := callerOf(ctx)
		if !ok {
			return handler(ctx, req)
		}
		release, err := l.AcquireCall(caller)
		if err != nil {
			return nil, err
		}
		defer release()
		return handler(ctx, req)
	}
}

// StreamServerInterceptor admits each stream of a caller within l's
// budgets, holding a stream slot until the handler returns, and refuses it
// before the handler runs otherwise (see Limiter.AcquireStream). callerOf
// is UnaryServerInterceptor's.
func StreamServerInterceptor(l *Limiter, callerOf func(ctx context.Context) (string, bool)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		caller, ok := callerOf(ss.Context())
		if !ok {
			return handler(srv, ss)
		}
		release, err := l.AcquireStream(caller)
		if err != nil {
			return err
		}
		defer release()
		return handler(srv, ss)
	}
}

// ConnStreamLimit bounds the streams, unary calls included, in flight on
// one connection to n (no bound if n <= 0). It is grpc.MaxConcurrentStreams,
// the HTTP/2 setting: a grpc-go client waits for a free stream, one that
// ignores the setting has its extra streams refused.
func ConnStreamLimit(n int) grpc.ServerOption {
	if n <= 0 {
		return grpc.EmptyServerOption{}
	}
	return grpc.MaxConcurrentStreams(uint32(min(uint64(n), math.MaxUint32)))
}

// ServerOptions returns the server options that bound one request message
// to maxRecvBytes and one connection to maxStreamsPerConn streams; a zero
// leaves grpc-go's default (4 MiB, no bound on streams).
func ServerOptions(maxRecvBytes int, maxStreamsPerConn uint32) []grpc.ServerOption {
	var opts []grpc.ServerOption
	if maxRecvBytes > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(maxRecvBytes))
	}
	if maxStreamsPerConn > 0 {
		opts = append(opts, ConnStreamLimit(int(maxStreamsPerConn)))
	}
	return opts
}
