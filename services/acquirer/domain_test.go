package acquirer

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// refundLedger models a payment's refunds as InsertRefund and
// MarkRefundFailed keep them, priced by Proportional.
type refundLedger struct {
	paid    [4]int64 // merchant, wallet, settlement, cost
	refunds []pricedRefund
}

type pricedRefund struct {
	amounts [4]int64 // merchant, wallet, settlement, cost
	failed  bool
}

// taken is what the refunds not failed took.
func (l *refundLedger) taken() [4]int64 {
	var sum [4]int64
	for _, r := range l.refunds {
		if !r.failed {
			for i := range sum {
				sum[i] += r.amounts[i]
			}
		}
	}
	return sum
}

// refund asks for m merchant units; like InsertRefund it keeps the refund
// only if it prices to at least one wallet unit. price is (wallet,
// settlement, cost).
func (l *refundLedger) refund(m int64) (price [3]int64, kept bool) {
	w, s, c := Proportional(l.paid, l.taken(), m)
	if w > 0 {
		l.refunds = append(l.refunds, pricedRefund{amounts: [4]int64{m, w, s, c}})
	}
	return [3]int64{w, s, c}, w > 0
}

// check asserts the bounds that must hold after every step.
func (l *refundLedger) check(t *testing.T, step string) {
	t.Helper()
	sum := l.taken()
	for i, name := range []string{"merchant", "wallet", "settlement", "cost"} {
		if sum[i] > l.paid[i] {
			t.Fatalf("%s: refunds not failed take %d of %d %s units", step, sum[i], l.paid[i], name)
		}
	}
	if sum[0] == l.paid[0] && sum != l.paid {
		t.Fatalf("%s: a full set of refunds returns %v of %v", step, sum, l.paid)
	}
}

// settlingInWallet is a payment of (merchant, wallet, cost) by a partner
// that settles in its wallet's currency: its settlement amount is its
// wallet amount.
func settlingInWallet(m, w, c int64) [4]int64 { return [4]int64{m, w, w, c} }

