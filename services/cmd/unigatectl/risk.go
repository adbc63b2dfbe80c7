package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/risk"
	"github.com/unigate/unigate/services/risk/rules"
)

// RuleFile is a rule set as operators keep it: docs/risk.md.
type RuleFile struct {
	Version int64        `json:"version"`
	Rules   []rules.Rule `json:"rules"`
}

// usageError is a command line the command cannot run: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// riskCmd runs `risk rules|lists|limits|model|decisions|cases …`.
func riskCmd(ctx context.Context, g globals, noun string, args []string, out io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub = args[0]
	}
	rest := args
	if sub != "" {
		rest = args[1:]
	}
	switch noun + " " + sub {
	case "rules check":
		return riskRulesCheck(rest, out)
	case "rules get":
		return riskRulesGet(ctx, g, rest, out)
	case "rules put":
		return riskRulesPut(ctx, g, rest, out)
	case "lists ":
		return riskLists(ctx, g, rest, out)
	case "lists put":
		return riskListsPut(ctx, g, rest, out)
	case "lists delete":
		return riskListsDelete(ctx, g, rest, out)
	case "limits ":
		return riskLimits(ctx, g, rest, out)
	case "limits put":
		return riskLimitsPut(ctx, g, rest, out)
	case "model ":
		return riskModel(ctx, g, rest, out)
	case "model put":
		return riskModelPut(ctx, g, rest, out)
	case "decisions ":
		return riskDecisions(ctx, g, rest, out)
	case "decisions get":
		return riskDecisionGet(ctx, g, rest, out)
	case "cases ":
		return riskCases(ctx, g, rest, out)
	case "cases get":
		return riskCaseGet(ctx, g, rest, out)
	case "cases assign":
		return riskCaseAssign(ctx, g, rest, out)
	case "cases resolve":
		return riskCaseResolve(ctx, g, rest, out)
	case "labels ":
		return riskLabels(ctx, g, rest, out)
	}
	return usageError{fmt.Sprintf("unknown command \"risk %s\": want rules get|put|check, lists [put|delete], "+
		"limits [put], model [put], decisions [get], cases [get|assign|resolve], labels", strings.TrimSpace(noun+" "+sub))}
}

// parseRiskFlags parses args, flags before or after the positional
// arguments, and checks -o and the number of positional arguments.
func parseRiskFlags(fs *flag.FlagSet, args []string, o *string, nargs int, use string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return fmt.Errorf("%w (usage: %s)", err, use)
	}
	if o != nil {
		if err := checkOutput(*o); err != nil {
			return err
		}
	}
	if fs.NArg() != nargs {
		return errors.New("usage: " + use)
	}
	return nil
}

// reorderFlags puts flags before positional arguments, knowing from fs
// which flags take no value.
func reorderFlags(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					continue
				}
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

func (g globals) riskAdmin() (risk.AdminClient, func(), error) {
	conn, err := g.dial(g.risk)
	if err != nil {
		return risk.AdminClient{}, nil, err
	}
	return risk.AdminClient{C: riskv1.NewRiskAdminServiceClient(conn)}, func() { conn.Close() }, nil
}

func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- rules ---

// readRuleFile reads a rule file, refusing fields it does not know.
func readRuleFile(path string) (RuleFile, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return RuleFile{}, err
	}
	var f RuleFile
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(&f)
	if err == nil {
		return f, nil
	}
	// What `risk rules get -o json` prints (the API's RuleSet: the version
	// a string, who put it and when) is a rule file too.
	var rs riskv1.RuleSet
	if protojson.Unmarshal(body, &rs) != nil {
		return RuleFile{}, fmt.Errorf("%s: %w", path, err)
	}
	f = RuleFile{Version: rs.GetVersion()}
	for _, r := range rs.GetRules() {
		f.Rules = append(f.Rules, rules.Rule{ID: r.GetId(), Expr: r.GetExpr(), Action: r.GetAction(), Mode: r.GetMode(),
			Description: r.GetDescription()})
	}
	return f, nil
}

