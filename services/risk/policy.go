package risk

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/protoadapt"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
)

// Lists and kinds of list entries.
const (
	ListBlock   = "block"   // declined
	ListAllow   = "allow"   // skips rules and the model; limits and blocks still apply
	ListSuspend = "suspend" // partners and merchants: declined while suspended

	KindUser     = "user"     // partner/user_ref
	KindDevice   = "device"   // partner/device_ref
	KindMerchant = "merchant" // network/merchant_id
	KindMCC      = "mcc"      // four digits
	KindPartner  = "partner"  // the partner's id
)

// ListEntry is one value on a list.
type ListEntry struct {
	List, Kind, Value, Note, Actor string
	UpdateTime                     time.Time
}

// PartnerLimits are one partner's limits ("*": every partner without its
// own), in minor units of Currency; 0 is no limit.
type PartnerLimits struct {
	PartnerID, Currency             string
	PerPayment, UserPerPayment      int64
	UserDaily, UserMonthly          int64
	MerchantDaily, PartnerDaily     int64
	MerchantMonthly, PartnerMonthly int64
	Actor                           string
	UpdateTime                      time.Time
}

// RuleSet is a versioned rule set as stored.
type RuleSet struct {
	Version    int64
	Rules      []rules.Rule
	Actor      string
	UpdateTime time.Time
}

// Policy is everything a replica applies, as of one policy version.
type Policy struct {
	Version int64
	Rules   RuleSet
	Lists   []ListEntry
	Limits  []PartnerLimits
	// ModelID is the model put in force through the API (Model.ID), ""
	// for the committed one; its bytes are read only when it changes
	// (PolicyStore.ModelBytes).
	ModelID string
}

// PolicyStore keeps the policy in SQL (run Migrations first). Every change
// moves risk_policy_version and writes a risk_policy_events row in its own
// transaction; replicas poll Version and Load when it moves.
type PolicyStore struct {
	db  *sqlstore.DB
	now func() time.Time
}

// NewPolicyStore returns the policy store on db.
func NewPolicyStore(db *sqlstore.DB, now func() time.Time) *PolicyStore {
	if now == nil {
		now = time.Now
	}
	return &PolicyStore{db: db, now: now}
}

// AllLimits is the partner id of the limits of every partner without its
// own.
const AllLimits = "*"

// PolicyEvent is one policy change, for audit.
type PolicyEvent struct {
	Version               int64
	Time                  time.Time
	Actor, Action, Detail string
}

var (
	// A partner's or a network's id, as authn spells identities.
	policyIDPattern  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	policyMCCPattern = regexp.MustCompile(`^[0-9]{4}$`)
)

// maxListNote bounds a list entry's note.
const maxListNote = 1000

// policyTime is a time as the policy tables keep it.
func policyTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Version returns the policy version (0: nothing was ever configured).
func (s *PolicyStore) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM risk_policy_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("risk: policy version: %w", err)
	}
	return v, nil
}

// Load returns the whole policy, consistent as of one version: everything
// is read in one transaction.
func (s *PolicyStore) Load(ctx context.Context) (Policy, error) {
	var p Policy
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		p = Policy{}
		if err := tx.QueryRowContext(ctx, `SELECT version FROM risk_policy_version WHERE id = 1`).Scan(&p.Version); err != nil {
			return err
		}
		var err error
		if p.Rules, err = rulesIn(ctx, tx); err != nil {
			return err
		}
		if p.Lists, err = listEntriesIn(ctx, tx, "", ""); err != nil {
			return err
		}
		if p.Limits, err = limitsIn(ctx, tx); err != nil {
			return err
		}
		m, found, err := newestModelIn(ctx, tx)
		if found {
			p.ModelID = m.ID
		}
		return err
	})
	if err != nil {
		return Policy{}, fmt.Errorf("risk: load policy: %w", err)
	}
	return p, nil
}

// bumpPolicy moves the policy version in tx and records the change.
func bumpPolicy(ctx context.Context, tx *sqlstore.Tx, at time.Time, actor, action, detail string) (int64, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `UPDATE risk_policy_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v); err != nil {
		return 0, err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO risk_policy_events (version, event_time, actor, action, detail) VALUES ($1, $2, $3, $4, $5)`,
		v, policyTime(at), actor, action, detail)
	return v, err
}

