// Package reqsign signs and verifies money-moving requests, so that a
// stolen or replayed request cannot move money even over an authenticated
// connection.
//
// A signed request carries, in gRPC metadata, the signing key's version,
// the request time, a request id unique per caller, and an Ed25519
// signature over
//
//	"UNIGATE-REQUEST-V1\n" method "\n" caller "\n" time "\n" request id "\n" hex(SHA-256(body))
//
// where body is the request message in deterministic protobuf encoding.
// The verifier accepts a key version registered for the caller and not
// past its end (two versions are valid side by side during a rotation), a
// request time within its window, and a request id it has not seen
// (Seen records it for as long as the window could still accept it).
package reqsign

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// Metadata keys of a signed request.
const (
	HeaderKeyVersion = "unigate-key-version"
	HeaderTime       = "unigate-request-time"
	HeaderID         = "unigate-request-id"
	HeaderSignature  = "unigate-signature"
)

// digest is what is signed.
func digest(method, caller, reqTime, reqID string, req proto.Message) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return []byte("UNIGATE-REQUEST-V1\n" + method + "\n" + caller + "\n" + reqTime + "\n" + reqID + "\n" + hex.EncodeToString(sum[:])), nil
}

// NewRequestID returns a random request id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Sign returns the metadata of a signed request: caller's request req to
// method, at now, with id, signed with key of version.
func Sign(key ed25519.PrivateKey, version, method, caller string, req proto.Message, now time.Time, id string) (metadata.MD, error) {
	t := strconv.FormatInt(now.UnixMilli(), 10)
	d, err := digest(method, caller, t, id, req)
	if err != nil {
		return nil, err
	}
	return metadata.Pairs(HeaderKeyVersion, version, HeaderTime, t, HeaderID, id,
		HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(key, d))), nil
}

// ClientInterceptor signs every call to one of methods as caller with key
// of version (a fresh request id per attempt). A call whose context
// already carries a signature is sent as it is.
func ClientInterceptor(caller, version string, key ed25519.PrivateKey, methods map[string]bool) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if md, _ := metadata.FromOutgoingContext(ctx); !methods[method] || len(md.Get(HeaderSignature)) > 0 {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		m, ok := req.(proto.Message)
		if !ok {
			return fmt.Errorf("reqsign: %s: request is not a protobuf message", method)
		}
		md, err := Sign(key, version, method, caller, m, time.Now(), NewRequestID())
		if err != nil {
			return err
		}
		for k, v := range md {
			ctx = metadata.AppendToOutgoingContext(ctx, k, v[0])
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// Key is a caller's public key of one version. A zero NotAfter never
// ends; past NotAfter the key no longer verifies (the end of a rotation).
type Key struct {
	Version  string
	Public   ed25519.PublicKey
	NotAfter time.Time
}

// Errors of verification, each with its stable reason.
var (
	ErrUnsigned  = rpcerr.New(rpcerr.SignatureInvalid, "the request must be signed")
	ErrBadKey    = rpcerr.New(rpcerr.SignatureInvalid, "no valid signing key of that version")
	ErrSignature = rpcerr.New(rpcerr.SignatureInvalid, "the signature does not verify")
	ErrStale     = rpcerr.New(rpcerr.RequestExpired, "the request time is outside the accepted window")
	ErrReplayed  = rpcerr.New(rpcerr.RequestReplayed, "this request id was already used")
)

// Verifier checks signed requests.
type Verifier struct {
	// Keys returns the caller's registered keys.
	Keys func(caller string) []Key
	// Window is how far a request time may be from now (5 minutes when zero).
	Window time.Duration
	// Seen records caller's request id until expire; fresh=false if it was
	// recorded already (a replay). It must be shared by every replica.
	Seen func(ctx context.Context, caller, id string, expire time.Time) (fresh bool, err error)
	Now  func() time.Time
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) == 1 {
		return v[0]
	}
	return ""
}

// Verify checks ctx's signature over caller's request req to method.
func (v *Verifier) Verify(ctx context.Context, method, caller string, req proto.Message) error {
	md, _ := metadata.FromIncomingContext(ctx)
	version, t, id, sig := first(md, HeaderKeyVersion), first(md, HeaderTime), first(md, HeaderID), first(md, HeaderSignature)
	if version == "" || t == "" || id == "" || sig == "" || len(id) > 64 {
		return ErrUnsigned
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	window := v.Window
	if window <= 0 {
		window = 5 * time.Minute
	}
	ms, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return ErrUnsigned
	}
	at := time.UnixMilli(ms)
	if at.Before(now.Add(-window)) || at.After(now.Add(window)) {
		return ErrStale
	}
	var key ed25519.PublicKey
	for _, k := range v.Keys(caller) {
		if k.Version == version && (k.NotAfter.IsZero() || now.Before(k.NotAfter)) {
			key = k.Public
		}
	}
	if key == nil {
		return ErrBadKey
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrSignature
	}
	d, err := digest(method, caller, t, id, req)
	if err != nil || !ed25519.Verify(key, d, raw) {
		return ErrSignature
	}
	fresh, err := v.Seen(ctx, caller, id, at.Add(window))
	if err != nil {
		return err
	}
	if !fresh {
		return ErrReplayed
	}
	return nil
}

// UnaryServerInterceptor verifies calls to methods; callerOf names the
// authenticated caller (run it after authentication).
func (v *Verifier) UnaryServerInterceptor(methods map[string]bool, callerOf func(context.Context) (string, bool)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !methods[info.FullMethod] {
			return handler(ctx, req)
		}
		caller, ok := callerOf(ctx)
		m, isMsg := req.(proto.Message)
		if !ok || !isMsg {
			return nil, ErrUnsigned
		}
		if err := v.Verify(ctx, info.FullMethod, caller, m); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// HeaderResponseSignature is the trailer carrying Unigate's signature of
// a response to a signed request.
const HeaderResponseSignature = "unigate-response-signature"

// responseDigest is what a response signature covers: the method, the
// caller, the request id it answers, and the response's digest.
func responseDigest(method, caller, reqID string, resp proto.Message) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return []byte("UNIGATE-RESPONSE-V1\n" + method + "\n" + caller + "\n" + reqID + "\n" + hex.EncodeToString(sum[:])), nil
}

// SignResponses returns a server interceptor that signs the answer to
// every verified request to methods with key (Unigate's), in the
// HeaderResponseSignature trailer, so the partner can prove what Unigate
// answered. Run it inside the verifying interceptor.
func SignResponses(key ed25519.PrivateKey, methods map[string]bool, callerOf func(context.Context) (string, bool)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil || !methods[info.FullMethod] {
			return resp, err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		caller, _ := callerOf(ctx)
		m, ok := resp.(proto.Message)
		if !ok {
			return resp, err
		}
		d, derr := responseDigest(info.FullMethod, caller, first(md, HeaderID), m)
		if derr == nil {
			_ = grpc.SetTrailer(ctx, metadata.Pairs(HeaderResponseSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(key, d))))
		}
		return resp, err
	}
}

// VerifyResponse checks Unigate's signature (from the trailer) of resp,
// the answer to caller's request reqID to method.
func VerifyResponse(pub ed25519.PublicKey, method, caller, reqID string, resp proto.Message, trailer metadata.MD) error {
	sig, err := base64.StdEncoding.DecodeString(first(trailer, HeaderResponseSignature))
	if err != nil || len(sig) == 0 {
		return errors.New("reqsign: the response is not signed")
	}
	d, err := responseDigest(method, caller, reqID, resp)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, d, sig) {
		return errors.New("reqsign: the response signature does not verify")
	}
	return nil
}
