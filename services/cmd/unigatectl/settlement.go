package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
)

// settlementCmd runs `settlement cycles|close|statement|reconcile|breaks|resolve`.
func settlementCmd(ctx context.Context, g globals, sub string, args []string, out io.Writer) error {
	switch sub {
	case "cycles":
		return cyclesList(ctx, g, args, out)
	case "close":
		return settlementClose(ctx, g, args, out)
	case "statement", "statements":
		if len(reorderedPositional(args)) == 0 {
			return settlementStatements(ctx, g, args, out)
		}
		return statementFile(ctx, g, args, out)
	case "network-statements":
		return settlementNetworkStatements(ctx, g, args, out)
	case "reconcile":
		return settlementReconcile(ctx, g, args, out)
	case "breaks":
		return settlementBreaks(ctx, g, args, out)
	case "resolve":
		return settlementResolve(ctx, g, args, out)
	}
	return fmt.Errorf("unknown command \"settlement %s\": want cycles, close, statement, network-statements, reconcile, breaks or resolve", sub)
}

// reorderedPositional returns the positional arguments of args.
func reorderedPositional(args []string) []string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("dir", "", "")
	fs.String("o", "", "")
	fs.Int64("after", 0, "")
	if err := fs.Parse(reorder(args)); err != nil {
		return nil
	}
	return fs.Args()
}

func major(m *commonv1.Money) string {
	return money.Amount{Currency: m.GetCurrency(), Minor: m.GetMinorUnits()}.String()
}

// settlementClose closes the cycle at a cutoff and prints its statements.
func settlementClose(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settlement close", flag.ContinueOnError)
	o := outputFlag(fs)
	cutoff := fs.String("cutoff", "", "the cutoff, RFC 3339 (default now)")
	partner := fs.String("partner", "", "close only this partner's cycle (default: every partner's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	at := time.Now()
	if *cutoff != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, *cutoff); err != nil {
			return fmt.Errorf("--cutoff: %w", err)
		}
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.New(at), PartnerId: *partner})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
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

// settlementNetworkStatements lists network statements, newest first.
func settlementNetworkStatements(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settlement network-statements", flag.ContinueOnError)
	o := outputFlag(fs)
	network := fs.String("network", "", "only this network's")
	limit := fs.Int("limit", 20, "at most this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ListNetworkStatements(ctx, &settlementv1.ListNetworkStatementsRequest{
		NetworkId: *network, Limit: int32(*limit)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return networkStatementTable(out, resp.GetNetworkStatements())
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
func settlementStatements(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settlement statement", flag.ContinueOnError)
	o := outputFlag(fs)
	after := fs.Int64("after", 0, "list statements after this sequence")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ListStatements(ctx, &settlementv1.ListStatementsRequest{AfterSequence: *after})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return statementTable(out, resp.GetStatements())
}

// settlementReconcile sends a counterparty's file for a statement and
// prints the run and its breaks; a file with bad rows prints each.
func settlementReconcile(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settlement reconcile", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: settlement reconcile STATEMENT_ID FILE [-o json]")
	}
	file, err := os.ReadFile(fs.Arg(1))
	if err != nil {
		return err
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).Reconcile(ctx, &settlementv1.ReconcileRequest{
		StatementId: fs.Arg(0), FileName: filepath.Base(fs.Arg(1)), File: file})
	if err != nil {
		return withRowErrors(err)
	}
	if *o == "json" {
		return printProto(out, resp)
	}
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

// settlementBreaks lists reconciliation breaks, open ones unless --all.
func settlementBreaks(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settlement breaks", flag.ContinueOnError)
	o := outputFlag(fs)
	statement := fs.String("statement", "", "only this statement's breaks")
	all := fs.Bool("all", false, "resolved breaks too")
	limit := fs.Int("limit", 100, "at most this many breaks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ListBreaks(ctx, &settlementv1.ListBreaksRequest{
		StatementId: *statement, All: *all, Limit: int32(*limit)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return breakTable(out, resp.GetBreaks())
}

// settlementResolve resolves a break with a reason.
func settlementResolve(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("settlement resolve", flag.ContinueOnError)
	o := outputFlag(fs)
	reason := fs.String("reason", "", "why the break needs no further action (required)")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: settlement resolve BREAK_ID --reason TEXT [-o json]")
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ResolveBreak(ctx, &settlementv1.ResolveBreakRequest{
		BreakId: fs.Arg(0), Reason: *reason})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	return breakTable(out, []*settlementv1.Break{resp.GetBreak()})
}