// Events returns the policy changes after version after, oldest first.
func (s *PolicyStore) Events(ctx context.Context, after int64, limit int) ([]PolicyEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version, event_time, actor, action, detail FROM risk_policy_events
		WHERE version > $1 ORDER BY version LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("risk: policy events: %w", err)
	}
	defer rows.Close()
	var out []PolicyEvent
	for rows.Next() {
		var e PolicyEvent
		if err := rows.Scan(&e.Version, &e.Time, &e.Actor, &e.Action, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// --- rules ---

// ruleViolation is one problem with a request field.
type ruleViolation struct{ field, desc string }

// rulesInvalid is the RISK_RULES_INVALID error carrying every problem as
// a field violation.
func rulesInvalid(vs []ruleViolation) error {
	br := &errdetails.BadRequest{}
	msgs := make([]string, len(vs))
	for i, v := range vs {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: v.field, Description: v.desc, Reason: string(rpcerr.RiskRulesInvalid)})
		msgs[i] = v.field + ": " + v.desc
	}
	return &rpcerr.Error{Reason: rpcerr.RiskRulesInvalid,
		Message: "the rule set was refused and the set in force stays: " + strings.Join(msgs, "; "),
		Details: []protoadapt.MessageV1{br}}
}

// ruleViolations checks a rule set as rules.Compile does and names every
// problem by its field ("rule_set.rules[2].expr"). It compiles each part
// of each rule on its own, so that the rules package stays the one judge
// of what is valid.
func ruleViolations(version int64, rs []rules.Rule) []ruleViolation {
	var vs []ruleViolation
	if version <= 0 {
		vs = append(vs, ruleViolation{"rule_set.version", "must be positive"})
	}
	if _, err := rules.Compile(version, rs); err == nil {
		return vs
	}
	// Rewrites "rule \"x\": problem" to "problem".
	problem := func(err error) string {
		msg := err.Error()
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "rule ") {
			msg = msg[i+2:]
		}
		return msg
	}
	const okID, okExpr = "x", "true"
	before := len(vs)
	seen := map[string]bool{}
	for i, r := range rs {
		field := fmt.Sprintf("rule_set.rules[%d].", i)
		if _, err := rules.Compile(1, []rules.Rule{{ID: r.ID, Expr: okExpr, Action: rules.Decline, Mode: rules.Enforce}}); err != nil {
			vs = append(vs, ruleViolation{field + "id", problem(err)})
		} else if seen[r.ID] {
			vs = append(vs, ruleViolation{field + "id", fmt.Sprintf("%q appears twice", r.ID)})
		}
		seen[r.ID] = true
		if _, err := rules.Compile(1, []rules.Rule{{ID: okID, Expr: okExpr, Action: r.Action, Mode: rules.Enforce}}); err != nil {
			vs = append(vs, ruleViolation{field + "action", problem(err)})
		}
		if _, err := rules.Compile(1, []rules.Rule{{ID: okID, Expr: okExpr, Action: rules.Decline, Mode: r.Mode}}); err != nil {
			vs = append(vs, ruleViolation{field + "mode", problem(err)})
		}
		if _, err := rules.Compile(1, []rules.Rule{{ID: okID, Expr: r.Expr, Action: rules.Decline, Mode: rules.Enforce}}); err != nil {
			vs = append(vs, ruleViolation{field + "expr", problem(err)})
		}
	}
	if _, err := rules.Compile(version, rs); err != nil && len(vs) == before {
		// Nothing named a field: report the compiler's words whole.
		vs = append(vs, ruleViolation{"rule_set.rules", strings.ReplaceAll(err.Error(), "\n", "; ")})
	}
	return vs
}