// riskRulesCheck compiles a rule file as the risk service would and prints
// its rules, or every problem: it exits non-zero if the set would be
// refused.
func riskRulesCheck(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk rules check", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 1, "risk rules check FILE [-o json]"); err != nil {
		return err
	}
	f, err := readRuleFile(fs.Arg(0))
	if err != nil {
		return err
	}
	set, err := rules.Compile(f.Version, f.Rules)
	if err != nil {
		return fmt.Errorf("%s: the risk service would refuse this set and keep the one in force:\n%w", fs.Arg(0), err)
	}
	if *o == "json" {
		b, _ := json.MarshalIndent(map[string]any{"version": set.Version, "rules": set.Rules, "ok": true}, "", "  ")
		_, err := fmt.Fprintln(out, string(b))
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "set version %d: %d rules compile\n", set.Version, len(set.Rules))
	fmt.Fprintln(tw, "RULE\tVERSION\tACTION\tMODE\tEXPRESSION")
	for _, r := range set.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.ID, r.Version, r.Action, r.Mode, r.Expr)
	}
	return tw.Flush()
}

func ruleSetTable(out io.Writer, rs *riskv1.RuleSet) error {
	if rs.GetVersion() == 0 {
		_, err := fmt.Fprintln(out, "no rule set in force")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "rule set %d in force: %d rules, put by %s at %s\n", rs.GetVersion(), len(rs.GetRules()), rs.GetActor(), when(rs.GetUpdateTime()))
	fmt.Fprintln(tw, "RULE\tACTION\tMODE\tEXPRESSION\tDESCRIPTION")
	for _, r := range rs.GetRules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.GetId(), r.GetAction(), r.GetMode(), r.GetExpr(), r.GetDescription())
	}
	return tw.Flush()
}

// riskRulesGet prints the rule set in force.
func riskRulesGet(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk rules get", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 0, "risk rules get [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	rs, err := c.GetRules(ctx, &riskv1.GetRulesRequest{})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, rs)
	}
	return ruleSetTable(out, rs)
}

// riskRulesPut puts a rule file in force on every replica. A refused set
// names every problem (rule_set.rules[N].FIELD) and the set in force
// stays.
func riskRulesPut(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk rules put", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 1, "risk rules put FILE [-o json]"); err != nil {
		return err
	}
	f, err := readRuleFile(fs.Arg(0))
	if err != nil {
		return err
	}
	req := &riskv1.PutRulesRequest{RuleSet: &riskv1.RuleSet{Version: f.Version}}
	for _, r := range f.Rules {
		req.RuleSet.Rules = append(req.RuleSet.Rules, &riskv1.Rule{Id: r.ID, Expr: r.Expr, Action: r.Action, Mode: r.Mode, Description: r.Description})
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	rs, err := c.PutRules(ctx, req)
	if err != nil {
		return withRowErrors(err)
	}
	if *o == "json" {
		return printProto(out, rs)
	}
	return ruleSetTable(out, rs)
}

// --- lists ---

func listTable(out io.Writer, es []*riskv1.ListEntry) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIST\tKIND\tVALUE\tNOTE\tBY\tUPDATED")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.GetList(), e.GetKind(), e.GetValue(), orDash(e.GetNote()), e.GetActor(), when(e.GetUpdateTime()))
	}
	return tw.Flush()
}

// riskLists prints list entries, of one list or kind if asked.
func riskLists(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk lists", flag.ContinueOnError)
	o := outputFlag(fs)
	list := fs.String("list", "", "only this list: block, allow or suspend")
	kind := fs.String("kind", "", "only this kind: user, device, merchant, mcc or partner")
	if err := parseRiskFlags(fs, args, o, 0, "risk lists [--list L] [--kind K] [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.ListListEntries(ctx, &riskv1.ListListEntriesRequest{List: *list, Kind: *kind})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return listTable(out, resp.GetEntries())
}

// riskListsPut adds a value to a list, or replaces its note.
func riskListsPut(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk lists put", flag.ContinueOnError)
	o := outputFlag(fs)
	note := fs.String("note", "", "why (shown with the entry)")
	if err := parseRiskFlags(fs, args, o, 3, "risk lists put LIST KIND VALUE [--note TEXT] [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	e, err := c.PutListEntry(ctx, &riskv1.PutListEntryRequest{Entry: &riskv1.ListEntry{
		List: fs.Arg(0), Kind: fs.Arg(1), Value: fs.Arg(2), Note: *note}})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, e)
	}
	return listTable(out, []*riskv1.ListEntry{e})
}