func TestProportionalScripts(t *testing.T) {
	type step struct {
		refund   int64 // merchant units asked for; 0: fail refunds[fail]
		fail     int
		price    [3]int64 // the refund's wallet, settlement and cost amounts
		tooSmall bool     // priced at zero wallet units: refused
		want     [3]int64 // then, the wallet, settlement and cost the refunds not failed return
	}
	for _, tc := range []struct {
		name  string
		paid  [4]int64
		steps []step
	}{
		{
			// The case the old per-refund pricing got wrong: with the second
			// refund failed, a fourth returned 101 of 100.
			name: "thirds with a failure in between",
			paid: settlingInWallet(3, 100, 97),
			steps: []step{
				{refund: 1, price: [3]int64{33, 33, 32}, want: [3]int64{33, 33, 32}},
				{refund: 1, price: [3]int64{33, 33, 32}, want: [3]int64{66, 66, 64}},
				{refund: 1, price: [3]int64{34, 34, 33}, want: [3]int64{100, 100, 97}},
				{fail: 1, want: [3]int64{67, 67, 65}},
				{refund: 1, price: [3]int64{33, 33, 32}, want: [3]int64{100, 100, 97}},
			},
		},
		{
			name: "in full at once",
			paid: settlingInWallet(10000, 4875000, 4800000),
			steps: []step{
				{refund: 10000, price: [3]int64{4875000, 4875000, 4800000}, want: [3]int64{4875000, 4875000, 4800000}},
			},
		},
		{
			name: "quarters",
			paid: settlingInWallet(10000, 4875001, 4800003),
			steps: []step{
				{refund: 2500, price: [3]int64{1218750, 1218750, 1200000}, want: [3]int64{1218750, 1218750, 1200000}},
				{refund: 2500, price: [3]int64{1218750, 1218750, 1200001}, want: [3]int64{2437500, 2437500, 2400001}},
				{refund: 2500, price: [3]int64{1218750, 1218750, 1200001}, want: [3]int64{3656250, 3656250, 3600002}},
				{refund: 2500, price: [3]int64{1218751, 1218751, 1200001}, want: [3]int64{4875001, 4875001, 4800003}},
			},
		},
		{
			name: "every refund failed, then one in full",
			paid: settlingInWallet(7, 10, 9),
			steps: []step{
				{refund: 2, price: [3]int64{2, 2, 2}, want: [3]int64{2, 2, 2}},
				{refund: 1, price: [3]int64{2, 2, 1}, want: [3]int64{4, 4, 3}},
				{refund: 1, price: [3]int64{1, 1, 2}, want: [3]int64{5, 5, 5}},
				{fail: 1, want: [3]int64{3, 3, 4}},
				{fail: 0, want: [3]int64{1, 1, 2}},
				{fail: 2, want: [3]int64{0, 0, 0}},
				{refund: 7, price: [3]int64{10, 10, 9}, want: [3]int64{10, 10, 9}},
			},
		},
		{
			// MNT wallet, USD settlement, CNY merchant: 100.00 CNY paid with
			// 48,750.00 MNT, for which the partner owes 14.10 USD, 13.90 of
			// which buys the yuan.
			name: "settling in another currency, in quarters",
			paid: [4]int64{10000, 4875000, 1410, 1390},
			steps: []step{
				{refund: 2500, price: [3]int64{1218750, 352, 347}, want: [3]int64{1218750, 352, 347}},
				{refund: 2500, price: [3]int64{1218750, 353, 348}, want: [3]int64{2437500, 705, 695}},
				{refund: 2500, price: [3]int64{1218750, 352, 347}, want: [3]int64{3656250, 1057, 1042}},
				{fail: 1, want: [3]int64{2437500, 704, 694}},
				{refund: 2500, price: [3]int64{1218750, 353, 348}, want: [3]int64{3656250, 1057, 1042}},
				{refund: 2500, price: [3]int64{1218750, 353, 348}, want: [3]int64{4875000, 1410, 1390}},
			},
		},
		{
			// A settlement amount in a currency without minor digits, smaller
			// than the merchant amount: small refunds give back no settlement
			// units until their cumulative share reaches one.
			name: "a settlement amount smaller than the merchant amount",
			paid: [4]int64{1000, 50000, 3, 2},
			steps: []step{
				{refund: 100, price: [3]int64{5000, 0, 0}, want: [3]int64{5000, 0, 0}},
				{refund: 300, price: [3]int64{15000, 1, 0}, want: [3]int64{20000, 1, 0}},
				{refund: 600, price: [3]int64{30000, 2, 2}, want: [3]int64{50000, 3, 2}},
			},
		},
		{
			name: "a wallet amount smaller than the merchant amount",
			paid: settlingInWallet(3, 1, 0),
			steps: []step{
				{refund: 1, tooSmall: true},
				{refund: 2, tooSmall: true},
				{refund: 3, price: [3]int64{1, 1, 0}, want: [3]int64{1, 1, 0}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &refundLedger{paid: tc.paid}
			for i, s := range tc.steps {
				if s.refund == 0 {
					if l.refunds[s.fail].failed {
						t.Fatalf("step %d: refund %d failed already", i, s.fail)
					}
					l.refunds[s.fail].failed = true
				} else {
					price, kept := l.refund(s.refund)
					if kept == s.tooSmall || (kept && price != s.price) {
						t.Fatalf("step %d: refund of %d priced %v; want %v (too small: %v)", i, s.refund, price, s.price, s.tooSmall)
					}
				}
				l.check(t, "step")
				if sum := l.taken(); [3]int64(sum[1:]) != s.want {
					t.Fatalf("step %d: refunds not failed return %v; want %v", i, sum[1:], s.want)
				}
			}
		})
	}
}

// TestProportionalCaps checks Proportional's bounds when asked for more
// than remains (InsertRefund refuses such a refund before pricing it).
func TestProportionalCaps(t *testing.T) {
	for _, tc := range []struct {
		name           string
		paid, refunded [4]int64
		m              int64
		want           [3]int64
	}{
		{"more than remains", [4]int64{10, 100, 30, 20}, [4]int64{8, 80, 24, 16}, 5, [3]int64{20, 6, 4}},
		{"refunds ahead of their share", settlingInWallet(3, 100, 97), [4]int64{2, 67, 67, 65}, 0, [3]int64{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w, s, c := Proportional(tc.paid, tc.refunded, tc.m); [3]int64{w, s, c} != tc.want {
				t.Fatalf("Proportional(%v, %v, %d) = %d, %d, %d; want %v", tc.paid, tc.refunded, tc.m, w, s, c, tc.want)
			}
		})
	}
}

// TestProportionalProperties prices random sequences of refunds, some of
// which fail, and checks the bounds after every step.
func TestProportionalProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20250301, 1))
	upTo := func(n int64) int64 { return 1 + rng.Int64N(n) }
	for run := range 3000 {
		var m int64
		switch run % 3 {
		case 0:
			m = upTo(10) // few units: rounding dominates
		case 1:
			m = upTo(1000)
		default:
			m = upTo(1_000_000)
		}
		// Wallet and settlement amounts below, near and far above the
		// merchant amount; the cost not above the settlement amount.
		w := upTo([]int64{m, 10 * m, 1_000_000_000}[rng.IntN(3)])
		s := w
		if rng.IntN(3) > 0 {
			s = upTo([]int64{m, 10 * m, 1_000_000_000}[rng.IntN(3)])
		}
		c := rng.Int64N(s + 1)
		l := &refundLedger{paid: [4]int64{m, w, s, c}}
		failures := false
		for step := 0; step < 40; step++ {
			left := m - l.taken()[0]
			var live []int
			for i, r := range l.refunds {
				if !r.failed {
					live = append(live, i)
				}
			}
			switch {
			case len(live) > 0 && (left == 0 || rng.IntN(4) == 0):
				l.refunds[live[rng.IntN(len(live))]].failed = true
				failures = true
			case left > 0:
				ask := upTo(left)
				if rng.IntN(2) == 0 {
					ask = upTo(min(left, 3))
				}
				before := l.taken()
				price, kept := l.refund(ask)
				if price[0] < 0 || price[1] < 0 || price[2] < 0 {
					t.Fatalf("run %d %v: refund of %d priced negative: %v", run, l.paid, ask, price)
				}
				// Without failures each refund is its cumulative share's
				// step: within a unit of its exact share, and its cost within
				// a unit of its settlement amount (the ledger takes no more).
				if kept && !failures {
					for i, total := range l.paid[1:] {
						if d := price[i]*m - total*ask; d <= -m || d >= m {
							t.Fatalf("run %d %v: refund of %d after %v priced %v, more than a unit from %d·%d/%d", run, l.paid, ask, before, price, total, ask, m)
						}
					}
					if price[2] > price[1]+1 {
						t.Fatalf("run %d %v: refund of %d after %v costs %d for a settlement amount of %d", run, l.paid, ask, before, price[2], price[1])
					}
				}
			}
			l.check(t, "random step")
		}
		// Whatever happened, what remains can be refunded, and the full set
		// returns exactly the wallet, settlement and cost amounts.
		if left := m - l.taken()[0]; left > 0 {
			if _, kept := l.refund(left); !kept {
				t.Fatalf("run %d %v: the remaining %d merchant units price to nothing after %+v", run, l.paid, left, l.refunds)
			}
		}
		l.check(t, "final refund")
		if sum := l.taken(); sum != l.paid {
			t.Fatalf("run %d: the full set of refunds returns %v, want %v", run, sum, l.paid)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v        string
		max      int
		required bool
		ok       bool
	}{
		{"plain", "Tea House 42", 64, true, true},
		{"empty, optional", "", 64, false, true},
		{"empty, required", "", 64, true, false},
		{"exactly max bytes", "abcd", 4, true, true},
		{"one byte over", "abcde", 4, true, false},
		{"max counts bytes, not characters", "éé", 3, true, false},
		{"multibyte within max", "北京", 6, true, true},
		{"emoji", "☕", 3, true, true},
		{"invalid UTF-8", "ab\xff", 64, false, false},
		{"a truncated sequence", "\xe5\x8c", 64, false, false},
		{"newline", "a\nb", 64, false, false},
		{"tab", "a\tb", 64, false, false},
		{"NUL", "a\x00b", 64, false, false},
		{"DEL", "a\x7fb", 64, false, false},
		{"C1 control", "a\u0085b", 64, false, false},
		{"non-breaking space", "a\u00a0b", 64, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckText("merchant_name", tc.v, tc.max, tc.required)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckText(%q) = %v, want nil", tc.v, err)
				}
				return
			}
			var e *rpcerr.Error
			if !errors.As(err, &e) || e.Reason != rpcerr.InvalidArgument || e.Field != "merchant_name" {
				t.Fatalf("CheckText(%q) = %#v, want INVALID_ARGUMENT on merchant_name", tc.v, err)
			}
		})
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name, v string
		max     int
		want    string
	}{
		{"clean text is kept", "REF-123 北京", 64, "REF-123 北京"},
		{"empty", "", 8, ""},
		{"control characters become U+FFFD", "a\nb\x00c", 64, "a\uFFFDb\uFFFDc"},
		{"invalid UTF-8 becomes U+FFFD", "ab\xff\xfecd", 64, "ab\uFFFDcd"},
		{"cut to max bytes", "abcdef", 4, "abcd"},
		{"cut on a character boundary", "a北京", 5, "a北"},
		{"a multibyte character that does not fit is left out", "ab北", 4, "ab"},
		{"a replacement that does not fit is left out", "abc\n", 4, "abc"},
		{"max zero", "abc", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clean(tc.v, tc.max)
			if got != tc.want {
				t.Fatalf("Clean(%q, %d) = %q, want %q", tc.v, tc.max, got, tc.want)
			}
			if err := CheckText("reference", got, tc.max, false); err != nil {
				t.Fatalf("Clean(%q, %d) = %q, which CheckText refuses: %v", tc.v, tc.max, got, err)
			}
		})
	}
}