// PutRules compiles a rule set and stores it as the set in force, as a
// new row: its version must be above every stored one. A set that does
// not compile, or whose version is not above, is refused with
// RISK_RULES_INVALID naming every problem, and the set in force stays.
func (s *PolicyStore) PutRules(ctx context.Context, rs RuleSet, actor string) (RuleSet, error) {
	vs := ruleViolations(rs.Version, rs.Rules)
	body, err := json.Marshal(nonNilRules(rs.Rules))
	if err != nil {
		return RuleSet{}, fmt.Errorf("risk: put rules: %w", err)
	}
	out := RuleSet{Version: rs.Version, Rules: nonNilRules(rs.Rules), Actor: actor, UpdateTime: policyTime(s.now())}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		all := vs
		var highest int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM risk_rule_sets`).Scan(&highest); err != nil {
			return err
		}
		if rs.Version > 0 && rs.Version <= highest {
			all = append(all[:len(all):len(all)], ruleViolation{"rule_set.version",
				fmt.Sprintf("%d is not above %d, the highest stored", rs.Version, highest)})
		}
		if len(all) > 0 {
			return rulesInvalid(all)
		}
		return putRulesTx(ctx, tx, out, body)
	})
	if err != nil {
		return RuleSet{}, fmt.Errorf("risk: put rules: %w", err)
	}
	return out, nil
}

func nonNilRules(rs []rules.Rule) []rules.Rule {
	if rs == nil {
		return []rules.Rule{}
	}
	return rs
}

func putRulesTx(ctx context.Context, tx *sqlstore.Tx, rs RuleSet, body []byte) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO risk_rule_sets (version, rules, actor, create_time) VALUES ($1, $2, $3, $4)`,
		rs.Version, string(body), rs.Actor, rs.UpdateTime); err != nil {
		return err
	}
	_, err := bumpPolicy(ctx, tx, rs.UpdateTime, rs.Actor, "rules.put", fmt.Sprintf("rule set %d: %d rules", rs.Version, len(rs.Rules)))
	return err
}

// Rules returns the set in force: the highest version (version 0 and no
// rules if none was ever stored).
func (s *PolicyStore) Rules(ctx context.Context) (RuleSet, error) {
	rs, err := rulesIn(ctx, s.db)
	if err != nil {
		return RuleSet{}, fmt.Errorf("risk: rules: %w", err)
	}
	return rs, nil
}

func rulesIn(ctx context.Context, q sqlstore.Querier) (RuleSet, error) {
	var (
		rs   RuleSet
		body string
	)
	err := q.QueryRowContext(ctx, `SELECT version, rules, actor, create_time FROM risk_rule_sets ORDER BY version DESC LIMIT 1`).
		Scan(&rs.Version, &body, &rs.Actor, &rs.UpdateTime)
	if errors.Is(err, sql.ErrNoRows) {
		return RuleSet{Rules: []rules.Rule{}}, nil
	}
	if err != nil {
		return RuleSet{}, err
	}
	rs.UpdateTime = rs.UpdateTime.UTC()
	if err := json.Unmarshal([]byte(body), &rs.Rules); err != nil {
		return RuleSet{}, fmt.Errorf("rule set %d: %w", rs.Version, err)
	}
	return rs, nil
}

// --- lists ---

// validListKind checks a list and a kind (a suspension is for partners and
// merchants only); prefix prefixes the field names ("entry.").
func validListKind(prefix, list, kind string) error {
	switch list {
	case ListBlock, ListAllow, ListSuspend:
	default:
		return rpcerr.Field(rpcerr.InvalidArgument, prefix+"list", "%q: want block, allow or suspend", list)
	}
	switch kind {
	case KindUser, KindDevice, KindMerchant, KindMCC, KindPartner:
	default:
		return rpcerr.Field(rpcerr.InvalidArgument, prefix+"kind", "%q: want user, device, merchant, mcc or partner", kind)
	}
	if list == ListSuspend && kind != KindPartner && kind != KindMerchant {
		return rpcerr.Field(rpcerr.InvalidArgument, prefix+"kind", "only partners and merchants are suspended, not a %s", kind)
	}
	return nil
}

// validRef checks a "<id>/<ref>" value: an id as authn spells it, then a
// reference without spaces.
func validRef(v string) bool {
	id, ref, ok := strings.Cut(v, "/")
	return ok && policyIDPattern.MatchString(id) && ref != "" && len(ref) <= 128 &&
		strings.IndexFunc(ref, func(r rune) bool { return r <= ' ' || r == 0x7f }) < 0
}

