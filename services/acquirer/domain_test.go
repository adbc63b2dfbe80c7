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
	paid    [3]int64 // merchant, wallet, cost
	refunds []pricedRefund
}

type pricedRefund struct {
	amounts [3]int64 // merchant, wallet, cost
	failed  bool
}

// taken is what the refunds not failed took.
func (l *refundLedger) taken() [3]int64 {
	var sum [3]int64
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
// only if it prices to at least one wallet unit.
func (l *refundLedger) refund(m int64) (wallet, cost int64, kept bool) {
	wallet, cost = Proportional(l.paid, l.taken(), m)
	if wallet > 0 {
		l.refunds = append(l.refunds, pricedRefund{amounts: [3]int64{m, wallet, cost}})
	}
	return wallet, cost, wallet > 0
}

// check asserts the bounds that must hold after every step.
func (l *refundLedger) check(t *testing.T, step string) {
	t.Helper()
	sum := l.taken()
	if sum[0] > l.paid[0] {
		t.Fatalf("%s: refunds not failed take %d of %d merchant units", step, sum[0], l.paid[0])
	}
	if sum[1] > l.paid[1] || sum[2] > l.paid[2] {
		t.Fatalf("%s: refunds not failed return wallet %d of %d, cost %d of %d", step, sum[1], l.paid[1], sum[2], l.paid[2])
	}
	if sum[0] == l.paid[0] && (sum[1] != l.paid[1] || sum[2] != l.paid[2]) {
		t.Fatalf("%s: a full set of refunds returns wallet %d of %d, cost %d of %d", step, sum[1], l.paid[1], sum[2], l.paid[2])
	}
}

func TestProportionalScripts(t *testing.T) {
	type step struct {
		refund     int64 // merchant units asked for; 0: fail refunds[fail]
		fail       int
		wallet     int64 // the refund's price
		cost       int64
		tooSmall   bool  // priced at zero wallet units: refused
		wantWallet int64 // then, the wallet and cost the refunds not failed return
		wantCost   int64
	}
	for _, tc := range []struct {
		name  string
		paid  [3]int64
		steps []step
	}{
		{
			// The case the old per-refund pricing got wrong: with the second
			// refund failed, a fourth returned 101 of 100.
			name: "thirds with a failure in between",
			paid: [3]int64{3, 100, 97},
			steps: []step{
				{refund: 1, wallet: 33, cost: 32, wantWallet: 33, wantCost: 32},
				{refund: 1, wallet: 33, cost: 32, wantWallet: 66, wantCost: 64},
				{refund: 1, wallet: 34, cost: 33, wantWallet: 100, wantCost: 97},
				{fail: 1, wantWallet: 67, wantCost: 65},
				{refund: 1, wallet: 33, cost: 32, wantWallet: 100, wantCost: 97},
			},
		},
		{
			name: "in full at once",
			paid: [3]int64{10000, 4875000, 4800000},
			steps: []step{
				{refund: 10000, wallet: 4875000, cost: 4800000, wantWallet: 4875000, wantCost: 4800000},
			},
		},
		{
			name: "quarters",
			paid: [3]int64{10000, 4875001, 4800003},
			steps: []step{
				{refund: 2500, wallet: 1218750, cost: 1200000, wantWallet: 1218750, wantCost: 1200000},
				{refund: 2500, wallet: 1218750, cost: 1200001, wantWallet: 2437500, wantCost: 2400001},
				{refund: 2500, wallet: 1218750, cost: 1200001, wantWallet: 3656250, wantCost: 3600002},
				{refund: 2500, wallet: 1218751, cost: 1200001, wantWallet: 4875001, wantCost: 4800003},
			},
		},
		{
			name: "every refund failed, then one in full",
			paid: [3]int64{7, 10, 9},
			steps: []step{
				{refund: 2, wallet: 2, cost: 2, wantWallet: 2, wantCost: 2},
				{refund: 1, wallet: 2, cost: 1, wantWallet: 4, wantCost: 3},
				{refund: 1, wallet: 1, cost: 2, wantWallet: 5, wantCost: 5},
				{fail: 1, wantWallet: 3, wantCost: 4},
				{fail: 0, wantWallet: 1, wantCost: 2},
				{fail: 2, wantWallet: 0, wantCost: 0},
				{refund: 7, wallet: 10, cost: 9, wantWallet: 10, wantCost: 9},
			},
		},
		{
			name: "a wallet amount smaller than the merchant amount",
			paid: [3]int64{3, 1, 0},
			steps: []step{
				{refund: 1, tooSmall: true},
				{refund: 2, tooSmall: true},
				{refund: 3, wallet: 1, cost: 0, wantWallet: 1, wantCost: 0},
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
					wallet, cost, kept := l.refund(s.refund)
					if kept == s.tooSmall || (kept && (wallet != s.wallet || cost != s.cost)) {
						t.Fatalf("step %d: refund of %d = wallet %d, cost %d; want %d, %d (too small: %v)", i, s.refund, wallet, cost, s.wallet, s.cost, s.tooSmall)
					}
				}
				l.check(t, "step")
				if sum := l.taken(); sum[1] != s.wantWallet || sum[2] != s.wantCost {
					t.Fatalf("step %d: refunds not failed return wallet %d, cost %d; want %d, %d", i, sum[1], sum[2], s.wantWallet, s.wantCost)
				}
			}
		})
	}
}

// TestProportionalCaps checks Proportional's bounds when asked for more
// than remains (InsertRefund refuses such a refund before pricing it).
func TestProportionalCaps(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		paid, refunded       [3]int64
		m                    int64
		wantWallet, wantCost int64
	}{
		{"more than remains", [3]int64{10, 100, 50}, [3]int64{8, 80, 40}, 5, 20, 10},
		{"refunds ahead of their share", [3]int64{3, 100, 97}, [3]int64{2, 67, 65}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w, c := Proportional(tc.paid, tc.refunded, tc.m); w != tc.wantWallet || c != tc.wantCost {
				t.Fatalf("Proportional(%v, %v, %d) = %d, %d; want %d, %d", tc.paid, tc.refunded, tc.m, w, c, tc.wantWallet, tc.wantCost)
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
		w := upTo([]int64{m, 10 * m, 1_000_000_000}[rng.IntN(3)]) // wallet below, near and far above the merchant amount
		c := rng.Int64N(w + 1)
		l := &refundLedger{paid: [3]int64{m, w, c}}
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
				wallet, cost, kept := l.refund(ask)
				if wallet < 0 || cost < 0 {
					t.Fatalf("run %d %v: refund of %d priced negative: %d, %d", run, l.paid, ask, wallet, cost)
				}
				// Without failures each refund is its cumulative share's
				// step: within a unit of its exact share.
				if kept && !failures {
					if d := wallet*m - w*ask; d <= -m || d >= m {
						t.Fatalf("run %d %v: refund of %d after %v returns %d wallet units, more than a unit from %d·%d/%d", run, l.paid, ask, before, wallet, w, ask, m)
					}
				}
			}
			l.check(t, "random step")
		}
		// Whatever happened, what remains can be refunded, and the full set
		// returns exactly the wallet and cost amounts.
		if left := m - l.taken()[0]; left > 0 {
			if _, _, kept := l.refund(left); !kept {
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