// FuzzClean checks that whatever a downstream sends, Clean returns text
// CheckText accepts, never longer than max, and leaves it as it is.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "REF-1", "a\nb", "\xff\xfe", "北京☕", "\u0085\u2028", strings.Repeat("é", 40)} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, v string, max int) {
		if max < 0 || max > 1024 {
			t.Skip()
		}
		got := Clean(v, max)
		if err := CheckText("reference", got, max, false); err != nil {
			t.Fatalf("Clean(%q, %d) = %q: %v", v, max, got, err)
		}
		if again := Clean(got, max); again != got {
			t.Fatalf("Clean is not idempotent: %q, then %q", got, again)
		}
		if CheckText("reference", v, max, false) == nil && got != v {
			t.Fatalf("Clean changed acceptable text %q to %q", v, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Clean returned invalid UTF-8 %q", got)
		}
	})
}

// TestDerivedIDs pins the ids derived from callers' keys: rows already
// stored are found by them, so the derivation must never change.
func TestDerivedIDs(t *testing.T) {
	ids := map[string]string{
		"PaymentID":      PaymentID("hipay", "order-1"),
		"OrderPaymentID": OrderPaymentID("hipay", "order-1"),
		"RefundID":       RefundID("hipay", "order-1"),
	}
	t.Run("stable", func(t *testing.T) {
		for name, want := range map[string]string{
			"PaymentID":      "09d8cd88-8e6b-53ff-bb85-7e2a8f10916f",
			"OrderPaymentID": "7441b5e4-6d6b-5466-a4c0-533d376717ec",
			"RefundID":       "46d60125-5118-5327-9f44-06855e76e42d",
		} {
			if ids[name] != want {
				t.Errorf("%s(hipay, order-1) = %s, want %s", name, ids[name], want)
			}
		}
		if PaymentID("hipay", "order-1") != ids["PaymentID"] || OrderPaymentID("hipay", "order-1") != ids["OrderPaymentID"] ||
			RefundID("hipay", "order-1") != ids["RefundID"] {
			t.Error("the same key derived another id")
		}
		for name, id := range ids {
			if u, err := uuid.Parse(id); err != nil || u.Version() != 5 || u.String() != id {
				t.Errorf("%s = %q: not a canonical UUIDv5 (%v)", name, id, err)
			}
		}
	})
	t.Run("distinct", func(t *testing.T) {
		seen := map[string]string{}
		add := func(what, id string) {
			if prev, ok := seen[id]; ok {
				t.Errorf("%s and %s share the id %s", prev, what, id)
			}
			seen[id] = what
		}
		for _, k := range [][2]string{{"hipay", "order-1"}, {"hipay", "order-2"}, {"khanbank", "order-1"},
			{"hipay:order", "1"}, {"hipay", ":order-1"}, {"hipa", "yorder-1"}, {"", "hipayorder-1"}, {"hipayorder-1", ""}} {
			add("PaymentID"+k[0]+"|"+k[1], PaymentID(k[0], k[1]))
			add("OrderPaymentID"+k[0]+"|"+k[1], OrderPaymentID(k[0], k[1]))
			add("RefundID"+k[0]+"|"+k[1], RefundID(k[0], k[1]))
		}
	})
}
