package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
)

func newSettlementCmd(g *globals) *cobra.Command {
	statement := newSettlementStatementCmd(g)
	statement.Aliases = []string{"statements"}
	return group("settlement", "settlement cycles, statements and reconciliation", `Close settlement cycles and read their statements (what each partner owes,
what Unigate owes each network), download statement files, reconcile a
counterparty's file with a statement and work its breaks.`,
		newCyclesListCmd(g, "cycles"), newSettlementCloseCmd(g, "close", "table"), statement, newNetworkStatementsCmd(g),
		newReconcileCmd(g), newBreaksCmd(g), newResolveCmd(g))
}

// newCyclesCmd is `cycles list|close`, the earlier names of settlement
// cycles and settlement close (close prints JSON unless told otherwise).
func newCyclesCmd(g *globals) *cobra.Command {
	return group("cycles", "closed settlement cycles (settlement cycles|close)", `The earlier names of settlement cycles (list) and settlement close (close,
which prints JSON by default).`, newCyclesListCmd(g, "list"), newSettlementCloseCmd(g, "close", "json"))
}

// newStatementsCmd is `statements list|file`, the earlier names of
// settlement statement (list prints JSON unless told otherwise).
func newStatementsCmd(g *globals) *cobra.Command {
	list := &cobra.Command{
		Use:     "list [--after SEQUENCE]",
		Short:   "settlement statements in order (JSON by default)",
		Example: "  unigatectl statements list --after 10",
		Args:    noArgs,
	}
	after := list.Flags().Int64("after", 0, "list statements after this sequence")
	lo := addOutputOf(list, "json", "table", "json", "yaml")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return settlementStatements(cmd.Context(), *g, *after, lo, cmd.OutOrStdout())
	}
	file := &cobra.Command{
		Use:     "file STATEMENT_ID [--dir DIR]",
		Short:   "download a statement's CSV file and its checksum",
		Example: "  unigatectl statements file STATEMENT_ID --dir statements/",
		Args:    exactArgs(1),
	}
	dir := file.Flags().String("dir", ".", "directory to write the file and its checksum into")
	_ = file.MarkFlagDirname("dir")
	file.RunE = func(cmd *cobra.Command, args []string) error {
		return statementFile(cmd.Context(), *g, args[0], *dir, cmd.OutOrStdout())
	}
	return group("statements", "settlement statements (settlement statement)", `The earlier names of settlement statement: list (JSON by default) and file.`, list, file)
}

func newSettlementStatementCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "statement [STATEMENT_ID] [--after SEQUENCE] [--dir DIR]",
		Short: "list statements, or download one's CSV file",
		Long: `Without an id, list the settlement statements in the order they were made
(after --after). With a statement's (or network statement's) id, download
its CSV file into --dir: one row per payment, refund, cancel and fee, a
trailer with counts and the total, and NAME.sha256 beside it (sha256sum's
format). Only a complete file whose checksum matches the server's is kept.`,
		Example: `  unigatectl settlement statement
  unigatectl settlement statement STATEMENT_ID --dir statements/`,
		Args: checkArgs(cobra.MaximumNArgs(1)),
	}
	after := cmd.Flags().Int64("after", 0, "list statements after this sequence")
	dir := cmd.Flags().String("dir", ".", "directory to write the file and its checksum into")
	_ = cmd.MarkFlagDirname("dir")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return settlementStatements(cmd.Context(), *g, *after, o, cmd.OutOrStdout())
		}
		return statementFile(cmd.Context(), *g, args[0], *dir, cmd.OutOrStdout())
	}
	return cmd
}

func newSettlementCloseCmd(g *globals, use, def string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use + " [--cutoff RFC3339] [--partner ID]",
		Short: "close a settlement cycle now (operators)",
		Long: `Close the settlement cycle of one partner, or of every partner, at a cutoff
(default now): every posting made before it and not yet in a cycle joins
it; print the cycle, its statements (what each partner owes) and network
statements (what Unigate owes each network). Closing the same cutoff again
returns the same cycle.`,
		Example: `  unigatectl settlement close
  unigatectl settlement close --partner hipay --cutoff 2026-12-03T10:00:00Z -o json`,
		Args: noArgs,
	}
	cutoff := cmd.Flags().String("cutoff", "", "the cutoff, RFC 3339 (default now)")
	partner := cmd.Flags().String("partner", "", "close only this partner's cycle (default: every partner's)")
	o := addOutputOf(cmd, def, "table", "json", "yaml")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		at := time.Now()
		if *cutoff != "" {
			var err error
			if at, err = time.Parse(time.RFC3339Nano, *cutoff); err != nil {
				return usageError{"--cutoff: " + err.Error()}
			}
		}
		return settlementClose(cmd.Context(), *g, at, *partner, o, cmd.OutOrStdout())
	}
	return cmd
}

func newNetworkStatementsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network-statements [--network ID] [--limit 20]",
		Short: "what Unigate owes each network, per cycle, newest first",
		Long: `List network statements, newest first: per cycle, merchant network and
currency, the gross of the payments less refunds and cancels, the network's
fee, and what Unigate owes. settlement statement ID downloads one's file.`,
		Example: "  unigatectl settlement network-statements --network cnsim",
		Args:    noArgs,
	}
	network := cmd.Flags().String("network", "", "only this network's")
	limit := cmd.Flags().Int("limit", 20, "at most this many")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		conn, err := g.dial(g.settlement)
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := settlementv1.NewSettlementServiceClient(conn).ListNetworkStatements(cmd.Context(), &settlementv1.ListNetworkStatementsRequest{
			NetworkId: *network, Limit: int32(*limit)})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error { return networkStatementTable(out, resp.GetNetworkStatements()) })
	}
	return cmd
}

func newReconcileCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile STATEMENT_ID FILE",
		Short: "compare a counterparty's file with a statement (operators)",
		Long: `Send a counterparty's own file of one statement's movements and compare it
with the statement row by row: matched, mismatched, missing in Unigate or
at the counterparty. Each break stays open until a later run no longer
finds it or an operator resolves it. A file with bad rows imports nothing
and each bad row is named (rows[LINE].COLUMN).`,
		Example: "  unigatectl settlement reconcile STATEMENT_ID their-file.csv",
		Args:    exactArgs(2),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return settlementReconcile(cmd.Context(), *g, args[0], args[1], o, cmd.OutOrStdout())
	}
	return cmd
}

func newBreaksCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "breaks [--statement ID] [--all]",
		Short:   "reconciliation breaks, open ones unless --all",
		Example: "  unigatectl settlement breaks --statement STATEMENT_ID -o json",
		Args:    noArgs,
	}
	statement := cmd.Flags().String("statement", "", "only this statement's breaks")
	all := cmd.Flags().Bool("all", false, "resolved breaks too")
	limit := cmd.Flags().Int("limit", 100, "at most this many breaks")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		conn, err := g.dial(g.settlement)
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := settlementv1.NewSettlementServiceClient(conn).ListBreaks(cmd.Context(), &settlementv1.ListBreaksRequest{
			StatementId: *statement, All: *all, Limit: int32(*limit)})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error { return breakTable(out, resp.GetBreaks()) })
	}
	return cmd
}

func newResolveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "resolve BREAK_ID --reason TEXT",
		Short:   "close a break with the reason it needs no further action (operators)",
		Example: `  unigatectl settlement resolve BREAK_ID --reason "their test payment"`,
		Args:    exactArgs(1),
	}
	reason := cmd.Flags().String("reason", "", "why the break needs no further action (required)")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *reason == "" {
			return required(cmd, "reason")
		}
		conn, err := g.dial(g.settlement)
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := settlementv1.NewSettlementServiceClient(conn).ResolveBreak(cmd.Context(), &settlementv1.ResolveBreakRequest{
			BreakId: args[0], Reason: *reason})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error { return breakTable(out, []*settlementv1.Break{resp.GetBreak()}) })
	}
	return cmd
}

func major(m *commonv1.Money) string {
	return money.Amount{Currency: m.GetCurrency(), Minor: m.GetMinorUnits()}.String()
}

func minor(currency string, units int64) string {
	return money.Amount{Currency: currency, Minor: units}.Major()
}

