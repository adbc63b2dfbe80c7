package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
)

func newLedgerVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify --dsn DSN [--cycle ID]",
		Short: "prove the books over the databases",
		Long: `Prove the books over the database holding the acquirer's and the ledger's
tables (app.VerifyLedger): postings balance, no money is created or lost,
statements are their cycles' sums, every movement is posted once and in a
cycle. Prints each violation and exits 1 if there is one. --cycle proves one
closed cycle only.`,
		Example: "  unigatectl ledger verify --dsn postgres://…\n  unigatectl ledger verify --dsn postgres://… --cycle CYCLE_ID -o json",
		Args:    noArgs,
	}
	dsn := dsnFlag(cmd, "the database holding the acquirer's and the ledger's tables")
	cycle := cmd.Flags().String("cycle", "", "prove only this closed cycle (its postings, statements and movements)")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openDSN(cmd, *dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		return ledgerVerify(cmd.Context(), db, *cycle, o, cmd.OutOrStdout())
	}
	return cmd
}

// ledgerVerify proves the books over the database (app.VerifyLedger) and
// names every violation; it fails if there is one.
func ledgerVerify(ctx context.Context, db *sqlstore.DB, cycle string, o *output, out io.Writer) error {
	verify := app.VerifyLedger
	if cycle != "" {
		verify = func(ctx context.Context, db *sqlstore.DB) ([]app.Violation, error) {
			return app.VerifyCycle(ctx, db, cycle)
		}
	}
	vs, err := verify(ctx, db)
	if err != nil {
		return err
	}
	var postings, cycles, statements int64
	for _, c := range []struct {
		n     *int64
		table string
	}{{&postings, "ledger_postings"}, {&cycles, "settlement_cycles"}, {&statements, "settlement_statements"}} {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table).Scan(c.n); err != nil {
			return err
		}
	}
	type row struct{ Invariant, Detail string }
	rows := make([]row, len(vs))
	for i, v := range vs {
		rows[i] = row{v.Invariant, v.Detail}
	}
	doc := map[string]any{"postings": postings, "cycles": cycles, "statements": statements, "violations": rows}
	err = o.printValue(out, doc, func() error {
		for _, v := range vs {
			fmt.Fprintln(out, v)
		}
		_, err := fmt.Fprintf(out, "ledger verify: %d postings, %d cycles, %d statements; %d violations\n", postings, cycles, statements, len(vs))
		return err
	})
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		return fmt.Errorf("ledger verify: %d violations", len(vs))
	}
	return nil
}