// riskListsDelete removes a value from a list.
func riskListsDelete(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk lists delete", flag.ContinueOnError)
	if err := parseRiskFlags(fs, args, nil, 3, "risk lists delete LIST KIND VALUE"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	if _, err := c.DeleteListEntry(ctx, &riskv1.DeleteListEntryRequest{List: fs.Arg(0), Kind: fs.Arg(1), Value: fs.Arg(2)}); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s %s %s is not on the list (any more)\n", fs.Arg(1), fs.Arg(2), fs.Arg(0))
	return err
}

// --- limits ---

// limit formats a limit in minor units of cur as major units ("-": none).
func fmtLimit(cur string, minor int64) string {
	if minor == 0 {
		return "-"
	}
	return money.Amount{Currency: cur, Minor: minor}.Major()
}

func limitsTable(out io.Writer, ls []*riskv1.Limits) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tCURRENCY\tPER PAYMENT\tUSER PER PAYMENT\tUSER DAILY\tUSER MONTHLY\tMERCHANT DAILY\tMERCHANT MONTHLY\t"+
		"PARTNER DAILY\tPARTNER MONTHLY\tBY\tUPDATED")
	for _, l := range ls {
		c := l.GetCurrency()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.GetPartnerId(), c, fmtLimit(c, l.GetPerPayment()),
			fmtLimit(c, l.GetUserPerPayment()), fmtLimit(c, l.GetUserDaily()), fmtLimit(c, l.GetUserMonthly()), fmtLimit(c, l.GetMerchantDaily()),
			fmtLimit(c, l.GetMerchantMonthly()), fmtLimit(c, l.GetPartnerDaily()), fmtLimit(c, l.GetPartnerMonthly()), l.GetActor(),
			when(l.GetUpdateTime()))
	}
	return tw.Flush()
}

// riskLimits prints every partner's limits, in major units ("-": none).
func riskLimits(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk limits", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 0, "risk limits [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.ListLimits(ctx, &riskv1.ListLimitsRequest{})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return limitsTable(out, resp.GetLimits())
}

// riskLimitsPut sets a partner's limits ("*": every partner without its
// own). The limits given are minor units; those not given keep their
// value if the partner's limits are in the same currency, and are 0 (no
// limit) otherwise.
func riskLimitsPut(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk limits put", flag.ContinueOnError)
	o := outputFlag(fs)
	currency := fs.String("currency", "", "ISO 4217 currency of the limits (required)")
	var l riskv1.Limits
	fields := map[string]*int64{
		"per-payment": &l.PerPayment, "user-per-payment": &l.UserPerPayment, "user-daily": &l.UserDaily,
		"user-monthly": &l.UserMonthly, "merchant-daily": &l.MerchantDaily, "partner-daily": &l.PartnerDaily,
		"merchant-monthly": &l.MerchantMonthly, "partner-monthly": &l.PartnerMonthly,
	}
	given := map[string]*int64{}
	for name := range fields {
		given[name] = fs.Int64(name, 0, "limit in minor units (0: none)")
	}
	use := "risk limits put PARTNER --currency C [--per-payment N] [--user-per-payment N] [--user-daily N] " +
		"[--user-monthly N] [--merchant-daily N] [--merchant-monthly N] [--partner-daily N] [--partner-monthly N] [-o json]"
	if err := parseRiskFlags(fs, args, o, 1, use); err != nil {
		return err
	}
	if *currency == "" {
		return errors.New("--currency is required (usage: " + use + ")")
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	cur, err := c.ListLimits(ctx, &riskv1.ListLimitsRequest{})
	if err != nil {
		return err
	}
	for _, x := range cur.GetLimits() {
		if x.GetPartnerId() == fs.Arg(0) && x.GetCurrency() == *currency {
			l.PerPayment, l.UserPerPayment, l.UserDaily = x.GetPerPayment(), x.GetUserPerPayment(), x.GetUserDaily()
			l.UserMonthly, l.MerchantDaily, l.PartnerDaily = x.GetUserMonthly(), x.GetMerchantDaily(), x.GetPartnerDaily()
			l.MerchantMonthly, l.PartnerMonthly = x.GetMerchantMonthly(), x.GetPartnerMonthly()
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if p, ok := fields[f.Name]; ok {
			*p = *given[f.Name]
		}
	})
	l.PartnerId, l.Currency = fs.Arg(0), *currency
	resp, err := c.PutLimits(ctx, &riskv1.PutLimitsRequest{Limits: &l})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return limitsTable(out, []*riskv1.Limits{resp})
}

// --- model ---

// maxModelFile is the largest model file `risk model put` sends: what one
// gRPC message carries by default.
const maxModelFile = 4 << 20

func modelTable(out io.Writer, m *riskv1.ModelInfo) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tXGBOOST\tTREES\tBYTES\tNOTE\tBY\tUPDATED")
	size := "-"
	if m.GetSizeBytes() > 0 {
		size = fmt.Sprint(m.GetSizeBytes())
	}
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.GetModelId(), orDash(m.GetXgboostVersion()), m.GetTrees(), size,
		orDash(m.GetNote()), orDash(m.GetActor()), when(m.GetUpdateTime()))
	return tw.Flush()
}

