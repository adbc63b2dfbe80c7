package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
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

func newRiskCmd(g *globals) *cobra.Command {
	lists := newRiskListsCmd(g)
	lists.AddCommand(newRiskListsPutCmd(g), newRiskListsDeleteCmd(g))
	limits := newRiskLimitsCmd(g)
	limits.AddCommand(newRiskLimitsPutCmd(g))
	model := newRiskModelCmd(g)
	model.AddCommand(newRiskModelPutCmd(g))
	decisions := newRiskDecisionsCmd(g)
	decisions.AddCommand(newRiskDecisionGetCmd(g))
	cases := newRiskCasesCmd(g)
	cases.AddCommand(newRiskCaseGetCmd(g), newRiskCaseAssignCmd(g), newRiskCaseResolveCmd(g))
	return group("risk", "risk rules, lists, limits, model, decisions and cases", `Manage the risk service through its admin API (--risk): the rule set, the
block/allow/suspend lists, the limits and the model in force on every
replica; read its decisions; work the analysts' review cases (docs/risk.md,
docs/risk-operations.md). Reads are open to every operator; changes need
the operator role.`, newRiskRulesCmd(g), lists, limits, model, decisions, cases, newRiskLabelsCmd(g))
}

func newRiskRulesCmd(g *globals) *cobra.Command {
	return group("rules", "the risk rule set: check, get, put", `Check a rule file locally, read the rule set in force, or put one in force on
every risk replica (operators).`, newRiskRulesCheckCmd(g), newRiskRulesGetCmd(g), newRiskRulesPutCmd(g))
}

// newRulesCmd is risk rules under its own name.
func newRulesCmd(g *globals) *cobra.Command {
	cmd := newRiskRulesCmd(g)
	cmd.Short += " (risk rules)"
	return cmd
}

func (g globals) riskAdmin() (risk.AdminClient, func(), error) {
	conn, err := g.dial(g.risk)
	if err != nil {
		return risk.AdminClient{}, nil, err
	}
	return risk.AdminClient{C: riskv1.NewRiskAdminServiceClient(conn)}, func() { conn.Close() }, nil
}

// riskCall calls the risk admin API as the operator, then prints the
// answer (callPrint).
func riskCall[Req, Resp proto.Message](cmd *cobra.Command, g *globals, o *output,
	call func(risk.AdminClient, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req,
	table func(io.Writer, Resp) error) error {
	return callPrint(cmd, o, g.riskAdmin, call, req, table)
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
func newRiskRulesCheckCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "compile a rule file as the risk service would",
		Long: `Compile a rule file (docs/risk.md) locally, as the risk service would, and
list its rules; or name every problem and exit 1 if the set would be
refused. What risk rules get -o json prints is a rule file too.`,
		Example: `  unigatectl risk rules check rules.json`,
		Args:    exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		out := cmd.OutOrStdout()
		f, err := readRuleFile(args[0])
		if err != nil {
			return err
		}
		set, err := rules.Compile(f.Version, f.Rules)
		if err != nil {
			return fmt.Errorf("%s: the risk service would refuse this set and keep the one in force:\n%w", args[0], err)
		}
		if !o.table() {
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
	return cmd
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
func newRiskRulesGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "the rule set in force",
		Long: `Print the rule set in force: its version, who put it and when, its rules.
-o json prints it as a rule file that rules check and rules put take.`,
		Example: `  unigatectl risk rules get
  unigatectl risk rules get -o json > rules.json`,
		Args: noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return riskCall(cmd, g, o, risk.AdminClient.GetRules, &riskv1.GetRulesRequest{}, ruleSetTable)
	}
	return cmd
}

// riskRulesPut puts a rule file in force on every replica. A refused set
// names every problem (rule_set.rules[N].FIELD) and the set in force
// stays.
func newRiskRulesPutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put FILE",
		Short: "put a rule file in force on every replica (operators)",
		Long: `Put a rule file in force on every risk replica within a second (operator
role). A refused set names every problem (rule_set.rules[N].FIELD) and the
set in force stays. The version must be above the one in force.`,
		Example: `  unigatectl risk rules put rules.json`,
		Args:    exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		f, err := readRuleFile(args[0])
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
		if !o.table() {
			return printProtoAs(out, o.v, rs)
		}
		return ruleSetTable(out, rs)
	}
	return cmd
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
func newRiskListsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lists [--list L] [--kind K]",
		Short: "block, allow and suspend list entries",
		Long: `Print the entries of the block, allow and suspend lists, of one list or
kind if asked. put and delete change them (operator role).`,
		Example: `  unigatectl risk lists --list block
  unigatectl risk lists --kind mcc -o json`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	list := fs.String("list", "", "only this list: block, allow or suspend")
	kind := fs.String("kind", "", "only this kind: user, device, merchant, mcc or partner")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return riskCall(cmd, g, o, risk.AdminClient.ListListEntries, &riskv1.ListListEntriesRequest{List: *list, Kind: *kind}, func(w io.Writer, resp *riskv1.ListListEntriesResponse) error { return listTable(w, resp.GetEntries()) })
	}
	return cmd
}

