package acquirer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// idNamespace derives payment and refund ids from callers' keys (UUIDv5).
var idNamespace = uuid.MustParse("5b0f7a2e-8f1c-4d1e-9a57-0c6f3b1d2e40")

// PaymentID is the id of partner's MPM payment with key: the same key
// always names the same payment, so every step keyed by it is idempotent.
func PaymentID(partnerID, key string) string { return derivedID("mpm", partnerID, key) }

// OrderPaymentID is the id of a network's CPM payment for an order.
func OrderPaymentID(networkID, orderID string) string { return derivedID("order", networkID, orderID) }

// RefundID is the id of a network's refund request.
func RefundID(networkID, requestID string) string { return derivedID("refund", networkID, requestID) }

// derivedID is a UUIDv5 of length-prefixed parts, so no two different
// lists of parts share an id.
func derivedID(parts ...string) string {
	var b []byte
	for _, p := range parts {
		b = fmt.Appendf(b, "%d:%s;", len(p), p)
	}
	return uuid.NewSHA1(idNamespace, b).String()
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ValidateKey checks an idempotency key.
func ValidateKey(field, key string) error {
	if !keyPattern.MatchString(key) {
		return rpcerr.Field(rpcerr.InvalidArgument, field, "must be 1 to 64 characters of [A-Za-z0-9._:-]")
	}
	return nil
}

// Length limits of the strings a request carries into our rows and to
// other parties.
const (
	MaxUserRef    = 128
	MaxCode       = 512
	MaxMerchantID = 64
	MaxReason     = 256
	MaxReference  = 128 // references and user ids that downstreams send back
	MaxMessage    = 512 // failure messages that downstreams send back
)

// CheckText refuses a string field that is empty (when required), longer
// than max bytes, not valid UTF-8, or holds control characters: such a
// value never reaches the database or another party.
func CheckText(field, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return rpcerr.Field(rpcerr.InvalidArgument, field, "is required")
	case len(v) > max:
		return rpcerr.Field(rpcerr.InvalidArgument, field, "is %d bytes, longer than %d", len(v), max)
	case !utf8.ValidString(v):
		return rpcerr.Field(rpcerr.InvalidArgument, field, "is not valid UTF-8")
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return rpcerr.Field(rpcerr.InvalidArgument, field, "must not contain control characters")
	}
	return nil
}

// Clean makes a string another party sent us safe to store: invalid UTF-8
// and control characters become U+FFFD, and it is cut to max bytes on a
// character boundary. A downstream's odd reference must never keep a
// payment from being recorded.
func Clean(v string, max int) string {
	if CheckText("", v, max, false) == nil {
		return v
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(v, "\uFFFD") {
		if unicode.IsControl(r) {
			r = '\uFFFD'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fingerprint hashes a request's fields to tell a repeat from a reuse of
// its key.
func fingerprint(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sameRequest(p Payment, hash string) (Payment, error) {
	if p.RequestHash != hash {
		return Payment{}, rpcerr.New(rpcerr.RepeatRequestInconsistent,
			"the key was used for payment %s with a different request", p.ID)
	}
	return p, nil
}
