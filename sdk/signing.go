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
func WithRequestSigning(version string, key ed25519.PrivateKey) Option {
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
		return invoker(ctx, method, req, reply, cc, opts...)
	}))
}
