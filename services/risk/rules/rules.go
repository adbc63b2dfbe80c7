// Package rules evaluates risk rules: CEL expressions over a payment's
// documented features (Features), each with an action (decline or
// review) and a mode (enforced, or shadow: evaluated and recorded, never
// acted on). A rule set is compiled as a whole and swapped atomically
// (Engine): a set with a rule that does not compile, is not a boolean,
// or names a feature that does not exist is refused with the error, and
// the previous set stays in force.
package rules

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Feature is one input a rule may read.
type Feature struct {
	Name string
	Type *cel.Type
	Doc  string
}

// Features is the documented set of payment features (docs/risk.md).
// Amounts are integers in minor units of the payment's merchant currency;
// counts and sums are over the windows named, across every risk replica,
// and include the payment being decided.
var Features = append([]Feature{
	{"amount", cel.IntType, "the payment's amount, minor units of its merchant currency"},
	{"currency", cel.StringType, "the merchant currency, ISO 4217"},
	{"partner", cel.StringType, "the wallet partner's id"},
	{"user", cel.StringType, "the partner's reference of the user (empty when the partner named none)"},
	{"device", cel.StringType, "the partner's reference of the user's device (empty when unknown)"},
	{"network", cel.StringType, "the merchant network's id"},
	{"merchant", cel.StringType, "the merchant's id in its network"},
	{"mcc", cel.StringType, "the merchant category code, four digits"},
	{"mode", cel.StringType, `"MPM" (the wallet scanned the merchant's code) or "CPM" (the merchant scanned the user's)`},
	{"hour", cel.IntType, "the hour of day, 0-23, in the risk service's day zone"},
	{"new_device", cel.BoolType, "the device has not paid for this user before"},
	{"model_score", cel.DoubleType, "the model's fraud probability, 0 to 1"},
}, velocityFeatures()...)

// Velocity subjects, measures and windows: Input.Velocity[subject][measure][window].
const (
	VUser = iota
	VDevice
	VMerchant
	VPartner
)

// Measures.
const (
	VCount = iota
	VSum
)

// Windows.
const (
	W1m = iota
	W1h
	W24h
)

var (
	velocitySubjects = [4]string{"user", "device", "merchant", "partner"}
	velocityMeasures = [2]string{"count", "sum"}
	velocityWindows  = [3]string{"1m", "1h", "24h"}
	velocityIndex    = map[string][3]int{}
)

// velocityFeatures are user_count_1m … partner_sum_24h: each subject's
// payments and amount (this currency) in each window.
func velocityFeatures() []Feature {
	var out []Feature
	whose := [4]string{"the user's", "the device's", "the merchant's", "the partner's"}
	span := [3]string{"minute", "hour", "24 hours"}
	for s, subj := range velocitySubjects {
		for m, meas := range velocityMeasures {
			for w, win := range velocityWindows {
				name := subj + "_" + meas + "_" + win
				velocityIndex[name] = [3]int{s, m, w}
				doc := fmt.Sprintf("%s payments in the last %s (0 when there is none)", whose[s], span[w])
				if m == VSum {
					doc = fmt.Sprintf("%s amount in the last %s, in this currency, minor units (0 when there is none)", whose[s], span[w])
				}
				out = append(out, Feature{name, cel.IntType, doc})
			}
		}
	}
	return out
}

// Input is one payment's features, named as in Features.
type Input struct {
	Amount                          int64
	Currency, Partner, User, Device string
	Network, Merchant, MCC, Mode    string
	Hour                            int64
	NewDevice                       bool
	// Velocity[subject][measure][window]: VUser…VPartner, VCount or VSum,
	// W1m…W24h.
	Velocity   [4][2][3]int64
	ModelScore float64
}

