package risk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// Alerts look back over many payments, after the fact: every pass
// aggregates the stored decisions of the last hour per merchant and per
// user, and runs the alert rules (CEL over the aggregates) on each. A
// rule that matches raises an alert — once per rule, subject and hour,
// however many replicas run the pass — and opens a review case for it, in
// the analysts' queue beside the payments in review.
//
// The aggregates' features, named as the rules read them:
//
//	payments      payments decided in the hour
//	users         distinct users (for a merchant; 1 for a user)
//	merchants     distinct merchants (for a user; 1 for a merchant)
//	devices       distinct devices named
//	declines      payments declined
//	reviews       payments in review
//	approved_sum  the amount of the payments that proceeded, minor units
//	              (of one currency for a merchant; mixed for a user)
//	avg_score_bp  the model's mean score, basis points
//	max_score_bp  its highest score
type AlertRule struct {
	ID string
	// Scope is "merchant" or "user": what the aggregates are of.
	Scope       string
	Expr        string
	Description string
}

// Alert scopes.
const (
	ScopeMerchant = "merchant"
	ScopeUser     = "user"
)

// DefaultAlerts are the alert rules the service runs unless told others.
var DefaultAlerts = []AlertRule{
	{ID: "collusion.merchant", Scope: ScopeMerchant, Expr: "users >= 5 && avg_score_bp >= 5000",
		Description: "a merchant whose many users all look risky: collusion, or a mule merchant"},
	{ID: "declines.merchant", Scope: ScopeMerchant, Expr: "payments >= 20 && declines * 2 >= payments",
		Description: "half or more of a busy merchant's payments declined: a merchant under attack, or testing cards"},
	{ID: "probe-then-pay.user", Scope: ScopeUser, Expr: "declines >= 3 && payments > declines",
		Description: "a user declined three times or more who then got through: probing the limits"},
	{ID: "devices.user", Scope: ScopeUser, Expr: "devices >= 4",
		Description: "one user on four devices or more in an hour: a shared or taken-over account"},
}