// riskModel describes the model in force: the newest put, or the one
// committed with the code.
func riskModel(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk model", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 0, "risk model [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	m, err := c.GetModel(ctx, &riskv1.GetModelRequest{})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, m)
	}
	return modelTable(out, m)
}

// riskModelPut stores a model file (XGBoost 1.x JSON, as make train-risk
// writes it) and puts it in force on every replica. A file that does not
// load is refused (RISK_MODEL_INVALID) and the model in force stays.
func riskModelPut(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk model put", flag.ContinueOnError)
	o := outputFlag(fs)
	note := fs.String("note", "", "what it is: the training run, the data")
	if err := parseRiskFlags(fs, args, o, 1, "risk model put FILE [--note TEXT] [-o json]"); err != nil {
		return err
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if len(body) > maxModelFile {
		return fmt.Errorf("%s is %d bytes: the risk API takes a model file of at most %d", fs.Arg(0), len(body), maxModelFile)
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	m, err := c.PutModel(ctx, &riskv1.PutModelRequest{Model: body, Note: *note})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, m)
	}
	if _, err := fmt.Fprintf(out, "model %s in force on every replica within a second\n", m.GetModelId()); err != nil {
		return err
	}
	return modelTable(out, m)
}

// riskLabels writes the payments of resolved cases, labelled, as a CSV in
// the training simulation's format (label first, 1 for fraud, then the
// model's features): make train-risk LABELS=FILE adds them to the
// training set.
func riskLabels(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk labels", flag.ContinueOnError)
	o := outputFlag(fs)
	since := fs.String("since", "", "only cases resolved at or after this time (RFC 3339)")
	if err := parseRiskFlags(fs, args, o, 0, "risk labels [--since RFC3339] [-o json] > labels.csv"); err != nil {
		return err
	}
	req := &riskv1.ExportLabelsRequest{}
	if *since != "" {
		t, err := time.Parse(time.RFC3339Nano, *since)
		if err != nil {
			return usageError{fmt.Sprintf("--since %q: want an RFC 3339 time", *since)}
		}
		req.Since = timestamppb.New(t)
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.ExportLabels(ctx, req)
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	var b strings.Builder
	b.WriteString("label," + strings.Join(resp.GetFeatureNames(), ",") + "\n")
	for _, p := range resp.GetPayments() {
		label := "0"
		if p.GetFraud() {
			label = "1"
		}
		b.WriteString(label)
		for _, f := range p.GetFeatures() {
			b.WriteString("," + strconv.FormatFloat(f, 'g', -1, 64))
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(out, b.String())
	return err
}

// --- decisions ---

func decisionName(d riskv1.Decision) string {
	return strings.ToLower(strings.TrimPrefix(d.String(), "DECISION_"))
}

func reasonIDs(rs []*riskv1.DecisionReason) string {
	var ids []string
	for _, r := range rs {
		id := r.GetRuleId()
		if r.GetShadow() {
			id += "(shadow)"
		}
		ids = append(ids, id)
	}
	return orDash(strings.Join(ids, ","))
}

func decisionTable(out io.Writer, ds []*riskv1.DecisionRecord) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAYMENT\tTIME\tPARTNER\tUSER\tDECISION\tAMOUNT\tSCORE\tRULE\tREASONS")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f%%\t%s\t%s\n", d.GetPaymentId(), when(d.GetCreateTime()), d.GetPartnerId(),
			orDash(d.GetUserRef()), decisionName(d.GetDecision()), major(d.GetMerchantAmount()), float64(d.GetScoreBp())/100,
			orDash(d.GetRuleId()), reasonIDs(d.GetReasons()))
	}
	return tw.Flush()
}

