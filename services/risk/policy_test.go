package risk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/rules"
)

// fieldViolations returns the field violations an error carries (in
// process or received over gRPC), field -> description.
func fieldViolations(err error) map[string]string {
	var st *status.Status
	var e *rpcerr.Error
	if errors.As(err, &e) {
		st = e.GRPCStatus()
	} else {
		st, _ = status.FromError(err)
	}
	out := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	return out
}

func fieldOf(err error) string {
	var e *rpcerr.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return rpcerr.FromStatus(err).Field
}

func migrated(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	if err := db.Migrate(context.Background(), Migrations); err != nil {
		t.Fatal(err)
	}
}

var goodRules = []rules.Rule{
	{ID: "burst.user", Version: 3, Expr: "user_count_1m >= 5 && amount < 1000", Action: rules.Decline, Mode: rules.Enforce},
	{ID: "night.mcc", Version: 1, Expr: "hour < 5 && mcc == '7995'", Action: rules.Review, Mode: rules.Shadow, Description: "casinos at night"},
}

// TestPolicyRules: a rule set is stored as a new row and is the set in
// force; a set with problems is refused with every problem named by its
// field and the set in force stays; versions only go up; every change
// moves the policy version and is an event, with the injected time.
func TestPolicyRules(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 123456789, time.UTC)
		ps := NewPolicyStore(db, func() time.Time { return now })
		if v, err := ps.Version(ctx); err != nil || v != 0 {
			t.Fatalf("a new store's version: %d %v", v, err)
		}
		if rs, err := ps.Rules(ctx); err != nil || rs.Version != 0 || len(rs.Rules) != 0 {
			t.Fatalf("no rules yet: %+v %v", rs, err)
		}
		rs, err := ps.PutRules(ctx, RuleSet{Version: 7, Rules: goodRules}, "operator:lead")
		if err != nil || rs.Version != 7 || rs.Actor != "operator:lead" || !rs.UpdateTime.Equal(now.Truncate(time.Microsecond)) {
			t.Fatalf("put rules: %+v %v", rs, err)
		}
		got, err := ps.Rules(ctx)
		if err != nil || got.Version != 7 || len(got.Rules) != 2 || got.Rules[1] != goodRules[1] || got.Rules[0].Version != 3 ||
			!got.UpdateTime.Equal(now.Truncate(time.Microsecond)) || got.UpdateTime.Location() != time.UTC {
			t.Fatalf("rules in force: %+v %v", got, err)
		}

		// Every problem, each named by its field; nothing is written.
		now = now.Add(time.Minute)
		_, err = ps.PutRules(ctx, RuleSet{Version: 7, Rules: []rules.Rule{
			{ID: "ok.rule", Expr: "amount > 100", Action: rules.Decline, Mode: rules.Enforce},
			{ID: "unknown", Expr: "card_bin == '4111'", Action: rules.Decline, Mode: rules.Enforce},
			{ID: "Bad ID", Expr: "amount", Action: "block", Mode: "loud"},
			{ID: "ok.rule", Expr: "true", Action: rules.Review, Mode: rules.Shadow},
		}}, "operator:lead")
		if rpcerr.ReasonOf(err) != rpcerr.RiskRulesInvalid {
			t.Fatalf("a bad set: %v", err)
		}
		vs := fieldViolations(err)
		for field, want := range map[string]string{
			"rule_set.version":         "7 is not above 7, the highest stored",
			"rule_set.rules[1].expr":   "undeclared reference to 'card_bin'",
			"rule_set.rules[2].id":     "id must be 1-64",
			"rule_set.rules[2].action": `action "block": want decline or review`,
			"rule_set.rules[2].mode":   `mode "loud": want enforce or shadow`,
			"rule_set.rules[2].expr":   "is int, not a boolean",
			"rule_set.rules[3].id":     `"ok.rule" appears twice`,
		} {
			if !strings.Contains(vs[field], want) {
				t.Errorf("violation of %s = %q, want it to say %q", field, vs[field], want)
			}
		}
		if len(vs) != 7 || !strings.Contains(err.Error(), "rule_set.rules[1].expr") {
			t.Errorf("violations: %v\n%v", vs, err)
		}
		if got, err := ps.Rules(ctx); err != nil || got.Version != 7 || len(got.Rules) != 2 {
			t.Fatalf("the set in force after a refusal: %+v %v", got, err)
		}
		// A good set that is not newer is refused too; a newer one is
		// taken; an empty one (no rules at all) is a set like another.
		if _, err := ps.PutRules(ctx, RuleSet{Version: 6, Rules: goodRules}, "operator:lead"); rpcerr.ReasonOf(err) != rpcerr.RiskRulesInvalid ||
			!strings.Contains(fieldViolations(err)["rule_set.version"], "6 is not above 7") || len(fieldViolations(err)) != 1 {
			t.Fatalf("an older version: %v", err)
		}
		if _, err := ps.PutRules(ctx, RuleSet{Version: 0, Rules: goodRules}, "operator:lead"); rpcerr.ReasonOf(err) != rpcerr.RiskRulesInvalid ||
			fieldViolations(err)["rule_set.version"] != "must be positive" {
			t.Fatalf("version 0: %v", err)
		}
		if v, err := ps.Version(ctx); err != nil || v != 1 {
			t.Fatalf("refusals moved the policy version: %d %v", v, err)
		}
		if _, err := ps.PutRules(ctx, RuleSet{Version: 8}, "operator:mei"); err != nil {
			t.Fatal(err)
		}
		if got, err := ps.Rules(ctx); err != nil || got.Version != 8 || got.Rules == nil || len(got.Rules) != 0 || got.Actor != "operator:mei" {
			t.Fatalf("the empty set in force: %+v %v", got, err)
		}
		// Both sets are kept.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM risk_rule_sets`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("stored sets: %d %v", n, err)
		}
		evs, err := ps.Events(ctx, 0, 10)
		if err != nil || len(evs) != 2 || evs[0].Version != 1 || evs[1].Version != 2 || evs[0].Action != "rules.put" ||
			evs[0].Detail != "rule set 7: 2 rules" || evs[1].Actor != "operator:mei" || !evs[1].Time.Equal(now.Truncate(time.Microsecond)) {
			t.Fatalf("events: %+v %v", evs, err)
		}
	})
}

