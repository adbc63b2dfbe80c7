package unigate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// signedMethods are the partner calls that move money: Unigate refuses
// them unsigned (SIGNATURE_INVALID).
var signedMethods = map[string]bool{
	"/unigate.partner.v1.PartnerService/Pay":           true,
	"/unigate.partner.v1.PartnerService/CancelPayment": true,
}

// WithRequestSigning signs every money-moving call (Pay, CancelPayment)
// with key, registered at Unigate under version: an Ed25519 signature over
// the method, the partner id, the request time, a fresh request id and the
// SHA-256 of the request, sent in the unigate-key-version,
// unigate-request-time, unigate-request-id and unigate-signature metadata
// keys. Each attempt (retries included) gets a new request id; Unigate
// refuses a reused one and a time more than 5 minutes off. To rotate,
// register the new version, switch to it, then let the old one end.
//
// With unigatePub (Unigate's response-signing public key, given to you
// with your certificates), the answer to each signed call is checked too:
// Unigate signs it (method, your partner id, the request id, the
// response) in the unigate-response-signature trailer, and an answer whose
// signature does not verify is returned as an error matching
// ErrOutcomeUnknown — inquire before acting on it.
func WithRequestSigning(version string, key ed25519.PrivateKey, unigatePub ed25519.PublicKey) Option {
	return WithDialOptions(grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if !signedMethods[method] {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		md, _ := metadata.FromOutgoingContext(ctx)
		partner := md.Get(PartnerIDHeader)
		m, ok := req.(proto.Message)
		if len(partner) != 1 || !ok {
			return fmt.Errorf("unigate: cannot sign %s", method)
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return err
		}
		var idb [16]byte
		_, _ = rand.Read(idb[:])
		id, at := hex.EncodeToString(idb[:]), strconv.FormatInt(time.Now().UnixMilli(), 10)
		sum := sha256.Sum256(body)
		signed := "UNIGATE-REQUEST-V1\n" + method + "\npartner:" + partner[0] + "\n" + at + "\n" + id + "\n" + hex.EncodeToString(sum[:])
		ctx = metadata.AppendToOutgoingContext(ctx, "unigate-key-version", version, "unigate-request-time", at,
			"unigate-request-id", id, "unigate-signature", base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(signed))))
		if unigatePub == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		var trailer metadata.MD
		if err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Trailer(&trailer))...); err != nil {
			return err
		}
		resp, ok := reply.(proto.Message)
		sig, err := base64.StdEncoding.DecodeString(first(trailer, "unigate-response-signature"))
		if !ok || err != nil {
			return responseUnverified(method)
		}
		rb, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
		if err != nil {
			return err
		}
		rsum := sha256.Sum256(rb)
		answer := "UNIGATE-RESPONSE-V1\n" + method + "\npartner:" + partner[0] + "\n" + id + "\n" + hex.EncodeToString(rsum[:])
		if !ed25519.Verify(unigatePub, []byte(answer), sig) {
			return responseUnverified(method)
		}
		return nil
	}))
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) == 1 {
		return v[0]
	}
	return ""
}

// responseUnverified is the error of an answer whose signature does not
// verify: its outcome cannot be trusted, so it is unknown.
func responseUnverified(method string) error {
	return &Error{Code: codes.Unknown,
		Message: "the answer to " + method + " is not signed by Unigate; inquire before acting on it"}
}