// riskDecisions prints decisions, newest first.
func riskDecisions(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk decisions", flag.ContinueOnError)
	o := outputFlag(fs)
	partner := fs.String("partner", "", "only this partner's")
	user := fs.String("user", "", "only this user's (the partner's user_ref)")
	decision := fs.String("decision", "", "only approve, review or decline")
	limit := fs.Int("limit", 50, "at most this many (at most 1000)")
	before := fs.String("before", "", "only decisions made before this time, RFC 3339 (the next page: the last one's time)")
	if err := parseRiskFlags(fs, args, o, 0, "risk decisions [--partner ID] [--user REF] [--decision approve|review|decline] [--limit N] [--before RFC3339] [-o json]"); err != nil {
		return err
	}
	req := &riskv1.ListDecisionsRequest{PartnerId: *partner, UserRef: *user, PageSize: int32(*limit)}
	switch *decision {
	case "":
	case "approve", "review", "decline":
		req.Decision = riskv1.Decision(riskv1.Decision_value["DECISION_"+strings.ToUpper(*decision)])
	default:
		return fmt.Errorf("--decision %q: want approve, review or decline", *decision)
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("--limit %d: want 1 to 1000", *limit)
	}
	if *before != "" {
		t, err := time.Parse(time.RFC3339Nano, *before)
		if err != nil {
			return fmt.Errorf("--before: %w", err)
		}
		req.Before = timestamppb.New(t)
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.ListDecisions(ctx, req)
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return decisionTable(out, resp.GetDecisions())
}

// riskDecisionGet prints one payment's decision with every reason.
func riskDecisionGet(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk decisions get", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 1, "risk decisions get PAYMENT_ID [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	d, err := c.GetDecision(ctx, &riskv1.GetDecisionRequest{PaymentId: fs.Arg(0)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, d)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	mode := strings.TrimPrefix(d.GetMode().String(), "PAYMENT_MODE_")
	for _, kv := range [][2]string{
		{"payment", d.GetPaymentId()}, {"time", when(d.GetCreateTime())}, {"decision", decisionName(d.GetDecision())},
		{"reason", orDash(d.GetReason())}, {"rule", orDash(d.GetRuleId())}, {"message", orDash(d.GetMessage())},
		{"partner", d.GetPartnerId()}, {"user", orDash(d.GetUserRef())}, {"device", orDash(d.GetDeviceRef())},
		{"merchant", orDash(d.GetMerchant())}, {"amount", major(d.GetMerchantAmount())},
		{"mode", mode}, {"score", fmt.Sprintf("%.2f%%", float64(d.GetScoreBp())/100)},
		{"rules version", fmt.Sprint(d.GetRulesVersion())}, {"model", orDash(d.GetModelVersion())}, {"released", fmt.Sprint(d.GetReleased())},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.GetReasons()) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tACTION\tSHADOW\tDETAIL")
	for _, r := range d.GetReasons() {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.GetRuleId(), orDash(r.GetAction()), r.GetShadow(), r.GetDetail())
	}
	return tw.Flush()
}

// --- cases ---

func caseTable(out io.Writer, cs []*riskv1.Case) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tPAYMENT\tPARTNER\tUSER\tSCORE\tSTATE\tASSIGNEE\tLABEL\tOPENED\tREASONS")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f%%\t%s\t%s\t%s\t%s\t%s\n", c.GetCaseId(), c.GetPaymentId(), c.GetPartnerId(), orDash(c.GetUserRef()),
			float64(c.GetScoreBp())/100, c.GetState(), orDash(c.GetAssignee()), orDash(c.GetLabel()), when(c.GetCreateTime()),
			orDash(strings.Join(c.GetReasons(), "; ")))
	}
	return tw.Flush()
}