// riskListsPut adds a value to a list, or replaces its note.
func newRiskListsPutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put LIST KIND VALUE [--note TEXT]",
		Short: "add a value to a list, or replace its note (operators)",
		Long: `Add a value to a list (block, allow or suspend), or replace its note. KIND
is user or device (the value PARTNER/REF), merchant (NETWORK/ID), mcc (four
digits) or partner.`,
		Example: `  unigatectl risk lists put block device hipay/DEVICE_REF --note "stolen phone"
  unigatectl risk lists put suspend partner zalopay --note "partner incident"`,
		Args: exactArgs(3),
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	note := fs.String("note", "", "why (shown with the entry)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		c, done, err := g.riskAdmin()
		if err != nil {
			return err
		}
		defer done()
		e, err := c.PutListEntry(ctx, &riskv1.PutListEntryRequest{Entry: &riskv1.ListEntry{
			List: args[0], Kind: args[1], Value: args[2], Note: *note}})
		if err != nil {
			return err
		}
		if !o.table() {
			return printProtoAs(out, o.v, e)
		}
		return listTable(out, []*riskv1.ListEntry{e})
	}
	return cmd
}

// riskListsDelete removes a value from a list.
func newRiskListsDeleteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete LIST KIND VALUE",
		Short:   "remove a value from a list (operators)",
		Example: `  unigatectl risk lists delete block device hipay/DEVICE_REF`,
		Args:    exactArgs(3),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		c, done, err := g.riskAdmin()
		if err != nil {
			return err
		}
		defer done()
		if _, err := c.DeleteListEntry(ctx, &riskv1.DeleteListEntryRequest{List: args[0], Kind: args[1], Value: args[2]}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s %s %s is not on the list (any more)\n", args[1], args[2], args[0])
		return err
	}
	return cmd
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
func newRiskLimitsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "limits",
		Short: "every partner's limits, in major units",
		Long: `Print every partner's limits ("*": the default for partners without their
own), in major units of their currency; "-" is no limit.`,
		Example: `  unigatectl risk limits`,
		Args:    noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return riskCall(cmd, g, o, risk.AdminClient.ListLimits, &riskv1.ListLimitsRequest{}, func(w io.Writer, resp *riskv1.ListLimitsResponse) error { return limitsTable(w, resp.GetLimits()) })
	}
	return cmd
}

