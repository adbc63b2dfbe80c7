package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/pki"
)

// globals are the flags every command has: where the services are and
// who the operator is.
type globals struct {
	acquirer, router, fx, risk, settlement string
	etcd                                   string
	pki, operator                          string
	timeout                                time.Duration
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envDuration is the duration in the environment variable key, or def.
func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return d
	}
	return def
}

// usageError is a command line the command cannot run: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run runs the command line args, writing what it prints to out, and
// returns the exit status: 0 success, 1 a failed command, 2 bad usage (an
// unknown command or flag, a malformed flag value, the wrong number of
// arguments, a required flag missing).
func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(os.Stderr)
	cancel := func() {}
	defer func() { cancel() }()
	timeout := root.PersistentFlags().Lookup("timeout")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		d, _ := time.ParseDuration(timeout.Value.String())
		var c context.Context
		c, cancel = context.WithTimeout(cmd.Context(), d)
		cmd.SetContext(c)
	}
	err := root.ExecuteContext(ctx)
	var usage usageError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &usage):
		return 2, err
	}
	return 1, err
}

const rootLong = `unigatectl is the operator's tool for the Unigate switch: look payments and
refunds up and follow them through the system, read and change the routing
table (partners, merchant networks, code ranges), read the ledger, close and
reconcile settlement cycles, manage risk rules, lists, limits, cases and the
model, check every service's health and who leads each election.

Every command that prints data prints a table, or JSON or YAML with -o.
Commands reach the services over gRPC as an operator, with the operator's
certificate from --pki (mutual TLS); without --pki they speak plaintext, for
local experiments. Every global flag may also be set in the environment
(UNIGATE_ACQUIRER, …). Exit status: 0 success, 1 a failed command, 2 a
command line that cannot run.`

// newRootCmd returns the whole command tree.
func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "unigatectl",
		Short: "operate the Unigate payment switch",
		Long:  rootLong,
		Example: `  unigatectl --pki .data/pki payments find PARTNER_PAYMENT_ID
  unigatectl payments timeline PAYMENT_ID
  unigatectl partners list -o yaml
  unigatectl health
  unigatectl completion bash > /etc/bash_completion.d/unigatectl`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	setGroup(root)
	pf := root.PersistentFlags()
	pf.StringVar(&g.acquirer, "acquirer", env("UNIGATE_ACQUIRER", "127.0.0.1:7000"), "acquirer address (UNIGATE_ACQUIRER)")
	pf.StringVar(&g.router, "router", env("UNIGATE_ROUTER", "127.0.0.1:7001"), "router address (UNIGATE_ROUTER)")
	pf.StringVar(&g.fx, "fx", env("UNIGATE_FX", "127.0.0.1:7002"), "fx address (UNIGATE_FX)")
	pf.StringVar(&g.risk, "risk", env("UNIGATE_RISK", "127.0.0.1:7003"), "risk address (UNIGATE_RISK)")
	pf.StringVar(&g.settlement, "settlement", env("UNIGATE_SETTLEMENT", "127.0.0.1:7004"), "settlement address (UNIGATE_SETTLEMENT)")
	pf.StringVar(&g.etcd, "etcd", env("UNIGATE_ETCD", "http://127.0.0.1:7006"), "etcd endpoints, comma-separated (UNIGATE_ETCD)")
	pf.DurationVar(&g.timeout, "timeout", envDuration("UNIGATE_TIMEOUT", 10*time.Second), "deadline of the command (UNIGATE_TIMEOUT)")
	pf.StringVar(&g.pki, "pki", env("UNIGATE_PKI", ""), "PKI directory holding operator certificates; empty: plaintext (UNIGATE_PKI)")
	pf.StringVar(&g.operator, "operator", env("UNIGATE_OPERATOR", "admin"), "operator whose certificate to present: viewer, operator or admin (UNIGATE_OPERATOR)")
	_ = root.RegisterFlagCompletionFunc("operator", fixed("viewer", "operator", "admin"))
	_ = root.MarkPersistentFlagDirname("pki")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Sprintf("%v (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(
		newPaymentsCmd(g), newRefundsCmd(g), newRoutesCmd(g), newPartnersCmd(g),
		newLedgerCmd(g), newSettlementCmd(g), newCyclesCmd(g), newStatementsCmd(g),
		newFxCmd(g), newRatesCmd(g), newRiskCmd(g), newRulesCmd(g), newAuditCmd(), newQRCmd(),
		newHealthCmd(g), newLeadersCmd(g), newLeaderCmd(g), newEtcdCmd(g), newCertsCmd(), newTraceCmd(),
	)
	return root
}

