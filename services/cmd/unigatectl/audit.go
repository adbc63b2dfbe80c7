package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/sqlstore"
)

// errAuditBroken fails `audit verify` (exit 1) once the break is printed.
var errAuditBroken = errors.New("audit log verification failed")

// auditCmd runs `audit verify` and `audit list` against the SQL back end
// directly: the log is read, never written.
//
//	audit verify --dsn DSN                         "audit log intact: N entries", or exit 1
//	audit list --dsn DSN [--after SEQ] [--limit N] linked entries as JSON lines
func auditCmd(ctx context.Context, sub string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	dsn := fs.String("dsn", env("UNIGATE_DSN", ""), "SQL back end holding the audit log: postgres://… or sqlite:///path (or UNIGATE_DSN)")
	after := fs.Int64("after", 0, "list: entries after this sequence")
	limit := fs.Int("limit", 100, "list: at most this many entries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	listOnly := false
	fs.Visit(func(f *flag.Flag) { listOnly = listOnly || f.Name == "after" || f.Name == "limit" })
	switch {
	case *dsn == "":
		return errors.New("--dsn is required")
	case fs.NArg() != 0:
		return fmt.Errorf("audit %s: unexpected arguments %q", sub, fs.Args())
	case sub == "verify" && listOnly:
		return errors.New("audit verify: --after and --limit are for audit list")
	}
	db, err := sqlstore.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "verify" {
		return auditVerify(ctx, db, out)
	}
	return auditList(ctx, db, *after, *limit, out)
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

func auditList(ctx context.Context, db *sqlstore.DB, after int64, limit int, out io.Writer) error {
	entries, err := audit.List(ctx, db, after, limit)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}