// TestPolicyLists: list entries are validated (list, kind, which kinds
// are suspended, each kind's value shape) with the field named; putting
// again replaces the note; deleting what is not there moves nothing.
func TestPolicyLists(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		ps := NewPolicyStore(db, func() time.Time { return now })
		for _, e := range []ListEntry{
			{List: ListBlock, Kind: KindUser, Value: "hipay/u-123", Note: "chargebacks"},
			{List: ListBlock, Kind: KindDevice, Value: "hipay/dev:9f8e"},
			{List: ListBlock, Kind: KindMCC, Value: "7995"},
			{List: ListAllow, Kind: KindUser, Value: "zalopay/vip-1"},
			{List: ListSuspend, Kind: KindMerchant, Value: "cnsim/M10001", Note: "investigation"},
			{List: ListSuspend, Kind: KindPartner, Value: "zalopay"},
		} {
			e.Actor = "operator:lead"
			if got, err := ps.PutListEntry(ctx, e); err != nil || got.Value != e.Value || !got.UpdateTime.Equal(now) {
				t.Fatalf("put %+v: %+v %v", e, got, err)
			}
		}
		for _, tc := range []struct {
			e     ListEntry
			field string
		}{
			{ListEntry{List: "deny", Kind: KindUser, Value: "hipay/u1"}, "entry.list"},
			{ListEntry{List: ListBlock, Kind: "card", Value: "4111"}, "entry.kind"},
			{ListEntry{List: ListSuspend, Kind: KindUser, Value: "hipay/u1"}, "entry.kind"},
			{ListEntry{List: ListSuspend, Kind: KindMCC, Value: "7995"}, "entry.kind"},
			{ListEntry{List: ListBlock, Kind: KindUser, Value: ""}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindUser, Value: "u1"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindUser, Value: "hipay/"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindDevice, Value: "hi pay/d1"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindDevice, Value: "hipay/d 1"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindMerchant, Value: "/M1"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindMCC, Value: "59x2"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindMCC, Value: "59123"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindPartner, Value: "hipay/u1"}, "entry.value"},
			{ListEntry{List: ListBlock, Kind: KindPartner, Value: "zalopay", Note: strings.Repeat("x", 1001)}, "entry.note"},
		} {
			if _, err := ps.PutListEntry(ctx, tc.e); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument || fieldOf(err) != tc.field {
				t.Errorf("put %+v: %v, want INVALID_ARGUMENT on %s", tc.e, err, tc.field)
			}
		}
		if v, err := ps.Version(ctx); err != nil || v != 6 {
			t.Fatalf("version after six entries and refusals: %d %v", v, err)
		}
		// Again: the note and the actor change, the entry stays one.
		now = now.Add(time.Hour)
		if _, err := ps.PutListEntry(ctx, ListEntry{List: ListBlock, Kind: KindUser, Value: "hipay/u-123", Note: "confirmed", Actor: "operator:mei"}); err != nil {
			t.Fatal(err)
		}
		es, err := ps.ListEntries(ctx, ListBlock, KindUser)
		if err != nil || len(es) != 1 || es[0].Note != "confirmed" || es[0].Actor != "operator:mei" || !es[0].UpdateTime.Equal(now) {
			t.Fatalf("block user entries: %+v %v", es, err)
		}
		if es, err := ps.ListEntries(ctx, ListSuspend, ""); err != nil || len(es) != 2 || es[0].Kind != KindMerchant || es[1].Value != "zalopay" {
			t.Fatalf("suspensions: %+v %v", es, err)
		}
		if es, err := ps.ListEntries(ctx, "", KindUser); err != nil || len(es) != 2 || es[0].List != ListAllow {
			t.Fatalf("user entries: %+v %v", es, err)
		}
		if _, err := ps.ListEntries(ctx, "nope", ""); fieldOf(err) != "list" {
			t.Fatalf("a filter on an unknown list: %v", err)
		}
		if err := ps.DeleteListEntry(ctx, ListBlock, KindMCC, "7995", "operator:lead"); err != nil {
			t.Fatal(err)
		}
		if err := ps.DeleteListEntry(ctx, ListBlock, KindMCC, "7995", "operator:lead"); err != nil {
			t.Fatalf("deleting what is not there: %v", err)
		}
		if err := ps.DeleteListEntry(ctx, ListBlock, KindMCC, "", "operator:lead"); fieldOf(err) != "value" {
			t.Fatalf("deleting no value: %v", err)
		}
		if err := ps.DeleteListEntry(ctx, "deny", KindMCC, "7995", "operator:lead"); fieldOf(err) != "list" {
			t.Fatalf("deleting from an unknown list: %v", err)
		}
		if v, err := ps.Version(ctx); err != nil || v != 8 {
			t.Fatalf("version after a note change and one real delete: %d %v, want 8", v, err)
		}
		evs, err := ps.Events(ctx, 6, 10)
		if err != nil || len(evs) != 2 || evs[0].Detail != "block user hipay/u-123: confirmed" || evs[1].Action != "list.delete" ||
			evs[1].Detail != "block mcc 7995" {
			t.Fatalf("events: %+v %v", evs, err)
		}
		all, err := ps.ListEntries(ctx, "", "")
		if err != nil || len(all) != 5 {
			t.Fatalf("all entries: %+v %v", all, err)
		}
	})
}

