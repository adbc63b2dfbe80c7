package acquirer

import (
	"math/rand/v2"
	"testing"
)

// TestProportionalRefundsAddUp: however a payment is cut into refunds,
// each is within one minor unit of its share at the locked rate, and the
// refunds together return exactly what was paid.
func TestProportionalRefundsAddUp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		merchant := 1 + r.Int64N(1_000_000)
		wallet := 1 + r.Int64N(1_000_000_000)
		cost := r.Int64N(wallet + 1)
		paid := [3]int64{merchant, wallet, cost}
		var refunded [3]int64
		for refunded[0] < merchant {
			m := 1 + r.Int64N(merchant-refunded[0])
			w, c := proportional(paid, refunded, m)
			if w < 0 || c < 0 {
				t.Fatalf("refund of %d of %v after %v: wallet %d cost %d", m, paid, refunded, w, c)
			}
			exactW := float64(wallet) * float64(m) / float64(merchant)
			if float64(w) > exactW+1 || float64(w) < exactW-1 {
				t.Fatalf("wallet share %d, exact %.3f", w, exactW)
			}
			refunded = [3]int64{refunded[0] + m, refunded[1] + w, refunded[2] + c}
		}
		if refunded != paid {
			t.Fatalf("refunds %v, paid %v", refunded, paid)
		}
	}
}

func TestIDsAreStable(t *testing.T) {
	if PaymentID("hipay", "k1") != PaymentID("hipay", "k1") || PaymentID("hipay", "k1") == PaymentID("zalopay", "k1") ||
		PaymentID("a", "b\x00c") == PaymentID("a\x00b", "c") {
		t.Fatal("payment ids are not a function of (partner, key)")
	}
	if OrderPaymentID("cnsim", "o1") == PaymentID("cnsim", "o1") || RefundID("cnsim", "o1") == OrderPaymentID("cnsim", "o1") {
		t.Fatal("id kinds collide")
	}
}
