// Package risk is Unigate's risk service. It decides every payment before
// money moves — approve, review (the payment proceeds and an analyst gets
// a case) or decline — with a score and the reasons, in a few hundred
// microseconds of its own work plus one database statement:
//
//   - the policy (lists, partner and merchant standing, limits, rules),
//     changed through the risk API and re-read by every replica within a
//     second (PolicyStore, WatchPolicy);
//   - velocity windows per user, device, merchant and partner, and the
//     behaviour profiles of the model's features, kept in memory and
//     shared between replicas by streaming every counted decision to the
//     peers (velocity.Sharer, ADR 0014);
//   - the rules (CEL, versioned, shadow mode) and the gradient-boosted
//     model (model.Holder, swappable at run time);
//   - the user's daily and monthly limits, exact across replicas: the
//     decision, with its score and reasons for audit, is written in the
//     same serializable statement that reads the user's usage.
//
// Evaluating a payment again returns the first decision; what an approved
// payment reserves against the limits is given back by Release when the
// payment fails.
package risk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
	"github.com/unigate/unigate/services/risk/velocity"
)

// Outcomes of a decision.
const (
	Approve = "APPROVE"
	Review  = "REVIEW"
	Decline = "DECLINE"
)

// Modes of a payment.
const (
	ModeMPM = "MPM"
	ModeCPM = "CPM"
)

// ErrDecisionNotFound: risk has no decision for the payment.
var ErrDecisionNotFound = rpcerr.New(rpcerr.RiskDecisionNotFound, "no risk decision for this payment")