// TestPolicyLimits: limits per partner and the default; currencies are
// ISO 4217, amounts non-negative, the partner an id or "*"; putting again
// replaces them.
func TestPolicyLimits(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		ps := NewPolicyStore(db, func() time.Time { return now })
		if _, err := ps.PutLimits(ctx, PartnerLimits{PartnerID: AllLimits, Currency: "CNY", PerPayment: 5_000_000, UserDaily: 5_000_000, Actor: "operator:lead"}); err != nil {
			t.Fatal(err)
		}
		got, err := ps.PutLimits(ctx, PartnerLimits{PartnerID: "hipay", Currency: "MNT", PerPayment: 1, UserPerPayment: 2, UserDaily: 3,
			UserMonthly: 4, MerchantDaily: 5, PartnerDaily: 6, MerchantMonthly: 7, PartnerMonthly: 8, Actor: "operator:lead"})
		if err != nil || got.MerchantMonthly != 7 || got.PartnerMonthly != 8 {
			t.Fatalf("put hipay's limits: %+v %v", got, err)
		}
		want := PartnerLimits{PartnerID: "hipay", Currency: "MNT", PerPayment: 1, UserPerPayment: 2, UserDaily: 3, UserMonthly: 4,
			MerchantDaily: 5, PartnerDaily: 6, MerchantMonthly: 7, PartnerMonthly: 8, Actor: "operator:lead", UpdateTime: now}
		ls, err := ps.Limits(ctx)
		if err != nil || len(ls) != 2 {
			t.Fatalf("limits: %+v %v", ls, err)
		}
		if l := ls[1]; !l.UpdateTime.Equal(now) || func() bool { l.UpdateTime = now; return l != want }() {
			t.Fatalf("every limit read back: %+v, want %+v", ls[1], want)
		}
		if evs, err := ps.Events(ctx, 1, 1); err != nil || len(evs) != 1 || !strings.HasSuffix(evs[0].Detail,
			"merchant daily 5, partner daily 6, merchant monthly 7, partner monthly 8") {
			t.Fatalf("the limits event: %+v %v", evs, err)
		}
		for _, tc := range []struct {
			l      PartnerLimits
			reason rpcerr.Reason
			field  string
		}{
			{PartnerLimits{PartnerID: "", Currency: "CNY"}, rpcerr.InvalidArgument, "limits.partner_id"},
			{PartnerLimits{PartnerID: "hi pay", Currency: "CNY"}, rpcerr.InvalidArgument, "limits.partner_id"},
			{PartnerLimits{PartnerID: "hipay", Currency: "XXY"}, rpcerr.UnsupportedCurrency, "limits.currency"},
			{PartnerLimits{PartnerID: "hipay", Currency: "cny"}, rpcerr.UnsupportedCurrency, "limits.currency"},
			{PartnerLimits{PartnerID: "hipay", Currency: "CNY", UserMonthly: -1}, rpcerr.InvalidAmount, "limits.user_monthly"},
			{PartnerLimits{PartnerID: "hipay", Currency: "CNY", PartnerDaily: -5}, rpcerr.InvalidAmount, "limits.partner_daily"},
			{PartnerLimits{PartnerID: "hipay", Currency: "CNY", MerchantMonthly: -1}, rpcerr.InvalidAmount, "limits.merchant_monthly"},
			{PartnerLimits{PartnerID: "hipay", Currency: "CNY", PartnerMonthly: money.MaxMinorUnits + 1}, rpcerr.InvalidAmount, "limits.partner_monthly"},
		} {
			_, err := ps.PutLimits(ctx, tc.l)
			if rpcerr.ReasonOf(err) != tc.reason || fieldOf(err) != tc.field || rpcerr.ReasonOf(err).Code() != rpcerr.InvalidArgument.Code() {
				t.Errorf("put %+v: %v, want %s on %s", tc.l, err, tc.reason, tc.field)
			}
		}
		now = now.Add(time.Minute)
		if _, err := ps.PutLimits(ctx, PartnerLimits{PartnerID: "hipay", Currency: "MNT", UserDaily: 10_000_000, Actor: "operator:mei"}); err != nil {
			t.Fatal(err)
		}
		ls, err = ps.Limits(ctx)
		if err != nil || len(ls) != 2 || ls[0].PartnerID != "*" || ls[0].PerPayment != 5_000_000 || ls[1].PartnerID != "hipay" ||
			ls[1].PerPayment != 0 || ls[1].UserDaily != 10_000_000 || ls[1].MerchantMonthly != 0 || ls[1].PartnerMonthly != 0 ||
			ls[1].Actor != "operator:mei" || !ls[1].UpdateTime.Equal(now) {
			t.Fatalf("limits: %+v %v", ls, err)
		}
		if v, err := ps.Version(ctx); err != nil || v != 3 {
			t.Fatalf("version: %d %v", v, err)
		}
	})
}