// validListValue checks a value has its kind's shape.
func validListValue(field, kind, v string) error {
	if v == "" {
		return rpcerr.Field(rpcerr.InvalidArgument, field, "is required")
	}
	var ok bool
	want := ""
	switch kind {
	case KindUser:
		ok, want = validRef(v), "partner/user_ref"
	case KindDevice:
		ok, want = validRef(v), "partner/device_ref"
	case KindMerchant:
		ok, want = validRef(v), "network/merchant_id"
	case KindMCC:
		ok, want = policyMCCPattern.MatchString(v), "four digits"
	case KindPartner:
		ok, want = policyIDPattern.MatchString(v), "a partner id (1-64 of A-Z a-z 0-9 . _ -)"
	}
	if !ok {
		return rpcerr.Field(rpcerr.InvalidArgument, field, "%q is not a %s value: want %s", v, kind, want)
	}
	return nil
}

// validListEntry validates a list entry as PutListEntry takes it.
func validListEntry(e ListEntry) error {
	if err := validListKind("entry.", e.List, e.Kind); err != nil {
		return err
	}
	if err := validListValue("entry.value", e.Kind, e.Value); err != nil {
		return err
	}
	if len(e.Note) > maxListNote {
		return rpcerr.Field(rpcerr.InvalidArgument, "entry.note", "is longer than %d bytes", maxListNote)
	}
	return nil
}

// PutListEntry adds a value to a list, or replaces its note. The entry's
// Actor is who did it.
func (s *PolicyStore) PutListEntry(ctx context.Context, e ListEntry) (ListEntry, error) {
	if err := validListEntry(e); err != nil {
		return ListEntry{}, err
	}
	e.UpdateTime = policyTime(s.now())
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		if err := putEntryTx(ctx, tx, e); err != nil {
			return err
		}
		_, err := bumpPolicy(ctx, tx, e.UpdateTime, e.Actor, "list.put", e.List+" "+e.Kind+" "+e.Value+listNoteDetail(e.Note))
		return err
	})
	if err != nil {
		return ListEntry{}, fmt.Errorf("risk: put list entry: %w", err)
	}
	return e, nil
}

func listNoteDetail(note string) string {
	if note == "" {
		return ""
	}
	return ": " + note
}

func putEntryTx(ctx context.Context, tx *sqlstore.Tx, e ListEntry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO risk_list_entries (list, kind, value, note, actor, update_time)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (list, kind, value) DO UPDATE SET note = excluded.note, actor = excluded.actor, update_time = excluded.update_time`,
		e.List, e.Kind, e.Value, e.Note, e.Actor, e.UpdateTime)
	return err
}

// DeleteListEntry removes a value from a list. Removing a value not in it
// is a no-op, and moves nothing.
func (s *PolicyStore) DeleteListEntry(ctx context.Context, list, kind, value, actor string) error {
	if err := validListKind("", list, kind); err != nil {
		return err
	}
	if value == "" {
		return rpcerr.Field(rpcerr.InvalidArgument, "value", "is required")
	}
	now := policyTime(s.now())
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM risk_list_entries WHERE list = $1 AND kind = $2 AND value = $3`, list, kind, value)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = bumpPolicy(ctx, tx, now, actor, "list.delete", list+" "+kind+" "+value)
		return err
	})
	if err != nil {
		return fmt.Errorf("risk: delete list entry: %w", err)
	}
	return nil
}

// ListEntries returns the entries of a list and a kind ("" for any),
// ordered by list, kind and value.
func (s *PolicyStore) ListEntries(ctx context.Context, list, kind string) ([]ListEntry, error) {
	if list != "" {
		if err := validListKind("", list, KindPartner); err != nil {
			return nil, err
		}
	}
	if kind != "" {
		if err := validListKind("", ListBlock, kind); err != nil {
			return nil, err
		}
	}
	es, err := listEntriesIn(ctx, s.db, list, kind)
	if err != nil {
		return nil, fmt.Errorf("risk: list entries: %w", err)
	}
	return es, nil
}