// ResolveName implements interpreter.Activation without building a map
// per payment.
func (in *Input) ResolveName(name string) (any, bool) {
	switch name {
	case "amount":
		return in.Amount, true
	case "currency":
		return in.Currency, true
	case "partner":
		return in.Partner, true
	case "user":
		return in.User, true
	case "device":
		return in.Device, true
	case "network":
		return in.Network, true
	case "merchant":
		return in.Merchant, true
	case "mcc":
		return in.MCC, true
	case "mode":
		return in.Mode, true
	case "hour":
		return in.Hour, true
	case "new_device":
		return in.NewDevice, true
	case "model_score":
		return in.ModelScore, true
	}
	if i, ok := velocityIndex[name]; ok {
		return in.Velocity[i[0]][i[1]][i[2]], true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (in *Input) Parent() interpreter.Activation { return nil }

// Actions and modes.
const (
	Decline = "decline"
	Review  = "review"
	Enforce = "enforce"
	Shadow  = "shadow"
)

// Rule is one rule as an operator writes it (JSON in etcd or through the
// risk API).
type Rule struct {
	ID          string `json:"id"`
	Version     int64  `json:"version"`
	Expr        string `json:"expr"`
	Action      string `json:"action"`
	Mode        string `json:"mode"`
	Description string `json:"description,omitempty"`
}

// Hit is a rule that matched a payment.
type Hit struct {
	RuleID  string
	Version int64
	Action  string
	Shadow  bool
}

// Set is a compiled rule set, safe for concurrent use.
type Set struct {
	Version int64
	Rules   []Rule
	progs   []cel.Program
}

var (
	env    *cel.Env
	ruleID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

func init() {
	opts := make([]cel.EnvOption, 0, len(Features))
	for _, f := range Features {
		opts = append(opts, cel.Variable(f.Name, f.Type))
	}
	var err error
	if env, err = cel.NewEnv(opts...); err != nil {
		panic(fmt.Sprintf("rules: the feature declarations do not make an environment: %v", err))
	}
}

// Compile checks and compiles a rule set. Every problem is reported,
// each naming its rule; a set with any is refused whole.
func Compile(version int64, rs []Rule) (*Set, error) {
	s := &Set{Version: version, Rules: append([]Rule(nil), rs...), progs: make([]cel.Program, len(rs))}
	var errs []error
	seen := map[string]bool{}
	for i, r := range rs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("rule %q: %s", r.ID, fmt.Sprintf(format, args...)))
		}
		if !ruleID.MatchString(r.ID) {
			bad("id must be 1-64 of [a-z0-9._-]")
			continue
		}
		if seen[r.ID] {
			bad("appears twice")
			continue
		}
		seen[r.ID] = true
		if r.Action != Decline && r.Action != Review {
			bad("action %q: want decline or review", r.Action)
		}
		if r.Mode != Enforce && r.Mode != Shadow {
			bad("mode %q: want enforce or shadow", r.Mode)
		}
		ast, iss := env.Compile(r.Expr)
		if iss.Err() != nil {
			bad("%v", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
			continue
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			bad("is %s, not a boolean", ast.OutputType())
			continue
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			bad("%v", err)
			continue
		}
		s.progs[i] = prg
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Eval runs every rule on in and returns those that matched, in the set's
// order. A rule whose evaluation fails (an overflow, say) is reported in
// errs and treated as not matched: one bad rule must not stop payments.
func (s *Set) Eval(in *Input) (hits []Hit, errs []error) {
	for i, prg := range s.progs {
		out, _, err := prg.Eval(in)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", s.Rules[i].ID, err))
			continue
		}
		if out == types.True {
			r := s.Rules[i]
			hits = append(hits, Hit{RuleID: r.ID, Version: r.Version, Action: r.Action, Shadow: r.Mode == Shadow})
		}
	}
	return hits, errs
}

// Engine holds the rule set in force.
type Engine struct{ cur atomic.Pointer[Set] }

// NewEngine returns an engine with an empty set.
func NewEngine() *Engine {
	e := &Engine{}
	e.cur.Store(&Set{})
	return e
}

// Load compiles rs and puts it in force, or returns why not and leaves
// the set in force as it was. A set no newer than the one in force is
// refused too.
func (e *Engine) Load(version int64, rs []Rule) error {
	s, err := Compile(version, rs)
	if err != nil {
		return err
	}
	for {
		cur := e.cur.Load()
		if cur.Version >= version && cur.progs != nil {
			return fmt.Errorf("rules: version %d is not newer than %d in force", version, cur.Version)
		}
		if e.cur.CompareAndSwap(cur, s) {
			return nil
		}
	}
}

// Current returns the set in force.
func (e *Engine) Current() *Set { return e.cur.Load() }

// FeatureNames returns the feature names, sorted.
func FeatureNames() []string {
	out := make([]string, len(Features))
	for i, f := range Features {
		out[i] = f.Name
	}
	sort.Strings(out)
	return out
}
