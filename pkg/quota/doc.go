// Package quota bounds what each authenticated caller may take of a gRPC
// server, so one partner's burst cannot starve the others.
//
// A Limiter keeps, per caller id ("partner:hipay"), three budgets:
//
//   - rate: a token bucket of RatePerSecond tokens a second holding at most
//     Burst; every unary call and every stream opening takes one token;
//   - concurrency: at most MaxConcurrent unary calls in flight;
//   - streams: at most MaxStreams streams open.
//
// A zero field leaves that budget unlimited. Each caller has its own
// budgets: its own Limits if SetLimits gave it some, the default (SetDefault)
// otherwise. Limits can change while the server runs and apply from the next
// call: a caller's bucket keeps its tokens across a change (capped at the new
// burst), and calls or streams already admitted count against the new
// maxima. Refused calls take nothing.
//
// UnaryServerInterceptor and StreamServerInterceptor refuse a call over a
// budget before its handler runs, with RESOURCE_EXHAUSTED and the details
// docs/errors.md lists for QUOTA_EXCEEDED: google.rpc.ErrorInfo, a
// google.rpc.QuotaFailure whose violation has the caller as subject and the
// budget ("rate", "concurrency" or "streams") as description, and a
// google.rpc.RetryInfo: for rate, the time until the caller's next token;
// for concurrency and streams, rpcerr's fixed delay for the reason. The
// refusal is an *rpcerr.Error, so rpcerr's table stays the one mapping and
// grpcx's error interceptor passes it on with its details. A call whose
// caller the callerOf function cannot name (a health probe without a client
// certificate) is not limited here; authentication decides whether it may
// proceed at all. The rate bucket is exact: it counts time credit in whole
// nanoseconds (a token is worth 1s/RatePerSecond, rounded to the
// nanosecond), and its clock is the function given to NewLimiter.
//
// The Limiter keeps a small record for every caller id it has seen. Caller
// ids are authenticated identities, a bounded set; do not key it by
// anything a client chooses freely.
//
// # Per connection
//
// The budgets above are per caller, across all of its connections. A
// connection on its own is bounded by ConnStreamLimit, which is
// grpc.MaxConcurrentStreams: the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the
// server announces. It counts every stream on the connection, unary calls
// included, and applies before authentication. A grpc-go client waits for a
// free stream rather than failing (back-pressure, no error); a client that
// ignores the setting has its extra streams refused (REFUSED_STREAM), not
// answered with QUOTA_EXCEEDED.
//
// # Message size
//
// grpc-go accepts requests of up to 4 MiB by default. A server that partners
// or merchant networks call should accept far less: their requests are a few
// kilobytes at most (a QR payload is at most 512 characters), so
// EdgeMaxRecvBytes (64 KiB) leaves ample room while bounding what one request
// can make the server buffer. Internal servers, whose batch requests
// (settlement postings) can be larger, keep grpc-go's default. grpc-go
// refuses a larger request itself, before any interceptor, with
// RESOURCE_EXHAUSTED and no ErrorInfo.
//
// # Wiring
//
//	lim := quota.NewLimiter(time.Now)
//	lim.SetDefault(quota.Limits{RatePerSecond: 50, Burst: 100, MaxConcurrent: 32, MaxStreams: 4})
//	opts := append(quota.ServerOptions(quota.EdgeMaxRecvBytes, quota.EdgeMaxStreamsPerConn),
//		grpc.ChainUnaryInterceptor(quota.UnaryServerInterceptor(lim, callerOf)),
//		grpc.ChainStreamInterceptor(quota.StreamServerInterceptor(lim, callerOf)))
//	srv := grpcx.NewServer(log, opts...)
//
// If callerOf reads an identity that an authentication interceptor put in
// the context, chain the quota interceptors after that one.
//
// A partner's own limits are stored as JSON (LimitsFromJSON) and applied
// with SetLimits when they change; ClearLimits returns it to the default.
package quota