// TestPolicyLoadAndSeed: Load returns everything as of one version; Seed
// writes the demo policy once, only on a store never configured, as one
// change; concurrent changes each get their own version.
func TestPolicyLoadAndSeed(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		ps := NewPolicyStore(db, func() time.Time { return now })
		p, err := ps.Load(ctx)
		if err != nil || p.Version != 0 || p.Rules.Version != 0 || len(p.Lists) != 0 || len(p.Limits) != 0 {
			t.Fatalf("an empty policy: %+v %v", p, err)
		}
		demo := Policy{
			Rules:  RuleSet{Version: 1, Rules: goodRules},
			Lists:  []ListEntry{{List: ListBlock, Kind: KindMCC, Value: "7995", Note: "gambling"}},
			Limits: []PartnerLimits{{PartnerID: AllLimits, Currency: "CNY", PerPayment: 5_000_000, MerchantMonthly: 90_000_000, PartnerMonthly: 900_000_000}},
		}
		bad := demo
		bad.Lists = []ListEntry{{List: ListBlock, Kind: KindMCC, Value: "79"}}
		if err := ps.Seed(ctx, bad, "service:risk"); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
			t.Fatalf("seeding a bad policy: %v", err)
		}
		if v, err := ps.Version(ctx); err != nil || v != 0 {
			t.Fatalf("a refused seed moved the version: %d %v", v, err)
		}
		if err := ps.Seed(ctx, demo, "service:risk"); err != nil {
			t.Fatalf("seed: %v", err)
		}
		if err := ps.Seed(ctx, Policy{Lists: []ListEntry{{List: ListBlock, Kind: KindMCC, Value: "5993"}}}, "service:risk"); err != nil {
			t.Fatalf("seeding again: %v", err)
		}
		p, err = ps.Load(ctx)
		if err != nil || p.Version != 1 || p.Rules.Version != 1 || len(p.Rules.Rules) != 2 || len(p.Lists) != 1 || p.Lists[0].Actor != "service:risk" ||
			len(p.Limits) != 1 || p.Limits[0].PerPayment != 5_000_000 || p.Limits[0].MerchantMonthly != 90_000_000 ||
			p.Limits[0].PartnerMonthly != 900_000_000 || p.ModelID != "" {
			t.Fatalf("the seeded policy: %+v %v", p, err)
		}

		// Concurrent changes: each its own version and event, none lost.
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := ps.PutListEntry(ctx, ListEntry{List: ListBlock, Kind: KindUser, Value: fmt.Sprintf("hipay/u%d", i), Actor: "operator:lead"})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		p, err = ps.Load(ctx)
		if err != nil || p.Version != 1+n || len(p.Lists) != 1+n {
			t.Fatalf("after concurrent puts: version %d, %d entries, %v", p.Version, len(p.Lists), err)
		}
		evs, err := ps.Events(ctx, 0, 100)
		var details []string
		for i, e := range evs {
			if e.Version != int64(i+1) {
				t.Fatalf("event %d has version %d", i, e.Version)
			}
			details = append(details, e.Detail)
		}
		sort.Strings(details)
		if err != nil || len(evs) != 1+n || evs[0].Action != "seed" || details[0] != "block user hipay/u0" {
			t.Fatalf("events: %+v %v", evs, err)
		}
	})
}

