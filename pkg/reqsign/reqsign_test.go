package reqsign_test

import (
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	"github.com/unigate/unigate/pkg/reqsign"
)

// TestVerify: a signature verifies only for its method, caller, body, key
// version and time window, and once.
func TestVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	seen := map[string]bool{}
	v := &reqsign.Verifier{Now: func() time.Time { return now },
		Keys: func(caller string) []reqsign.Key {
			if caller != "partner:hipay" {
				return nil
			}
			return []reqsign.Key{{Version: "v1", Public: pub}}
		},
		Seen: func(_ context.Context, caller, id string, _ time.Time) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			fresh := !seen[caller+"/"+id]
			seen[caller+"/"+id] = true
			return fresh, nil
		}}
	const method = "/unigate.partner.v1.PartnerService/Pay"
	req := &partnerv1.PayRequest{PartnerPaymentId: "k1", Code: "c", QuoteId: "q", UserRef: "u"}
	check := func(md metadata.MD, method, caller string, req *partnerv1.PayRequest) error {
		return v.Verify(metadata.NewIncomingContext(context.Background(), md), method, caller, req)
	}
	sign := func(at time.Time, version string) metadata.MD {
		md, err := reqsign.Sign(key, version, method, "partner:hipay", req, at, reqsign.NewRequestID())
		if err != nil {
			t.Fatal(err)
		}
		return md
	}
	if err := check(sign(now, "v1"), method, "partner:hipay", req); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	other := &partnerv1.PayRequest{PartnerPaymentId: "k2", Code: "c", QuoteId: "q", UserRef: "u"}
	once := sign(now, "v1")
	for _, tc := range []struct {
		name string
		err  error
		got  error
	}{
		{"another body", reqsign.ErrSignature, check(sign(now, "v1"), method, "partner:hipay", other)},
		{"another method", reqsign.ErrSignature, check(sign(now, "v1"), "/unigate.partner.v1.PartnerService/CancelPayment", "partner:hipay", req)},
		{"another caller", reqsign.ErrBadKey, check(sign(now, "v1"), method, "partner:zalopay", req)},
		{"an unknown version", reqsign.ErrBadKey, check(sign(now, "v9"), method, "partner:hipay", req)},
		{"too old", reqsign.ErrStale, check(sign(now.Add(-6*time.Minute), "v1"), method, "partner:hipay", req)},
		{"unsigned", reqsign.ErrUnsigned, check(metadata.MD{}, method, "partner:hipay", req)},
		{"first use", nil, check(once, method, "partner:hipay", req)},
		{"replayed", reqsign.ErrReplayed, check(once, method, "partner:hipay", req)},
	} {
		if tc.got != tc.err { // the sentinel itself, not just its reason

			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.err)
		}
	}
}