// setGroup makes cmd a group of commands: run alone, or with a command it
// does not have, it is a usage error naming its commands (and the likely
// one, for a misspelling).
func setGroup(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		if len(args) == 0 {
			return usageError{fmt.Sprintf("%s needs a command: %s (see %s --help)", c.CommandPath(), strings.Join(names, ", "), c.CommandPath())}
		}
		msg := fmt.Sprintf("unknown command %q for %q: want %s", args[0], c.CommandPath(), strings.Join(names, ", "))
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return usageError{msg}
	}
	return cmd
}

// group returns a group of commands.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := setGroup(&cobra.Command{Use: use, Short: short, Long: long})
	cmd.AddCommand(subs...)
	return cmd
}

// checkArgs wraps cobra's argument checks as usage errors.
func checkArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			if len(c.Commands()) > 0 && len(args) > 0 && strings.HasPrefix(err.Error(), "unknown command") {
				return usageError{err.Error()}
			}
			return usageError{fmt.Sprintf("%v (usage: %s)", err, c.UseLine())}
		}
		return nil
	}
}

func exactArgs(n int) cobra.PositionalArgs { return checkArgs(cobra.ExactArgs(n)) }

var noArgs = checkArgs(cobra.NoArgs)

// required is the usage error of a required flag not given.
func required(c *cobra.Command, flag string) error {
	return usageError{fmt.Sprintf("--%s is required (usage: %s)", flag, c.UseLine())}
}

// fixed completes a flag or argument from a fixed list.
func fixed(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// output is the -o flag: table (or the command's own default), json or
// yaml.
type output struct {
	v       string
	allowed []string
}

var _ pflag.Value = (*output)(nil)

func (o *output) String() string { return o.v }
func (o *output) Type() string   { return "format" }
func (o *output) Set(v string) error {
	for _, a := range o.allowed {
		if v == a {
			o.v = v
			return nil
		}
	}
	return fmt.Errorf("want %s", strings.Join(o.allowed, ", "))
}

// addOutput gives cmd -o, --output: table by default, or json or yaml.
func addOutput(cmd *cobra.Command) *output { return addOutputOf(cmd, "table", "table", "json", "yaml") }

// addOutputOf gives cmd -o with a default and the formats it allows.
func addOutputOf(cmd *cobra.Command, def string, allowed ...string) *output {
	o := &output{v: def, allowed: allowed}
	cmd.Flags().VarP(o, "output", "o", "output format: "+strings.Join(allowed, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", fixed(allowed...))
	return o
}

func (o *output) table() bool { return o.v == "table" }

// print prints m as JSON or YAML, or calls table.
func (o *output) print(out io.Writer, m proto.Message, table func() error) error {
	if o.table() {
		return table()
	}
	return printProtoAs(out, o.v, m)
}

// callPrint dials a client, makes one call with req and prints the answer:
// as JSON or YAML with -o, else through table.
func callPrint[C any, Req, Resp proto.Message](cmd *cobra.Command, o *output, dial func() (C, func(), error),
	call func(C, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req, table func(io.Writer, Resp) error) error {
	c, done, err := dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := call(c, cmd.Context(), req)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	return o.print(out, resp, func() error { return table(out, resp) })
}

// printValue prints v (encoding/json's form) as JSON or YAML, or calls
// table.
func (o *output) printValue(out io.Writer, v any, table func() error) error {
	if o.table() {
		return table()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAs(out, o.v, b)
}

// writeAs writes a JSON document as it is, or as YAML.
func writeAs(out io.Writer, format string, b []byte) error {
	if format == "yaml" {
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	}
	_, err := fmt.Fprintln(out, string(b))
	return err
}

func printProto(out io.Writer, m proto.Message) error { return printProtoAs(out, "json", m) }

// printProtoAs prints m in the API's JSON form, or that as YAML.
func printProtoAs(out io.Writer, format string, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	return writeAs(out, format, b)
}

// protoValue is m in the API's JSON form, to embed in a larger document.
func protoValue(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

// dial connects to one of the switch's services as the operator whose
// certificate the PKI directory holds (--pki, --operator), or in plaintext
// without a PKI.
func (g globals) dial(target string) (*grpc.ClientConn, error) {
	if g.pki == "" {
		return grpcx.Dial(target, 0)
	}
	cfg, err := pki.Dev{Dir: g.pki}.ClientConfig(authn.Operator, g.operator, "unigate")
	if err != nil {
		return nil, fmt.Errorf("operator certificate: %w", err)
	}
	return grpcx.Dial(target, 0, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
}