// riskLimitsPut sets a partner's limits ("*": every partner without its
// own). The limits given are minor units; those not given keep their
// value if the partner's limits are in the same currency, and are 0 (no
// limit) otherwise.
func newRiskLimitsPutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put PARTNER --currency C [--per-payment N] [--user-daily N] …",
		Short: "set a partner's (or \"*\") limits (operators)",
		Long: `Set a partner's (or "*": every partner without its own) limits, in minor
units of --currency; 0 is no limit. Limits not given keep their value when
the currency stays the same, and are 0 otherwise.`,
		Example: `  unigatectl risk limits put '*' --currency CNY --per-payment 5000000 --user-daily 5000000
  unigatectl risk limits put hipay --currency CNY --merchant-monthly 500000000`,
		Args: exactArgs(1),
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
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
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		if *currency == "" {
			return required(cmd, "currency")
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
			if x.GetPartnerId() == args[0] && x.GetCurrency() == *currency {
				l.PerPayment, l.UserPerPayment, l.UserDaily = x.GetPerPayment(), x.GetUserPerPayment(), x.GetUserDaily()
				l.UserMonthly, l.MerchantDaily, l.PartnerDaily = x.GetUserMonthly(), x.GetMerchantDaily(), x.GetPartnerDaily()
				l.MerchantMonthly, l.PartnerMonthly = x.GetMerchantMonthly(), x.GetPartnerMonthly()
			}
		}
		fs.Visit(func(f *pflag.Flag) {
			if p, ok := fields[f.Name]; ok {
				*p = *given[f.Name]
			}
		})
		l.PartnerId, l.Currency = args[0], *currency
		resp, err := c.PutLimits(ctx, &riskv1.PutLimitsRequest{Limits: &l})
		if err != nil {
			return err
		}
		if !o.table() {
			return printProtoAs(out, o.v, resp)
		}
		return limitsTable(out, []*riskv1.Limits{resp})
	}
	return cmd
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
func newRiskModelCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "the model in force",
		Long: `Print the model in force: its id, XGBoost version, trees, size, note, who put
it and when (or the one committed with the code).`,
		Example: `  unigatectl risk model`,
		Args:    noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return riskCall(cmd, g, o, risk.AdminClient.GetModel, &riskv1.GetModelRequest{}, modelTable)
	}
	return cmd
}

// riskModelPut stores a model file (XGBoost 1.x JSON, as make train-risk
// writes it) and puts it in force on every replica. A file that does not
// load is refused (RISK_MODEL_INVALID) and the model in force stays.
func newRiskModelPutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put FILE [--note TEXT]",
		Short: "put a model in force on every replica (operators)",
		Long: `Store a model file (XGBoost JSON, as make train-risk writes it) and put it in
force on every replica within a second (operator role). A file that does
not load is refused (RISK_MODEL_INVALID) and the model in force stays.`,
		Example: `  unigatectl risk model put model.json --note "retrained with labels to 2026-12"`,
		Args:    exactArgs(1),
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	note := fs.String("note", "", "what it is: the training run, the data")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		body, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		if len(body) > maxModelFile {
			return fmt.Errorf("%s is %d bytes: the risk API takes a model file of at most %d", args[0], len(body), maxModelFile)
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
		if !o.table() {
			return printProtoAs(out, o.v, m)
		}
		if _, err := fmt.Fprintf(out, "model %s in force on every replica within a second\n", m.GetModelId()); err != nil {
			return err
		}
		return modelTable(out, m)
	}
	return cmd
}