var alertEnv = func() *cel.Env {
	var opts []cel.EnvOption
	for _, n := range alertFeatures {
		opts = append(opts, cel.Variable(n, cel.IntType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(fmt.Sprintf("risk: the alert features do not make an environment: %v", err))
	}
	return env
}()

var alertFeatures = []string{"payments", "users", "merchants", "devices", "declines", "reviews", "approved_sum", "avg_score_bp", "max_score_bp"}

// aggregate is one subject's hour.
type aggregate struct {
	subject, partner string
	values           [9]int64 // in alertFeatures order
}

func (a *aggregate) ResolveName(name string) (any, bool) {
	for i, n := range alertFeatures {
		if n == name {
			return a.values[i], true
		}
	}
	return nil, false
}

func (a *aggregate) Parent() interpreter.Activation { return nil }

type compiledAlert struct {
	AlertRule
	prg cel.Program
}

// Alerter runs alert rules over the stored decisions.
type Alerter struct {
	db    *sqlstore.DB
	cases *Cases
	rules []compiledAlert
	now   func() time.Time
}

// NewAlerter compiles rules (every problem named; none run if any is
// bad).
func NewAlerter(db *sqlstore.DB, cases *Cases, rs []AlertRule, now func() time.Time) (*Alerter, error) {
	if now == nil {
		now = time.Now
	}
	a := &Alerter{db: db, cases: cases, now: now}
	var errs []error
	seen := map[string]bool{}
	for _, r := range rs {
		switch {
		case r.Scope != ScopeMerchant && r.Scope != ScopeUser:
			errs = append(errs, fmt.Errorf("alert %q: scope %q: want merchant or user", r.ID, r.Scope))
			continue
		case r.ID == "" || seen[r.ID]:
			errs = append(errs, fmt.Errorf("alert %q: an id must be given, once", r.ID))
			continue
		}
		seen[r.ID] = true
		ast, iss := alertEnv.Compile(r.Expr)
		if iss.Err() != nil {
			errs = append(errs, fmt.Errorf("alert %q: %v", r.ID, strings.ReplaceAll(iss.Err().Error(), "\n", " ")))
			continue
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			errs = append(errs, fmt.Errorf("alert %q: is %s, not a boolean", r.ID, ast.OutputType()))
			continue
		}
		prg, err := alertEnv.Program(ast)
		if err != nil {
			errs = append(errs, fmt.Errorf("alert %q: %w", r.ID, err))
			continue
		}
		a.rules = append(a.rules, compiledAlert{r, prg})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// aggregates reads the hour before end, per merchant or per user.
func (a *Alerter) aggregates(ctx context.Context, scope string, start, end time.Time) ([]aggregate, error) {
	// A merchant's payments come from many partners: its case names one.
	subject, partner, group := "merchant", "MIN(partner_id)", "merchant"
	if scope == ScopeUser {
		subject, partner, group = "partner_id || '/' || user_ref", "partner_id", "partner_id, user_ref"
	}
	rows, err := a.db.QueryContext(ctx, `SELECT `+subject+`, `+partner+`, COUNT(*),
			COUNT(DISTINCT user_ref), COUNT(DISTINCT merchant),
			COUNT(DISTINCT CASE WHEN device_ref <> '' THEN device_ref END),
			COALESCE(SUM(CASE WHEN outcome = 'DECLINE' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN outcome = 'REVIEW' THEN 1 ELSE 0 END), 0),
			CAST(COALESCE(SUM(CASE WHEN outcome <> 'DECLINE' THEN minor_units ELSE 0 END), 0) AS INT8),
			CAST(COALESCE(SUM(score_bp), 0) AS INT8), COALESCE(MAX(score_bp), 0)
		FROM risk_decisions WHERE create_time >= $1 AND create_time < $2 AND user_ref NOT LIKE 'code:%'
		GROUP BY `+group, start.UTC(), end.UTC())
	if err != nil {
		return nil, fmt.Errorf("risk: alert aggregates: %w", err)
	}
	defer rows.Close()
	var out []aggregate
	for rows.Next() {
		var g aggregate
		v := &g.values
		var scoreSum int64
		if err := rows.Scan(&g.subject, &g.partner, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &scoreSum, &v[8]); err != nil {
			return nil, err
		}
		if v[0] > 0 {
			v[7] = scoreSum / v[0]
		}
		if scope == ScopeMerchant {
			v[2] = 1
		} else {
			v[1] = 1
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Alert is one raised alert.
type Alert struct {
	ID, RuleID, Scope, Subject, Detail string
	WindowEnd                          time.Time
	CaseID                             string
}

// RunOnce aggregates the last hour, runs every alert rule and raises what
// matched and was not raised already this hour; it returns the alerts it
// raised.
func (a *Alerter) RunOnce(ctx context.Context) ([]Alert, error) {
	end := a.now().UTC()
	hour := end.Truncate(time.Hour)
	var raised []Alert
	for _, scope := range []string{ScopeMerchant, ScopeUser} {
		var groups []aggregate
		loaded := false
		for _, r := range a.rules {
			if r.Scope != scope {
				continue
			}
			if !loaded {
				var err error
				if groups, err = a.aggregates(ctx, scope, end.Add(-time.Hour), end); err != nil {
					return raised, err
				}
				loaded = true
			}
			for i := range groups {
				g := &groups[i]
				out, _, err := r.prg.Eval(g)
				if err != nil || out != types.True {
					continue
				}
				al := Alert{ID: r.ID + "|" + g.subject + "|" + hour.Format(time.RFC3339), RuleID: r.ID, Scope: scope,
					Subject: g.subject, WindowEnd: end, Detail: describe(g)}
				ok, err := a.raise(ctx, &al, g.partner)
				if err != nil {
					return raised, err
				}
				if ok {
					raised = append(raised, al)
				}
			}
		}
	}
	return raised, nil
}

func describe(g *aggregate) string {
	parts := make([]string, len(alertFeatures))
	for i, n := range alertFeatures {
		parts[i] = fmt.Sprintf("%s=%d", n, g.values[i])
	}
	return strings.Join(parts, " ")
}

// raise records an alert once and opens its case; ok=false if it was
// raised before. The alert row is written first: a replica that dies
// before the case opens leaves the alert without one, and the next pass
// opens it (openAlertCases).
func (a *Alerter) raise(ctx context.Context, al *Alert, partner string) (bool, error) {
	res, err := a.db.ExecContext(ctx, `INSERT INTO risk_alerts (alert_id, rule_id, scope, subject, partner_id, detail, window_end, case_id, create_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8) ON CONFLICT (alert_id) DO NOTHING`,
		al.ID, al.RuleID, al.Scope, al.Subject, partner, al.Detail, al.WindowEnd, a.now().UTC())
	if err != nil {
		return false, fmt.Errorf("risk: raise alert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	return true, a.openCase(ctx, al, partner)
}

func (a *Alerter) openCase(ctx context.Context, al *Alert, partner string) error {
	c := Case{PaymentID: "alert:" + al.ID, PartnerID: partner, Reasons: []string{al.RuleID + ": " + al.Detail}}
	switch al.Scope {
	case ScopeMerchant:
		c.Merchant = al.Subject
	case ScopeUser:
		_, c.UserRef, _ = strings.Cut(al.Subject, "/")
	}
	opened, err := a.cases.Open(ctx, c)
	if err != nil {
		return fmt.Errorf("risk: open the case of alert %s: %w", al.ID, err)
	}
	al.CaseID = opened.ID
	_, err = a.db.ExecContext(ctx, `UPDATE risk_alerts SET case_id = $2 WHERE alert_id = $1`, al.ID, opened.ID)
	return err
}

// openAlertCases opens the cases of alerts raised without one.
func (a *Alerter) openAlertCases(ctx context.Context) error {
	rows, err := a.db.QueryContext(ctx, `SELECT alert_id, rule_id, scope, subject, partner_id, detail, window_end FROM risk_alerts
		WHERE case_id = '' LIMIT 100`)
	if err != nil {
		return err
	}
	var owed []Alert
	var partners []string
	for rows.Next() {
		var al Alert
		var p string
		if err := rows.Scan(&al.ID, &al.RuleID, &al.Scope, &al.Subject, &p, &al.Detail, &al.WindowEnd); err != nil {
			rows.Close()
			return err
		}
		owed, partners = append(owed, al), append(partners, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range owed {
		if err := a.openCase(ctx, &owed[i], partners[i]); err != nil {
			return err
		}
	}
	return nil
}

// Run runs a pass every interval until ctx ends.
func (a *Alerter) Run(ctx context.Context, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := a.openAlertCases(ctx)
		if err == nil {
			_, err = a.RunOnce(ctx)
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