// Reason is one reason behind a decision: a rule that matched (shadow
// ones too, marked) or one of the model's top features.
type Reason struct {
	RuleID string `json:"rule_id"`
	Action string `json:"action,omitempty"`
	Shadow bool   `json:"shadow,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Decision is an evaluation's outcome.
type Decision struct {
	Outcome string        // Approve, Review or Decline
	Reason  rpcerr.Reason // for a decline
	RuleID  string        // the rule that decided a decline or a review
	Message string
	ScoreBP int64 // the model's fraud probability in basis points
	Reasons []Reason
	// What decided it.
	RulesVersion int64
	ModelVersion string
	// Features are the model's inputs (stored for training, not returned).
	Features []float64 `json:"-"`
}

// Proceeds reports whether the payment may go on (approved or in review).
func (d Decision) Proceeds() bool { return d.Outcome == Approve || d.Outcome == Review }

// Payment is what the checks look at.
type Payment struct {
	PaymentID      string
	PartnerID      string
	UserRef        string
	DeviceRef      string
	Mode           string // ModeMPM or ModeCPM
	NetworkID      string
	MerchantID     string
	MCC            string
	City           string
	MerchantAmount money.Amount
	// At is when it is decided (the service's clock); the store stamps
	// the decision with it.
	At time.Time
}

// at is when p is decided.
func (p Payment) at() time.Time {
	if p.At.IsZero() {
		return time.Now().UTC()
	}
	return p.At.UTC()
}

func (p Payment) merchant() string { return p.NetworkID + "/" + p.MerchantID }

// named reports whether the payment names its user: a consumer-presented
// payment's user is known only once the partner's authorization names it
// (NameUser); until then its user_ref stands for the one-time code.
func (p Payment) named() bool { return p.UserRef != "" && !strings.HasPrefix(p.UserRef, "code:") }

// Store keeps decisions and the users' usage. Implemented by *SQLStore.
type Store interface {
	// Decide records the payment's decision and returns it, with
	// fresh=true if this call made it: pre, unless pre lets the payment
	// proceed and the user's approved, unreleased usage of the day or the
	// month in the payment's currency plus this payment would pass lim,
	// which declines it (limit.user.daily, limit.user.monthly). Usage is
	// read and the decision written atomically (SERIALIZABLE). If the
	// payment was evaluated before, it returns the recorded decision.
	Decide(ctx context.Context, p Payment, day string, pre Decision, lim UserLimits) (d Decision, fresh bool, err error)
	// Release marks a payment's reservation released; unknown or already
	// released payments are a no-op.
	Release(ctx context.Context, paymentID string) error
	// NameUser moves a payment to its user, re-checking the user's limits
	// (see RiskService.NameUser); moved reports whether the payment now
	// counts for the user. lim gives a partner's user limits, its
	// per-payment user limit, and whether the user is blocked.
	NameUser(ctx context.Context, paymentID, user string, lim func(partner, user string) (UserLimits, int64, bool)) (d Decision, p Payment, moved bool, err error)
}

// Options configures a Service.
type Options struct {
	// Day is the time zone whose calendar days and months the user limits
	// count (default UTC+8).
	Day *time.Location
	Now func() time.Time
	// Model scores payments (default: the committed model).
	Model *model.Holder
	// ReviewScore and DeclineScore are the model scores from which a
	// payment is reviewed or declined (defaults model.DefaultThreshold and
	// 0.97); the rules see the score too.
	ReviewScore, DeclineScore float64
	// Replica names this replica to its peers.
	Replica string
}

// Service is the risk domain.
type Service struct {
	store    Store
	opts     Options
	policy   atomic.Pointer[compiledPolicy]
	rules    *rules.Engine
	model    *model.Holder
	counter  *velocity.Counter
	sharer   *velocity.Sharer
	profiles *profiles
	months   monthTotals
	// modelID is the stored model in force ("" for the one given at start).
	modelMu sync.Mutex
	modelID string
	refused string // a stored model that did not load: not tried again
	// ruleErrors counts rule evaluations that failed (treated as not
	// matched).
	ruleErrors atomic.Int64
}

// NewService returns a Service with an empty policy (SetPolicy or
// WatchPolicy give it one).
func NewService(store Store, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Day == nil {
		opts.Day = time.FixedZone("UTC+8", 8*3600)
	}
	if opts.Model == nil {
		m, err := model.Default()
		if err != nil {
			return nil, fmt.Errorf("risk: the committed model: %w", err)
		}
		opts.Model = model.NewHolder(m, "committed model "+m.ID())
	}
	if opts.ReviewScore == 0 {
		opts.ReviewScore = model.DefaultThreshold
	}
	if opts.DeclineScore == 0 {
		opts.DeclineScore = 0.97
	}
	if opts.Replica == "" {
		opts.Replica = "risk"
	}
	c := velocity.New()
	s := &Service{store: store, opts: opts, rules: rules.NewEngine(), model: opts.Model, counter: c,
		sharer: velocity.NewSharer(c, opts.Replica, opts.Now), profiles: newProfiles(c)}
	s.sharer.Observe = func(e *riskv1.VelocityEvent) { s.observe(e, s.opts.Now()) }
	s.policy.Store(&compiledPolicy{lists: map[string]bool{}, limits: map[string]PartnerLimits{}})
	return s, nil
}

// Sharer is the replica's velocity sharer: serve it as RiskPeerService and
// run it towards the peers.
func (s *Service) Sharer() *velocity.Sharer { return s.sharer }

// Model is the model in force.
func (s *Service) Model() *model.Holder { return s.model }

// Rules is the rule set in force.
func (s *Service) Rules() *rules.Engine { return s.rules }

// compiledPolicy is a policy ready for lookups.
type compiledPolicy struct {
	version int64
	lists   map[string]bool // list + "|" + kind + "|" + value
	limits  map[string]PartnerLimits
}

func listKey(list, kind, value string) string { return list + "|" + kind + "|" + value }

func (c *compiledPolicy) on(list, kind, value string) bool {
	return value != "" && c.lists[listKey(list, kind, value)]
}

func (c *compiledPolicy) limitsOf(partner string) PartnerLimits {
	if l, ok := c.limits[partner]; ok {
		return l
	}
	return c.limits["*"]
}

// SetPolicy puts a policy in force. Its rules were compiled when they were
// stored; a set that no longer compiles (a feature removed since) is
// refused with the error, the rules in force stay and the lists and
// limits still apply.
func (s *Service) SetPolicy(p Policy) error {
	c := &compiledPolicy{version: p.Version, lists: make(map[string]bool, len(p.Lists)), limits: make(map[string]PartnerLimits, len(p.Limits))}
	for _, e := range p.Lists {
		c.lists[listKey(e.List, e.Kind, e.Value)] = true
	}
	for _, l := range p.Limits {
		c.limits[l.PartnerID] = l
	}
	s.policy.Store(c)
	if p.Rules.Version > s.rules.Current().Version {
		rs := make([]rules.Rule, len(p.Rules.Rules))
		for i, r := range p.Rules.Rules {
			r.Version = p.Rules.Version
			rs[i] = r
		}
		if err := s.rules.Load(p.Rules.Version, rs); err != nil {
			return fmt.Errorf("risk: rule set %d refused, %d stays in force: %w", p.Rules.Version, s.rules.Current().Version, err)
		}
	}
	return nil
}

// PolicyVersion is the version of the policy in force.
func (s *Service) PolicyVersion() int64 { return s.policy.Load().version }

// PolicySource is where WatchPolicy reads the policy: *PolicyStore.
type PolicySource interface {
	Version(ctx context.Context) (int64, error)
	Load(ctx context.Context) (Policy, error)
}

// ModelSource gives a stored model's file: *PolicyStore.
type ModelSource interface {
	ModelBytes(ctx context.Context, id string) ([]byte, error)
}

// UseModel puts the stored model id in force, unless it already is. A
// model that does not load is refused with the error (it was loaded when
// it was stored: a corrupted row, or a model format this build no longer
// reads) and the model in force stays.
func (s *Service) UseModel(ctx context.Context, src ModelSource, id string) error {
	s.modelMu.Lock()
	defer s.modelMu.Unlock()
	if id == "" || id == s.modelID || id == s.refused {
		return nil
	}
	body, err := src.ModelBytes(ctx, id)
	if err != nil {
		return fmt.Errorf("risk: model %s: %w", id, err)
	}
	m, err := model.Load(bytes.NewReader(body))
	if err != nil {
		s.refused = id
		return fmt.Errorf("risk: model %s refused, the model in force stays: %w", id, err)
	}
	s.model.Swap(m, "stored model "+id)
	s.modelID = id
	return nil
}

// WatchPolicy loads the policy and then polls its version every interval,
// loading it again whenever it moved, until ctx ends; a policy naming
// another stored model puts it in force (src being a ModelSource too). A
// failed read is retried at the next tick; the policy in force stays
// meanwhile.
func (s *Service) WatchPolicy(ctx context.Context, src PolicySource, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	ms, models := src.(ModelSource)
	wantModel := ""
	for {
		v, err := src.Version(ctx)
		if err == nil && v != s.PolicyVersion() {
			var p Policy
			if p, err = src.Load(ctx); err == nil {
				err, wantModel = s.SetPolicy(p), p.ModelID
			}
		}
		if models {
			// Retried every tick until it is in force.
			err = errors.Join(err, s.UseModel(ctx, ms, wantModel))
		}
		if err != nil && report != nil && ctx.Err() == nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func decline(reason rpcerr.Reason, rule, format string, args ...any) Decision {
	msg := fmt.Sprintf(format, args...)
	return Decision{Outcome: Decline, Reason: reason, RuleID: rule, Message: msg,
		Reasons: []Reason{{RuleID: rule, Action: rules.Decline, Detail: msg}}}
}

func dailyDecline(cur string, limit int64) Decision {
	return decline(rpcerr.RiskLimitExceeded, "limit.user.daily", "the user's total today would exceed the daily limit of %s",
		money.Amount{Currency: cur, Minor: limit})
}

func monthlyDecline(cur string, limit int64) Decision {
	return decline(rpcerr.RiskLimitExceeded, "limit.user.monthly", "the user's total this month would exceed the monthly limit of %s",
		money.Amount{Currency: cur, Minor: limit})
}

// vkeys are a payment's velocity keys: counts per user, device, merchant
// and partner across currencies ("" for a user or device not named), sums
// per currency (the merchant's key is per currency: one merchant, one
// currency).
type vkeys struct {
	user, userSum, device, deviceSum, merchant, partner, partnerSum string
}

func velocityKeys(p Payment) vkeys {
	cur := p.MerchantAmount.Currency
	k := vkeys{merchant: "m:" + p.merchant() + ":" + cur, partner: "p:" + p.PartnerID, partnerSum: "ps:" + p.PartnerID + ":" + cur}
	if p.named() {
		k.user = "u:" + p.PartnerID + "/" + p.UserRef
		k.userSum = "us:" + p.PartnerID + "/" + p.UserRef + ":" + cur
	}
	if p.DeviceRef != "" {
		k.device = "d:" + p.PartnerID + "/" + p.DeviceRef
		k.deviceSum = "ds:" + p.PartnerID + "/" + p.DeviceRef + ":" + cur
	}
	return k
}

// all lists the keys a counted payment is added under.
func (k vkeys) all() []string {
	out := make([]string, 0, 7)
	for _, key := range []string{k.user, k.userSum, k.device, k.deviceSum, k.merchant, k.partner, k.partnerSum} {
		if key != "" {
			out = append(out, key)
		}
	}
	return out
}

// Evaluate decides whether p may proceed.
func (s *Service) Evaluate(ctx context.Context, p Payment) (Decision, error) {
	now := s.opts.Now()
	p.At = now
	pol := s.policy.Load()
	lim := pol.limitsOf(p.PartnerID)
	d := s.decide(p, now, pol, lim)
	day := now.In(s.opts.Day).Format(time.DateOnly)
	user := UserLimits{}
	if p.named() && lim.Currency == p.MerchantAmount.Currency {
		user = UserLimits{Daily: lim.UserDaily, Monthly: lim.UserMonthly}
	}
	out, fresh, err := s.store.Decide(ctx, p, day, d, user)
	if err != nil {
		return Decision{}, err
	}
	if fresh {
		countDecision("evaluate", out)
	}
	if fresh && out.Proceeds() {
		s.count(p, now)
	}
	return out, nil
}

// count puts a payment that proceeds into the velocity windows and the
// profiles, here and (streamed) at every peer.
func (s *Service) count(p Payment, now time.Time) {
	e := s.event(p, now)
	s.sharer.RecordEvent(e, now)
	s.observe(e, now)
}

// observe remembers a counted payment beyond the windows: the profiles and
// the month totals.
func (s *Service) observe(e *riskv1.VelocityEvent, now time.Time) {
	s.profiles.observe(e, now)
	if e.GetPartner() != "" && e.GetCurrency() != "" {
		month := time.Unix(e.GetUnixSeconds(), 0).In(s.opts.Day).Format("2006-01")
		s.months.add(partnerMonthKey(e.GetPartner(), e.GetCurrency()), month, e.GetAmount())
		if e.GetMerchant() != "" {
			s.months.add(merchantMonthKey(e.GetMerchant(), e.GetCurrency()), month, e.GetAmount())
		}
	}
}

// Maintain sweeps what the windows, profiles and month totals no longer
// need, every interval until ctx ends.
func (s *Service) Maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.opts.Now()
		s.counter.Sweep(now)
		s.profiles.sweep(now)
		s.months.sweep(now.In(s.opts.Day).AddDate(0, -1, 0).Format("2006-01"))
	}
}

// decide runs every check that needs no stored state, in order: standing
// and block lists, per-payment limits, the merchant's and the partner's
// daily totals, then (unless the user, device or merchant is on the allow
// list) the model and the rules.
func (s *Service) decide(p Payment, now time.Time, pol *compiledPolicy, lim PartnerLimits) Decision {
	user, device := p.PartnerID+"/"+p.UserRef, ""
	if p.DeviceRef != "" {
		device = p.PartnerID + "/" + p.DeviceRef
	}
	switch {
	case pol.on(ListSuspend, KindPartner, p.PartnerID) || pol.on(ListBlock, KindPartner, p.PartnerID):
		return decline(rpcerr.RiskBlocked, "standing.partner", "the partner is suspended")
	case pol.on(ListSuspend, KindMerchant, p.merchant()):
		return decline(rpcerr.RiskBlocked, "standing.merchant", "the merchant is suspended")
	case pol.on(ListBlock, KindMerchant, p.merchant()):
		return decline(rpcerr.RiskBlocked, "block.merchant", "merchant is blocked")
	case pol.on(ListBlock, KindMCC, p.MCC):
		return decline(rpcerr.RiskBlocked, "block.mcc", "merchant category %s is blocked", p.MCC)
	case p.named() && pol.on(ListBlock, KindUser, user):
		return decline(rpcerr.RiskBlocked, "block.user", "user is blocked")
	case pol.on(ListBlock, KindDevice, device):
		return decline(rpcerr.RiskBlocked, "block.device", "device is blocked")
	}
	a := p.MerchantAmount
	if lim.Currency != "" && lim.Currency != a.Currency {
		return decline(rpcerr.RiskLimitExceeded, "limit.currency", "no limits are configured for %s", a.Currency)
	}
	keys := velocityKeys(p)
	get := func(k string) velocity.Stats {
		if k == "" {
			return velocity.Stats{}
		}
		return s.counter.Get(k, now)
	}
	merch, partnerSum := get(keys.merchant), get(keys.partnerSum)
	month := now.In(s.opts.Day).Format("2006-01")
	for _, l := range []struct {
		rule  string
		limit int64
		total int64
		what  string
	}{
		{"limit.partner.per_payment", lim.PerPayment, a.Minor, "%s exceeds the limit of %s"},
		{"limit.user.per_payment", lim.UserPerPayment, a.Minor, "%s exceeds the limit of %s"},
		{"limit.merchant.daily", lim.MerchantDaily, merch.Sum24h + a.Minor, "the merchant's last 24 hours with %s would exceed its limit of %s"},
		{"limit.partner.daily", lim.PartnerDaily, partnerSum.Sum24h + a.Minor, "the partner's last 24 hours with %s would exceed its limit of %s"},
		{"limit.merchant.monthly", lim.MerchantMonthly, s.months.get(merchantMonthKey(p.merchant(), a.Currency), month) + a.Minor,
			"the merchant's month with %s would exceed its limit of %s"},
		{"limit.partner.monthly", lim.PartnerMonthly, s.months.get(partnerMonthKey(p.PartnerID, a.Currency), month) + a.Minor,
			"the partner's month with %s would exceed its limit of %s"},
	} {
		if l.limit > 0 && l.total > l.limit {
			if l.rule == "limit.user.per_payment" && !p.named() {
				continue // checked when the partner names the user
			}
			return decline(rpcerr.RiskLimitExceeded, l.rule, l.what, a, money.Amount{Currency: a.Currency, Minor: l.limit})
		}
	}
	d := Decision{Outcome: Approve}
	set := s.rules.Current()
	d.RulesVersion = set.Version
	if pol.on(ListAllow, KindUser, user) && p.named() || pol.on(ListAllow, KindDevice, device) || pol.on(ListAllow, KindMerchant, p.merchant()) {
		d.Reasons = []Reason{{RuleID: "allow", Detail: "on the allow list: rules and model skipped"}}
		return d
	}

	// The model.
	us, usum, dev, devSum, part := get(keys.user), get(keys.userSum), get(keys.device), get(keys.deviceSum), get(keys.partner)
	var st userState
	if p.named() {
		st = s.profiles.read(p.PartnerID+"/"+p.UserRef, device, p.merchant(), now.Unix())
	} else {
		st.newToMerch = true
	}
	pl, hasPlace := placeOf(p.City)
	f := modelFeatures(p, now, us, usum, merch, get(merchantUsersKey(p.merchant())), st, pl, hasPlace, s.opts.Day)
	m, _ := s.model.Current()
	score := m.Score(f)
	d.ScoreBP = int64(math.Round(score * 10000))
	d.ModelVersion, d.Features = m.ID(), f

	// The rules, over the documented features and the score.
	in := rules.Input{
		Amount: a.Minor, Currency: a.Currency, Partner: p.PartnerID, Device: p.DeviceRef,
		Network: p.NetworkID, Merchant: p.MerchantID, MCC: p.MCC, Mode: p.Mode,
		Hour: int64(now.In(s.opts.Day).Hour()), NewDevice: f[model.NewDevice] == 1, ModelScore: score,
	}
	if p.named() {
		in.User = p.UserRef
		velocityInput(&in, rules.VUser, us, usum, a.Minor)
	}
	if p.DeviceRef != "" {
		velocityInput(&in, rules.VDevice, dev, devSum, a.Minor)
	}
	velocityInput(&in, rules.VMerchant, merch, merch, a.Minor)
	velocityInput(&in, rules.VPartner, part, partnerSum, a.Minor)
	hits, errs := set.Eval(&in)
	s.ruleErrors.Add(int64(len(errs)))
	var declineBy, reviewBy string
	for _, h := range hits {
		d.Reasons = append(d.Reasons, Reason{RuleID: h.RuleID, Action: h.Action, Shadow: h.Shadow})
		if h.Shadow {
			continue
		}
		if h.Action == rules.Decline && declineBy == "" {
			declineBy = h.RuleID
		}
		if h.Action == rules.Review && reviewBy == "" {
			reviewBy = h.RuleID
		}
	}
	if score >= s.opts.ReviewScore {
		for _, c := range m.TopFeatures(f, 3) {
			d.Reasons = append(d.Reasons, Reason{RuleID: "model", Detail: fmt.Sprintf("%s %+.2f", c.Name, c.LogOdds)})
		}
	}
	switch {
	case declineBy != "":
		d.Outcome, d.Reason, d.RuleID, d.Message = Decline, rpcerr.RiskDeclined, declineBy, "declined by rule "+declineBy
	case score >= s.opts.DeclineScore:
		d.Outcome, d.Reason, d.RuleID = Decline, rpcerr.RiskDeclined, "model.score"
		d.Message = fmt.Sprintf("the model scores the payment %.4f, at or above %.2f", score, s.opts.DeclineScore)
	case reviewBy != "":
		d.Outcome, d.RuleID, d.Message = Review, reviewBy, "review asked by rule "+reviewBy
	case score >= s.opts.ReviewScore:
		d.Outcome, d.RuleID = Review, "model.score"
		d.Message = fmt.Sprintf("the model scores the payment %.4f, at or above %.2f", score, s.opts.ReviewScore)
	}
	return d
}

// velocityInput fills a subject's windows for the rules, this payment
// included: counts from counts, sums from sums (the currency's key).
func velocityInput(in *rules.Input, subject int, counts, sums velocity.Stats, amount int64) {
	v := &in.Velocity[subject]
	v[rules.VCount] = [3]int64{counts.Count1m + 1, counts.Count1h + 1, counts.Count24h + 1}
	v[rules.VSum] = [3]int64{sums.Sum1m + amount, sums.Sum1h + amount, sums.Sum24h + amount}
}

// Release gives back what an approved payment reserved.
func (s *Service) Release(ctx context.Context, paymentID string) error {
	return s.store.Release(ctx, paymentID)
}

// NameUser moves a consumer-presented payment to the user its partner
// named, re-checking the user's limits: block list, per-payment and the
// stored daily and monthly totals.
func (s *Service) NameUser(ctx context.Context, paymentID, user string) (Decision, error) {
	pol := s.policy.Load()
	d, p, moved, err := s.store.NameUser(ctx, paymentID, user, func(partner, user string) (UserLimits, int64, bool) {
		l := pol.limitsOf(partner)
		return UserLimits{Daily: l.UserDaily, Monthly: l.UserMonthly}, l.UserPerPayment, pol.on(ListBlock, KindUser, partner+"/"+user)
	})
	if err != nil {
		return Decision{}, err
	}
	countDecision("name_user", d)
	if moved {
		now := s.opts.Now()
		k := velocityKeys(p)
		e := &riskv1.VelocityEvent{Keys: []string{k.user, k.userSum}, UnixSeconds: now.Unix(), Amount: p.MerchantAmount.Minor,
			User: p.PartnerID + "/" + p.UserRef}
		s.sharer.RecordEvent(e, now)
		s.observe(e, now)
	}
	return d, nil
}