// riskLabels writes the payments of resolved cases, labelled, as a CSV in
// the training simulation's format (label first, 1 for fraud, then the
// model's features): make train-risk LABELS=FILE adds them to the
// training set.
func newRiskLabelsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labels [--since RFC3339]",
		Short: "resolved cases' payments, labelled, as training rows",
		Long: `Write the payments of resolved cases as CSV training rows: the label (1
fraud, 0 legitimate), then the model's features. make train-risk
LABELS=FILE adds them to the training set.`,
		Example: `  unigatectl risk labels --since 2026-12-01T00:00:00Z > labels.csv`,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	since := fs.String("since", "", "only cases resolved at or after this time (RFC 3339)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
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
		if !o.table() {
			return printProtoAs(out, o.v, resp)
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
	return cmd
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
func newRiskDecisionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decisions [--partner ID] [--user REF] [--decision D] [--limit 50] [--before RFC3339]",
		Short: "risk decisions, newest first",
		Long: `Print risk decisions, newest first, filtered by partner, user or outcome.
The next page: --before the last one's time.`,
		Example: `  unigatectl risk decisions --partner hipay --user USER_REF --limit 20`,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	partner := fs.String("partner", "", "only this partner's")
	user := fs.String("user", "", "only this user's (the partner's user_ref)")
	decision := fs.String("decision", "", "only approve, review or decline")
	limit := fs.Int("limit", 50, "at most this many (at most 1000)")
	before := fs.String("before", "", "only decisions made before this time, RFC 3339 (the next page: the last one's time)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
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
		return riskCall(cmd, g, o, risk.AdminClient.ListDecisions, req, func(w io.Writer, resp *riskv1.ListDecisionsResponse) error {
			return decisionTable(w, resp.GetDecisions())
		})
	}
	return cmd
}

// riskDecisionGet prints one payment's decision with every reason.
func newRiskDecisionGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get PAYMENT_ID",
		Short:   "one payment's decision with every reason",
		Example: `  unigatectl risk decisions get PAYMENT_ID`,
		Args:    exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		c, done, err := g.riskAdmin()
		if err != nil {
			return err
		}
		defer done()
		d, err := c.GetDecision(ctx, &riskv1.GetDecisionRequest{PaymentId: args[0]})
		if err != nil {
			return err
		}
		if !o.table() {
			return printProtoAs(out, o.v, d)
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
	return cmd
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
func newRiskCasesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "cases [--state S] [--assignee A] [--limit 50]",
		Short:   "review cases, oldest first",
		Example: `  unigatectl risk cases --state OPEN`,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	state := fs.String("state", "", "only OPEN, ASSIGNED or RESOLVED cases")
	assignee := fs.String("assignee", "", "only this analyst's")
	limit := fs.Int("limit", 50, "at most this many (at most 1000)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *limit < 1 || *limit > 1000 {
			return fmt.Errorf("--limit %d: want 1 to 1000", *limit)
		}
		return riskCall(cmd, g, o, risk.AdminClient.ListCases, &riskv1.ListCasesRequest{State: strings.ToUpper(*state), Assignee: *assignee, PageSize: int32(*limit)}, func(w io.Writer, resp *riskv1.ListCasesResponse) error { return caseTable(w, resp.GetCases()) })
	}
	return cmd
}

// riskCaseGet prints a case with its history.
func newRiskCaseGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get CASE_ID",
		Short:   "a case with its history",
		Example: `  unigatectl risk cases get CASE_ID`,
		Args:    exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return riskCall(cmd, g, o, risk.AdminClient.GetCase, &riskv1.GetCaseRequest{CaseId: args[0]}, caseDetail)
	}
	return cmd
}

// riskCaseAssign gives a case to an analyst.
func newRiskCaseAssignCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "assign CASE_ID ANALYST",
		Short:   "give a case to an analyst (operators)",
		Example: `  unigatectl risk cases assign CASE_ID analyst:mei`,
		Args:    exactArgs(2),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return riskCall(cmd, g, o, risk.AdminClient.AssignCase, &riskv1.AssignCaseRequest{CaseId: args[0], Assignee: args[1]}, caseDetail)
	}
	return cmd
}

// riskCaseResolve labels a case; a fraud with --block blocks its user and
// device on every replica.
func newRiskCaseResolveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resolve CASE_ID --label FRAUD|LEGITIMATE --note TEXT [--block]",
		Short: "label a case, final (operators)",
		Long: `Resolve a case with its label, final (operator role). --block puts a
fraud's user and device on the block list of every replica.`,
		Example: `  unigatectl risk cases resolve CASE_ID --label FRAUD --note "stolen wallet" --block`,
		Args:    exactArgs(1),
	}
	fs := cmd.Flags()
	o := addOutput(cmd)
	label := fs.String("label", "", "FRAUD or LEGITIMATE (required)")
	note := fs.String("note", "", "what was found (required)")
	block := fs.Bool("block", false, "a confirmed fraud: put the case's user and device on the block list")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		c, done, err := g.riskAdmin()
		if err != nil {
			return err
		}
		defer done()
		resp, err := c.ResolveCase(ctx, &riskv1.ResolveCaseRequest{CaseId: args[0], Label: strings.ToUpper(*label), Note: *note, Block: *block})
		if err != nil {
			return err
		}
		if !o.table() {
			return printProtoAs(out, o.v, resp)
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
	return cmd
}
