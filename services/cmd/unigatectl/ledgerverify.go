package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
)

// ledgerVerify proves the books over the database (app.VerifyLedger) and
// names every violation; it fails if there is one.
func ledgerVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	dsn := fs.String("dsn", env("UNIGATE_DSN", ""), "the database holding the acquirer's and the ledger's tables: postgres://… (or UNIGATE_DSN)")
	cycle := fs.String("cycle", "", "prove only this closed cycle (its postings, statements and movements)")
	o := outputFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("--dsn is required")
	}
	db, err := sqlstore.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	verify := app.VerifyLedger
	if *cycle != "" {
		verify = func(ctx context.Context, db *sqlstore.DB) ([]app.Violation, error) {
			return app.VerifyCycle(ctx, db, *cycle)
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
	if *o == "json" {
		type row struct{ Invariant, Detail string }
		rows := make([]row, len(vs))
		for i, v := range vs {
			rows[i] = row{v.Invariant, v.Detail}
		}
		b, err := json.MarshalIndent(map[string]any{"postings": postings, "cycles": cycles, "statements": statements, "violations": rows}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
	} else {
		for _, v := range vs {
			fmt.Fprintln(out, v)
		}
		fmt.Fprintf(out, "ledger verify: %d postings, %d cycles, %d statements; %d violations\n", postings, cycles, statements, len(vs))
	}
	if len(vs) > 0 {
		return fmt.Errorf("ledger verify: %d violations", len(vs))
	}
	return nil
}
