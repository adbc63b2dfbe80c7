package grpcx

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/unigate/unigate/pkg/authn"
)

// The request log: one line per call, at info ("request": method, code,
// duration_ms, caller, peer), at debug for health checks and reflection,
// which probes and tools call all the time. It never holds metadata,
// request or response bodies: only what the server knows of the call.

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.logRequest(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logRequest(ss.Context(), info.FullMethod, start, err)
	return err
}

// logRequest writes the line of one call that began at start and ended
// with err (already mapped to its status).
func (s *Server) logRequest(ctx context.Context, method string, start time.Time, err error) {
	level := slog.LevelInfo
	if quiet(method) {
		level = slog.LevelDebug
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	addr := ""
	p, ok := peer.FromContext(ctx)
	if ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	s.log.LogAttrs(ctx, level, "request",
		slog.String("method", method),
		slog.String("code", status.Code(err).String()),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("caller", caller(p, ok)),
		slog.String("peer", addr))
}

// quiet methods are logged at debug.
func quiet(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// caller is the identity in the caller's verified client certificate
// ("partner:hipay"), as pkg/authn reads it, or "" without one (a
// plaintext server, a refused handshake). Whether that identity may call
// the method is authn's policy's to say, not the log's.
func caller(p *peer.Peer, ok bool) string {
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return ""
	}
	id, err := authn.FromCert(info.State.VerifiedChains[0][0])
	if err != nil {
		return ""
	}
	return id.String()
}