// caseDetail prints a case and its history.
func caseDetail(out io.Writer, c *riskv1.Case) error {
	if err := caseTable(out, []*riskv1.Case{c}); err != nil {
		return err
	}
	if c.GetResolution() != "" {
		fmt.Fprintf(out, "resolution: %s: %s\n", c.GetLabel(), c.GetResolution())
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tBY\tACTION\tDETAIL")
	for _, e := range c.GetEvents() {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.GetSeq(), when(e.GetEventTime()), e.GetActor(), e.GetAction(), orDash(e.GetDetail()))
	}
	return tw.Flush()
}

// riskCases prints review cases, oldest first.
func riskCases(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk cases", flag.ContinueOnError)
	o := outputFlag(fs)
	state := fs.String("state", "", "only OPEN, ASSIGNED or RESOLVED cases")
	assignee := fs.String("assignee", "", "only this analyst's")
	limit := fs.Int("limit", 50, "at most this many (at most 1000)")
	if err := parseRiskFlags(fs, args, o, 0, "risk cases [--state OPEN|ASSIGNED|RESOLVED] [--assignee A] [--limit N] [-o json]"); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("--limit %d: want 1 to 1000", *limit)
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.ListCases(ctx, &riskv1.ListCasesRequest{State: strings.ToUpper(*state), Assignee: *assignee, PageSize: int32(*limit)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return caseTable(out, resp.GetCases())
}

// riskCaseGet prints a case with its history.
func riskCaseGet(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk cases get", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 1, "risk cases get CASE_ID [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.GetCase(ctx, &riskv1.GetCaseRequest{CaseId: fs.Arg(0)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return caseDetail(out, resp)
}

// riskCaseAssign gives a case to an analyst.
func riskCaseAssign(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk cases assign", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := parseRiskFlags(fs, args, o, 2, "risk cases assign CASE_ID ANALYST [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.AssignCase(ctx, &riskv1.AssignCaseRequest{CaseId: fs.Arg(0), Assignee: fs.Arg(1)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return caseDetail(out, resp)
}

// riskCaseResolve labels a case; a fraud with --block blocks its user and
// device on every replica.
func riskCaseResolve(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk cases resolve", flag.ContinueOnError)
	o := outputFlag(fs)
	label := fs.String("label", "", "FRAUD or LEGITIMATE (required)")
	note := fs.String("note", "", "what was found (required)")
	block := fs.Bool("block", false, "a confirmed fraud: put the case's user and device on the block list")
	if err := parseRiskFlags(fs, args, o, 1, "risk cases resolve CASE_ID --label FRAUD|LEGITIMATE --note TEXT [--block] [-o json]"); err != nil {
		return err
	}
	c, done, err := g.riskAdmin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := c.ResolveCase(ctx, &riskv1.ResolveCaseRequest{CaseId: fs.Arg(0), Label: strings.ToUpper(*label), Note: *note, Block: *block})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	if err := caseDetail(out, resp); err != nil {
		return err
	}
	if *block {
		var blocked []string
		for _, kv := range [][2]string{{"user", resp.GetUserRef()}, {"device", resp.GetDeviceRef()}} {
			if kv[1] != "" && resp.GetPartnerId() != "" {
				blocked = append(blocked, kv[0]+" "+resp.GetPartnerId()+"/"+kv[1])
			}
		}
		_, err = fmt.Fprintf(out, "blocked: %s\n", orDash(strings.Join(blocked, ", ")))
	}
	return err
}