func listEntriesIn(ctx context.Context, q sqlstore.Querier, list, kind string) ([]ListEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT list, kind, value, note, actor, update_time FROM risk_list_entries
		WHERE ($1 = '' OR list = $1) AND ($2 = '' OR kind = $2) ORDER BY list, kind, value`, list, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ListEntry{}
	for rows.Next() {
		var e ListEntry
		if err := rows.Scan(&e.List, &e.Kind, &e.Value, &e.Note, &e.Actor, &e.UpdateTime); err != nil {
			return nil, err
		}
		e.UpdateTime = e.UpdateTime.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// --- limits ---

// validLimits validates a partner's limits as PutLimits takes them.
func validLimits(l PartnerLimits) error {
	if l.PartnerID != AllLimits && !policyIDPattern.MatchString(l.PartnerID) {
		return rpcerr.Field(rpcerr.InvalidArgument, "limits.partner_id", "%q: want a partner id or \"*\" for every partner without its own", l.PartnerID)
	}
	if _, err := money.LookupCurrency(l.Currency); err != nil {
		return rpcerr.Field(rpcerr.UnsupportedCurrency, "limits.currency", "%q is not an ISO 4217 currency code", l.Currency)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"per_payment", l.PerPayment}, {"user_per_payment", l.UserPerPayment}, {"user_daily", l.UserDaily},
		{"user_monthly", l.UserMonthly}, {"merchant_daily", l.MerchantDaily}, {"partner_daily", l.PartnerDaily},
		{"merchant_monthly", l.MerchantMonthly}, {"partner_monthly", l.PartnerMonthly},
	} {
		if f.v < 0 || f.v > money.MaxMinorUnits {
			return rpcerr.Field(rpcerr.InvalidAmount, "limits."+f.name, "%d: want 0 (no limit) to %d minor units", f.v, int64(money.MaxMinorUnits))
		}
	}
	return nil
}

// PutLimits sets a partner's limits (AllLimits: every partner without its
// own). The limits' Actor is who did it.
func (s *PolicyStore) PutLimits(ctx context.Context, l PartnerLimits) (PartnerLimits, error) {
	if err := validLimits(l); err != nil {
		return PartnerLimits{}, err
	}
	l.UpdateTime = policyTime(s.now())
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		if err := putLimitsTx(ctx, tx, l); err != nil {
			return err
		}
		_, err := bumpPolicy(ctx, tx, l.UpdateTime, l.Actor, "limits.put", fmt.Sprintf("%s in %s: per payment %d, user per payment %d, "+
			"user daily %d, user monthly %d, merchant daily %d, partner daily %d, merchant monthly %d, partner monthly %d",
			l.PartnerID, l.Currency, l.PerPayment, l.UserPerPayment, l.UserDaily, l.UserMonthly, l.MerchantDaily, l.PartnerDaily,
			l.MerchantMonthly, l.PartnerMonthly))
		return err
	})
	if err != nil {
		return PartnerLimits{}, fmt.Errorf("risk: put limits: %w", err)
	}
	return l, nil
}

func putLimitsTx(ctx context.Context, tx *sqlstore.Tx, l PartnerLimits) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO risk_limits (partner_id, currency, per_payment, user_per_payment, user_daily,
			user_monthly, merchant_daily, partner_daily, merchant_monthly, partner_monthly, actor, update_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (partner_id) DO UPDATE SET currency = excluded.currency, per_payment = excluded.per_payment,
			user_per_payment = excluded.user_per_payment, user_daily = excluded.user_daily, user_monthly = excluded.user_monthly,
			merchant_daily = excluded.merchant_daily, partner_daily = excluded.partner_daily,
			merchant_monthly = excluded.merchant_monthly, partner_monthly = excluded.partner_monthly, actor = excluded.actor,
			update_time = excluded.update_time`,
		l.PartnerID, l.Currency, l.PerPayment, l.UserPerPayment, l.UserDaily, l.UserMonthly, l.MerchantDaily, l.PartnerDaily,
		l.MerchantMonthly, l.PartnerMonthly, l.Actor, l.UpdateTime)
	return err
}

// Limits returns every partner's limits, ordered by partner ("*" first).
func (s *PolicyStore) Limits(ctx context.Context) ([]PartnerLimits, error) {
	ls, err := limitsIn(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("risk: limits: %w", err)
	}
	return ls, nil
}

