package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/sqlstore"
)

// errAuditBroken fails `audit verify` (exit 1) once the break is printed.
var errAuditBroken = errors.New("audit log verification failed")

// dsnFlag gives cmd --dsn, defaulting to UNIGATE_DSN.
func dsnFlag(cmd *cobra.Command, what string) *string {
	return cmd.Flags().String("dsn", env("UNIGATE_DSN", ""), what+": postgres://… or sqlite:///path (UNIGATE_DSN; required)")
}

// openDSN opens the SQL back end of --dsn, which is required.
func openDSN(cmd *cobra.Command, dsn string) (*sqlstore.DB, error) {
	if dsn == "" {
		return nil, required(cmd, "dsn")
	}
	return sqlstore.Open(cmd.Context(), dsn)
}

// newAuditCmd is `audit verify|list`, run against the SQL back end
// directly: the log is read, never written.
func newAuditCmd() *cobra.Command {
	verify := &cobra.Command{
		Use:   "verify --dsn DSN",
		Short: "recompute the audit log's hash chain",
		Long: `Recompute the audit log's hash chain over the database and print
"audit log intact: N entries", or the first broken entry and exit 1.`,
		Example: "  unigatectl audit verify --dsn postgres://…",
		Args:    noArgs,
	}
	vdsn := dsnFlag(verify, "SQL back end holding the audit log")
	verify.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openDSN(cmd, *vdsn)
		if err != nil {
			return err
		}
		defer db.Close()
		return auditVerify(cmd.Context(), db, cmd.OutOrStdout())
	}
	list := &cobra.Command{
		Use:   "list --dsn DSN [--after SEQ] [--limit N]",
		Short: "the linked audit entries in order",
		Long: `Print the audit log's linked entries in chain order, after a sequence: a
table, or with -o json one JSON object per line (every field, hashes
included), or a YAML list.`,
		Example: "  unigatectl audit list --dsn postgres://… --after 100 --limit 20 -o json",
		Args:    noArgs,
	}
	ldsn := dsnFlag(list, "SQL back end holding the audit log")
	after := list.Flags().Int64("after", 0, "entries after this sequence")
	limit := list.Flags().Int("limit", 100, "at most this many entries")
	o := addOutput(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openDSN(cmd, *ldsn)
		if err != nil {
			return err
		}
		defer db.Close()
		return auditList(cmd.Context(), db, *after, *limit, o, cmd.OutOrStdout())
	}
	return group("audit", "verify and read the audit log", `Verify the audit log's hash chain and read its entries, straight from the
SQL back end that holds it (--dsn): the log is read, never written.`, verify, list)
}

func auditVerify(ctx context.Context, db *sqlstore.DB, out io.Writer) error {
	r, err := audit.Verify(ctx, db)
	if err != nil {
		return err
	}
	if r.FirstBroken != 0 {
		if _, err := fmt.Fprintf(out, "audit log broken at entry %d: %s\n", r.FirstBroken, r.Reason); err != nil {
			return err
		}
		return errAuditBroken
	}
	_, err = fmt.Fprintf(out, "audit log intact: %d entries\n", r.Entries)
	return err
}

func auditList(ctx context.Context, db *sqlstore.DB, after int64, limit int, o *output, out io.Writer) error {
	entries, err := audit.List(ctx, db, after, limit)
	if err != nil {
		return err
	}
	switch o.v {
	case "json":
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	case "yaml":
		return o.printValue(out, entries, nil)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tSUBJECT\tOUTCOME\tTRACE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, whenTime(e.Time), e.Actor, e.Action, e.Subject, e.Outcome, orDash(e.TraceID))
	}
	return tw.Flush()
}