// settlementClose closes the cycle at a cutoff and prints its statements.
func settlementClose(ctx context.Context, g globals, at time.Time, partner string, o *output, out io.Writer) error {
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.New(at), PartnerId: partner})
	if err != nil {
		return err
	}
	return o.print(out, resp, func() error {
		c := resp.GetCycle()
		of := "every partner"
		if c.GetPartnerId() != "" {
			of = c.GetPartnerId()
		}
		fmt.Fprintf(out, "cycle %s of %s: cutoff %s, closed %s, %d postings\n", c.GetCycleId(), of,
			c.GetCutoff().AsTime().Format(time.RFC3339Nano), c.GetCloseTime().AsTime().Format(time.RFC3339), c.GetPostings())
		if err := statementTable(out, resp.GetStatements()); err != nil {
			return err
		}
		return networkStatementTable(out, resp.GetNetworkStatements())
	})
}

func networkStatementTable(out io.Writer, ns []*settlementv1.NetworkStatement) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK STATEMENT\tNETWORK\tGROSS\tFEE\tOWED\tPOSTINGS")
	for _, n := range ns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", n.GetStatementId(), n.GetNetworkId(), major(n.GetGross()), major(n.GetFee()),
			major(n.GetNetPayable()), n.GetPostings())
	}
	return tw.Flush()
}

func statementTable(out io.Writer, sts []*settlementv1.Statement) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATEMENT\tSEQ\tPARTNER\tGROSS\tFEE\tNET\tPOSTINGS")
	for _, st := range sts {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\n", st.GetStatementId(), st.GetSequence(), st.GetPartnerId(),
			major(st.GetGross()), major(st.GetFee()), major(st.GetNetReceivable()), st.GetPostings())
	}
	return tw.Flush()
}

// settlementStatements lists statements in order.
func settlementStatements(ctx context.Context, g globals, after int64, o *output, out io.Writer) error {
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ListStatements(ctx, &settlementv1.ListStatementsRequest{AfterSequence: after})
	if err != nil {
		return err
	}
	return o.print(out, resp, func() error { return statementTable(out, resp.GetStatements()) })
}

// settlementReconcile sends a counterparty's file for a statement and
// prints the run and its breaks; a file with bad rows prints each.
func settlementReconcile(ctx context.Context, g globals, statementID, path string, o *output, out io.Writer) error {
	file, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).Reconcile(ctx, &settlementv1.ReconcileRequest{
		StatementId: statementID, FileName: filepath.Base(path), File: file})
	if err != nil {
		return withRowErrors(err)
	}
	return o.print(out, resp, func() error {
		r := resp.GetRun()
		replay := ""
		if resp.GetReplayed() {
			replay = " (this file was reconciled before: its first report)"
		}
		fmt.Fprintf(out, "run %s of %s on %s%s\n", r.GetRunId(), r.GetFileName(), r.GetStatementId(), replay)
		fmt.Fprintf(out, "rows %d: matched %d, mismatched %d, missing in Unigate %d, missing at the counterparty %d; earlier breaks cleared %d\n",
			r.GetRows(), r.GetMatched(), r.GetMismatched(), r.GetMissingInUnigate(), r.GetMissingAtCounterparty(), r.GetCleared())
		if len(resp.GetBreaks()) == 0 {
			return nil
		}
		return breakTable(out, resp.GetBreaks())
	})
}

// withRowErrors adds each row violation of a rejected file to err.
func withRowErrors(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var b strings.Builder
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fmt.Fprintf(&b, "\n  %s: %s", v.GetField(), v.GetDescription())
			}
		}
	}
	if b.Len() == 0 {
		return err
	}
	return fmt.Errorf("%w%s", err, b.String())
}

func breakTable(out io.Writer, bs []*settlementv1.Break) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BREAK\tKIND\tPAYMENT\tREVERSAL\tLINE\tSTATE\tDETAIL")
	for _, b := range bs {
		state := "open"
		if b.GetResolveTime() != nil {
			state = "resolved by " + b.GetResolvedBy() + ": " + b.GetResolution()
		}
		line := "-"
		if b.GetLine() > 0 {
			line = fmt.Sprint(b.GetLine())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.GetBreakId(), strings.TrimPrefix(b.GetKind().String(), "BREAK_KIND_"),
			b.GetPaymentId(), b.GetReversalId(), line, state, b.GetDetail())
	}
	return tw.Flush()
}