func limitsIn(ctx context.Context, q sqlstore.Querier) ([]PartnerLimits, error) {
	rows, err := q.QueryContext(ctx, `SELECT partner_id, currency, per_payment, user_per_payment, user_daily, user_monthly,
		merchant_daily, partner_daily, merchant_monthly, partner_monthly, actor, update_time FROM risk_limits ORDER BY partner_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PartnerLimits{}
	for rows.Next() {
		var l PartnerLimits
		if err := rows.Scan(&l.PartnerID, &l.Currency, &l.PerPayment, &l.UserPerPayment, &l.UserDaily, &l.UserMonthly,
			&l.MerchantDaily, &l.PartnerDaily, &l.MerchantMonthly, &l.PartnerMonthly, &l.Actor, &l.UpdateTime); err != nil {
			return nil, err
		}
		l.UpdateTime = l.UpdateTime.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// --- models ---

// StoredModel describes a model put in force through the API (its file
// is read with ModelBytes).
type StoredModel struct {
	// ID is the model's Model.ID ("sha256:" and 12 hex digits).
	ID string
	// XGBoostVersion saved it; Trees is its number of trees.
	XGBoostVersion string
	Trees          int
	SizeBytes      int64
	Note, Actor    string
	// Seq is the policy version that stored it (the newest is in force).
	Seq        int64
	UpdateTime time.Time
}

// maxModelNote bounds a model's note.
const maxModelNote = 1000

// ErrModelNotStored is returned by ModelBytes for an id never stored.
var ErrModelNotStored = errors.New("risk: no such model stored")

// PutModel stores a model file (XGBoost 1.x JSON) and puts it in force:
// replicas load it when they see Policy.ModelID change. The file is
// loaded first; one that does not load is refused with
// RISK_MODEL_INVALID on the field "model", carrying the loader's
// message, and nothing is written. Putting a stored model again (the
// same id) makes it the newest again, with the new note, actor and time:
// how an earlier model is put back in force. Either way the policy
// version moves, with a "model.put" event.
func (s *PolicyStore) PutModel(ctx context.Context, body []byte, note, actor string) (StoredModel, error) {
	if len(body) == 0 {
		return StoredModel{}, rpcerr.Field(rpcerr.RiskModelInvalid, "model", "is empty: want an XGBoost 1.x JSON model file")
	}
	if len(note) > maxModelNote {
		return StoredModel{}, rpcerr.Field(rpcerr.InvalidArgument, "note", "is longer than %d bytes", maxModelNote)
	}
	m, err := model.Load(bytes.NewReader(body))
	if errors.Is(err, model.ErrInvalidModel) {
		return StoredModel{}, rpcerr.Field(rpcerr.RiskModelInvalid, "model", "the model was refused and the model in force stays: %v", err)
	}
	if err != nil {
		return StoredModel{}, fmt.Errorf("risk: put model: %w", err)
	}
	out := StoredModel{ID: m.ID(), XGBoostVersion: m.Version(), Trees: m.Trees(), SizeBytes: int64(len(body)),
		Note: note, Actor: actor, UpdateTime: policyTime(s.now())}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		v, err := bumpPolicy(ctx, tx, out.UpdateTime, actor, "model.put", out.ID+listNoteDetail(note))
		if err != nil {
			return err
		}
		out.Seq = v
		_, err = tx.ExecContext(ctx, `INSERT INTO risk_models (seq, model_id, body, xgboost_version, trees, size_bytes, note, actor, create_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (model_id) DO UPDATE SET seq = excluded.seq, body = excluded.body, xgboost_version = excluded.xgboost_version,
				trees = excluded.trees, size_bytes = excluded.size_bytes, note = excluded.note, actor = excluded.actor,
				create_time = excluded.create_time`,
			out.Seq, out.ID, body, out.XGBoostVersion, out.Trees, out.SizeBytes, out.Note, out.Actor, out.UpdateTime)
		return err
	})
	if err != nil {
		return StoredModel{}, fmt.Errorf("risk: put model: %w", err)
	}
	return out, nil
}

// ModelInfo describes the newest stored model, the one in force; found
// is false if no model was ever stored (the committed one is in force).
func (s *PolicyStore) ModelInfo(ctx context.Context) (newest StoredModel, found bool, err error) {
	newest, found, err = newestModelIn(ctx, s.db)
	if err != nil {
		return StoredModel{}, false, fmt.Errorf("risk: model info: %w", err)
	}
	return newest, found, nil
}

func newestModelIn(ctx context.Context, q sqlstore.Querier) (StoredModel, bool, error) {
	var m StoredModel
	err := q.QueryRowContext(ctx, `SELECT seq, model_id, xgboost_version, trees, size_bytes, note, actor, create_time
		FROM risk_models ORDER BY seq DESC LIMIT 1`).
		Scan(&m.Seq, &m.ID, &m.XGBoostVersion, &m.Trees, &m.SizeBytes, &m.Note, &m.Actor, &m.UpdateTime)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredModel{}, false, nil
	}
	if err != nil {
		return StoredModel{}, false, err
	}
	m.UpdateTime = m.UpdateTime.UTC()
	return m, true, nil
}

// ModelBytes returns a stored model's file, as it was put; an id never
// stored is an error wrapping ErrModelNotStored.
func (s *PolicyStore) ModelBytes(ctx context.Context, id string) ([]byte, error) {
	var body []byte
	err := s.db.QueryRowContext(ctx, `SELECT body FROM risk_models WHERE model_id = $1`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", ErrModelNotStored, id)
	}
	if err != nil {
		return nil, fmt.Errorf("risk: model %q: %w", id, err)
	}
	return body, nil
}

// --- seed ---

// Seed writes p (its rules if it has any, its list entries and limits) as
// one change by actor, but only if the policy was never configured
// (Version 0): the demo's starting policy, which replicas starting
// together may each offer: only one writes. p is validated whole first;
// p.Version and the entries' actors and times are ignored.
func (s *PolicyStore) Seed(ctx context.Context, p Policy, actor string) error {
	now := policyTime(s.now())
	haveRules := p.Rules.Version != 0 || len(p.Rules.Rules) > 0
	var body []byte
	if haveRules {
		if vs := ruleViolations(p.Rules.Version, p.Rules.Rules); len(vs) > 0 {
			return fmt.Errorf("risk: seed: %w", rulesInvalid(vs))
		}
		var err error
		if body, err = json.Marshal(nonNilRules(p.Rules.Rules)); err != nil {
			return fmt.Errorf("risk: seed: %w", err)
		}
	}
	for _, e := range p.Lists {
		if err := validListEntry(e); err != nil {
			return fmt.Errorf("risk: seed: list entry %s %s %q: %w", e.List, e.Kind, e.Value, err)
		}
	}
	for _, l := range p.Limits {
		if err := validLimits(l); err != nil {
			return fmt.Errorf("risk: seed: limits of %q: %w", l.PartnerID, err)
		}
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		var v int64
		if err := tx.QueryRowContext(ctx, `SELECT version FROM risk_policy_version WHERE id = 1`).Scan(&v); err != nil {
			return err
		}
		if v != 0 {
			return nil
		}
		if haveRules {
			if _, err := tx.ExecContext(ctx, `INSERT INTO risk_rule_sets (version, rules, actor, create_time) VALUES ($1, $2, $3, $4)`,
				p.Rules.Version, string(body), actor, now); err != nil {
				return err
			}
		}
		for _, e := range p.Lists {
			e.Actor, e.UpdateTime = actor, now
			if err := putEntryTx(ctx, tx, e); err != nil {
				return err
			}
		}
		for _, l := range p.Limits {
			l.Actor, l.UpdateTime = actor, now
			if err := putLimitsTx(ctx, tx, l); err != nil {
				return err
			}
		}
		_, err := bumpPolicy(ctx, tx, now, actor, "seed", fmt.Sprintf("rule set %d: %d rules; %d list entries; %d limits",
			p.Rules.Version, len(p.Rules.Rules), len(p.Lists), len(p.Limits)))
		return err
	})
	if err != nil {
		return fmt.Errorf("risk: seed: %w", err)
	}
	return nil
}
