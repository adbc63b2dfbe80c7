package rules

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var demoRules = []Rule{
	{ID: "burst.user", Version: 1, Expr: "user_count_1m >= 5 && amount < 1000", Action: Decline, Mode: Enforce},
	{ID: "new-device.high", Version: 2, Expr: "new_device && amount >= 500000", Action: Review, Mode: Enforce},
	{ID: "night.mcc", Version: 1, Expr: `hour < 5 && mcc in ["7995", "6051"]`, Action: Decline, Mode: Shadow},
	{ID: "model.high", Version: 1, Expr: "model_score >= 0.9", Action: Decline, Mode: Enforce},
	{ID: "merchant.velocity", Version: 1, Expr: "merchant_count_1h > 1000 && mode == 'CPM'", Action: Review, Mode: Enforce},
}

// TestEval: each rule matches the payments it is for; a shadow rule is
// reported as such.
func TestEval(t *testing.T) {
	s, err := Compile(1, demoRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   Input
		want []string
	}{
		{"ordinary", Input{Amount: 12_000, Velocity: userCount1m(1), Hour: 14, MCC: "5812", Mode: "MPM"}, nil},
		{"a burst of probes", Input{Amount: 100, Velocity: userCount1m(6), Hour: 14}, []string{"burst.user"}},
		{"a new device, a high amount", Input{Amount: 600_000, NewDevice: true, Hour: 14}, []string{"new-device.high"}},
		{"a night gamble (shadow)", Input{Amount: 10_000, Hour: 3, MCC: "7995"}, []string{"night.mcc!shadow"}},
		{"a high score and a busy CPM merchant", Input{Amount: 10_000, Hour: 12, ModelScore: 0.95, Velocity: merchantCount1h(1001), Mode: "CPM"},
			[]string{"model.high", "merchant.velocity"}},
	} {
		hits, errs := s.Eval(&tc.in)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tc.name, errs)
		}
		var got []string
		for _, h := range hits {
			id := h.RuleID
			if h.Shadow {
				id += "!shadow"
			}
			got = append(got, id)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: hits %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLoadRefusesBadSets: a set with a rule that does not parse, names an
// unknown feature, is not a boolean, or has a bad action, mode or id is
// refused with every problem named, and the set in force stays.
func TestLoadRefusesBadSets(t *testing.T) {
	e := NewEngine()
	if err := e.Load(3, demoRules); err != nil {
		t.Fatal(err)
	}
	bad := []Rule{
		{ID: "syntax", Expr: "amount >", Action: Decline, Mode: Enforce},
		{ID: "unknown", Expr: "card_bin == '411111'", Action: Decline, Mode: Enforce},
		{ID: "not-bool", Expr: "amount + 1", Action: Decline, Mode: Enforce},
		{ID: "action", Expr: "true", Action: "block", Mode: Enforce},
		{ID: "mode", Expr: "true", Action: Decline, Mode: "maybe"},
		{ID: "Bad ID", Expr: "true", Action: Decline, Mode: Enforce},
		{ID: "ok", Expr: "true", Action: Decline, Mode: Enforce},
		{ID: "ok", Expr: "true", Action: Decline, Mode: Enforce},
	}
	err := e.Load(4, bad)
	if err == nil {
		t.Fatal("a bad set was loaded")
	}
	for _, want := range []string{`rule "syntax"`, `rule "unknown": ERROR: <input>:1:1: undeclared reference to 'card_bin'`,
		`rule "not-bool": is int, not a boolean`, `rule "action": action "block"`, `rule "mode": mode "maybe"`,
		`rule "Bad ID": id must be`, `rule "ok": appears twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if cur := e.Current(); cur.Version != 3 || len(cur.Rules) != len(demoRules) {
		t.Fatalf("the set in force changed: version %d, %d rules", cur.Version, len(cur.Rules))
	}
	if err := e.Load(3, demoRules[:1]); err == nil {
		t.Fatal("a set no newer than the one in force was loaded")
	}
}

// TestSwapUnderLoad: decisions keep evaluating while sets are swapped;
// none fails, and each sees one whole set.
func TestSwapUnderLoad(t *testing.T) {
	e := NewEngine()
	if err := e.Load(1, demoRules); err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		evals   atomic.Int64
		failure atomic.Value
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := Input{Amount: 100, Velocity: userCount1m(6)}
			for !stop.Load() {
				s := e.Current()
				hits, errs := s.Eval(&in)
				if len(errs) > 0 {
					failure.Store(errs[0].Error())
					return
				}
				// Odd versions carry the burst rule, even ones do not.
				if want := s.Version%2 == 1; (len(hits) == 1) != want {
					failure.Store("a set seen half-swapped")
					return
				}
				evals.Add(1)
			}
		}()
	}
	for v := int64(2); v <= 200; v++ {
		rs := demoRules[1:]
		if v%2 == 1 {
			rs = demoRules
		}
		if err := e.Load(v, rs); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if f := failure.Load(); f != nil {
		t.Fatal(f)
	}
	if evals.Load() == 0 {
		t.Fatal("nothing was evaluated")
	}
}

// BenchmarkEval measures one payment through the demo rules.
func BenchmarkEval(b *testing.B) {
	s, err := Compile(1, demoRules)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Amount: 12_000, Velocity: userCount1m(1), Hour: 14, MCC: "5812", Mode: "MPM", ModelScore: 0.1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		local := in
		for pb.Next() {
			if _, errs := s.Eval(&local); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
	})
}

// userCount1m is a velocity block with the user's count of the minute.
func userCount1m(n int64) (v [4][2][3]int64) {
	v[VUser][VCount][W1m] = n
	return v
}

// merchantCount1h is a velocity block with the merchant's count of the hour.
func merchantCount1h(n int64) (v [4][2][3]int64) {
	v[VMerchant][VCount][W1h] = n
	return v
}