// modelFile reads the committed model's file.
func modelFile(t *testing.T) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("model", "testdata", "model-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestPolicyModels: a file that does not load (truncated, garbage, of
// another schema, empty) is refused with RISK_MODEL_INVALID carrying the
// loader's message, and nothing is written; a good one is stored whole,
// moves the version with an event, and Load names it; the newest is in
// force, and putting an earlier one again makes it the newest again.
func TestPolicyModels(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		migrated(t, db)
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		ps := NewPolicyStore(db, func() time.Time { return now })
		good := modelFile(t)
		m, err := model.Load(bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		if _, found, err := ps.ModelInfo(ctx); err != nil || found {
			t.Fatalf("a model before any was put: %v %v", found, err)
		}

		for name, tc := range map[string]struct {
			body []byte
			says string
		}{
			"truncated":      {good[:len(good)/2], "not XGBoost JSON"},
			"garbage":        {[]byte("\x00\x01binf garbage"), "not XGBoost JSON"},
			"another schema": {[]byte(`{"version": [2, 0, 0], "learner": {}}`), "want a model saved by XGBoost 1.x"},
			"empty":          {nil, "is empty"},
		} {
			_, err := ps.PutModel(ctx, tc.body, "bad", "operator:lead")
			if rpcerr.ReasonOf(err) != rpcerr.RiskModelInvalid || rpcerr.ReasonOf(err).Code() != rpcerr.InvalidArgument.Code() ||
				fieldOf(err) != "model" || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("put a %s model: %v, want RISK_MODEL_INVALID on model saying %q", name, err, tc.says)
			}
		}
		if _, err := ps.PutModel(ctx, good, strings.Repeat("x", 1001), "operator:lead"); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument ||
			fieldOf(err) != "note" {
			t.Errorf("a note too long: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM risk_models`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("refused models stored: %d %v", n, err)
		}
		if p, err := ps.Load(ctx); err != nil || p.Version != 0 || p.ModelID != "" {
			t.Fatalf("the policy after refusals: version %d, model %q, %v", p.Version, p.ModelID, err)
		}

		got, err := ps.PutModel(ctx, good, "trained on sim seed 1", "operator:lead")
		want := StoredModel{ID: m.ID(), XGBoostVersion: m.Version(), Trees: m.Trees(), SizeBytes: int64(len(good)),
			Note: "trained on sim seed 1", Actor: "operator:lead", Seq: 1, UpdateTime: now}
		if err != nil || got != want || !strings.HasPrefix(got.ID, "sha256:") || got.Trees < 1 || !strings.HasPrefix(got.XGBoostVersion, "1.") {
			t.Fatalf("put the model: %+v %v, want %+v", got, err, want)
		}
		info, found, err := ps.ModelInfo(ctx)
		if err != nil || !found || !info.UpdateTime.Equal(now) || func() bool { info.UpdateTime = now; return info != want }() {
			t.Fatalf("model info: %+v %v %v, want %+v", info, found, err, want)
		}
		p, err := ps.Load(ctx)
		if err != nil || p.Version != 1 || p.ModelID != m.ID() {
			t.Fatalf("the policy names the model: version %d, model %q, %v", p.Version, p.ModelID, err)
		}
		if body, err := ps.ModelBytes(ctx, m.ID()); err != nil || !bytes.Equal(body, good) {
			t.Fatalf("the model's bytes: %d bytes, %v", len(body), err)
		}
		if _, err := ps.ModelBytes(ctx, "sha256:000000000000"); !errors.Is(err, ErrModelNotStored) {
			t.Fatalf("the bytes of a model never stored: %v", err)
		}
		evs, err := ps.Events(ctx, 0, 10)
		if err != nil || len(evs) != 1 || evs[0].Action != "model.put" || evs[0].Detail != m.ID()+": trained on sim seed 1" ||
			evs[0].Actor != "operator:lead" {
			t.Fatalf("events: %+v %v", evs, err)
		}

		// Another file (the same trees, other bytes: another id) is the
		// newest; the first put again is the newest again, with its new
		// note, and stays one row.
		now = now.Add(time.Hour)
		other := append(append([]byte{}, good...), '\n')
		m2, err := ps.PutModel(ctx, other, "", "operator:mei")
		if err != nil || m2.ID == m.ID() || m2.Seq != 2 {
			t.Fatalf("put another model: %+v %v", m2, err)
		}
		if p, err := ps.Load(ctx); err != nil || p.Version != 2 || p.ModelID != m2.ID {
			t.Fatalf("the policy after another model: version %d, model %q, %v", p.Version, p.ModelID, err)
		}
		if body, err := ps.ModelBytes(ctx, m.ID()); err != nil || !bytes.Equal(body, good) {
			t.Fatalf("the first model's bytes after another: %d bytes, %v", len(body), err)
		}
		now = now.Add(time.Hour)
		back, err := ps.PutModel(ctx, good, "rolled back", "operator:lead")
		if err != nil || back.ID != m.ID() || back.Seq != 3 || back.Note != "rolled back" {
			t.Fatalf("put the first model again: %+v %v", back, err)
		}
		if p, err := ps.Load(ctx); err != nil || p.Version != 3 || p.ModelID != m.ID() {
			t.Fatalf("the policy after putting the first again: version %d, model %q, %v", p.Version, p.ModelID, err)
		}
		if info, _, err := ps.ModelInfo(ctx); err != nil || info.ID != m.ID() || info.Note != "rolled back" || info.Seq != 3 ||
			!info.UpdateTime.Equal(now) {
			t.Fatalf("model info after putting the first again: %+v %v", info, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM risk_models`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("stored models: %d %v", n, err)
		}
	})
}
