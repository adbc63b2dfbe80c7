package settlement

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/sqlstore"
)

const reconRunColumns = `run_id, statement_id, file_name, sha256, row_count, matched, mismatched,
	missing_in_unigate, missing_at_counterparty, cleared, create_time, actor`

func scanReconRun(row interface{ Scan(...any) error }) (ReconRun, error) {
	var r ReconRun
	err := row.Scan(&r.ID, &r.StatementID, &r.FileName, &r.SHA256, &r.Rows, &r.Matched, &r.Mismatched,
		&r.MissingInUnigate, &r.MissingAtCounterparty, &r.Cleared, &r.CreateTime, &r.Actor)
	r.CreateTime = r.CreateTime.UTC()
	return r, err
}

// ReconRun implements ReconStore.
func (s *SQLStore) ReconRun(ctx context.Context, statementID, sha string) (ReconRun, []Break, bool, error) {
	run, breaks, found, err := reconRun(ctx, s.db, statementID, sha)
	if err != nil {
		return ReconRun{}, nil, false, fmt.Errorf("settlement: reconciliation run: %w", err)
	}
	return run, breaks, found, nil
}

func reconRun(ctx context.Context, q sqlstore.Querier, statementID, sha string) (ReconRun, []Break, bool, error) {
	run, err := scanReconRun(q.QueryRowContext(ctx, `SELECT `+reconRunColumns+` FROM recon_runs
		WHERE statement_id = $1 AND sha256 = $2`, statementID, sha))
	if errors.Is(err, sql.ErrNoRows) {
		return ReconRun{}, nil, false, nil
	}
	if err != nil {
		return ReconRun{}, nil, false, err
	}
	breaks, err := runBreaks(ctx, q, run.ID)
	return run, breaks, err == nil, err
}

// runBreaks returns the breaks a run found, as it found them, each with
// its movement's break id and present state.
func runBreaks(ctx context.Context, q sqlstore.Querier, runID string) ([]Break, error) {
	rows, err := q.QueryContext(ctx, `SELECT b.break_id, b.statement_id, r.payment_id, r.reversal_id, r.kind, r.detail, r.line,
		b.first_run_id, b.last_run_id, b.create_time, b.resolve_time, b.resolved_by, b.resolution
		FROM recon_run_breaks r JOIN recon_runs u ON u.run_id = r.run_id
		JOIN recon_breaks b ON b.statement_id = u.statement_id AND b.payment_id = r.payment_id AND b.reversal_id = r.reversal_id
		WHERE r.run_id = $1 ORDER BY r.seq`, runID)
	if err != nil {
		return nil, err
	}
	return scanBreaks(rows)
}

const breakColumns = `break_id, statement_id, payment_id, reversal_id, kind, detail, line,
	first_run_id, last_run_id, create_time, resolve_time, resolved_by, resolution`

func scanBreaks(rows *sql.Rows) ([]Break, error) {
	defer rows.Close()
	var out []Break
	for rows.Next() {
		var (
			b        Break
			resolved sql.NullTime
		)
		if err := rows.Scan(&b.ID, &b.StatementID, &b.PaymentID, &b.ReversalID, &b.Kind, &b.Detail, &b.Line,
			&b.FirstRun, &b.LastRun, &b.CreateTime, &resolved, &b.ResolvedBy, &b.Resolution); err != nil {
			return nil, err
		}
		b.CreateTime = b.CreateTime.UTC()
		if resolved.Valid {
			b.ResolveTime = resolved.Time.UTC()
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// reconBatch is how many breaks one multi-row statement writes.
const reconBatch = 500

// SaveReconRun implements ReconStore in one transaction: the run row (its
// unique statement and checksum make a concurrent same-file run replay
// this one), the run's breaks in multi-row inserts, an upsert of each
// movement's break, the clearing of the statement's other open breaks,
// and the run's audit entry.
func (s *SQLStore) SaveReconRun(ctx context.Context, run ReconRun, breaks []Break) (ReconRun, []Break, bool, error) {
	var (
		out      []Break
		replayed bool
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		out, replayed = nil, false
		run.ID = uuid.NewString()
		var id string
		err := tx.QueryRowContext(ctx, `INSERT INTO recon_runs (`+reconRunColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11)
			ON CONFLICT (statement_id, sha256) DO NOTHING RETURNING run_id`,
			run.ID, run.StatementID, run.FileName, run.SHA256, run.Rows, run.Matched, run.Mismatched,
			run.MissingInUnigate, run.MissingAtCounterparty, run.CreateTime, run.Actor).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			var found bool
			run, out, found, err = reconRun(ctx, tx, run.StatementID, run.SHA256)
			if err == nil && !found {
				err = fmt.Errorf("run of %s %s neither inserted nor found", run.StatementID, run.SHA256)
			}
			replayed = true
			return err
		}
		if err != nil {
			return err
		}
		for start := 0; start < len(breaks); start += reconBatch {
			batch := breaks[start:min(start+reconBatch, len(breaks))]
			if err := insertRunBreaks(ctx, tx, run.ID, start, batch); err != nil {
				return err
			}
			if err := upsertBreaks(ctx, tx, run, batch); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE recon_breaks SET resolve_time = $1, resolved_by = $2, resolution = $3
			WHERE statement_id = $4 AND resolve_time IS NULL AND last_run_id <> $5`,
			run.CreateTime, reconActor, "cleared by run "+run.ID, run.StatementID, run.ID)
		if err != nil {
			return err
		}
		if run.Cleared, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE recon_runs SET cleared = $1 WHERE run_id = $2`, run.Cleared, run.ID); err != nil {
			return err
		}
		if out, err = runBreaks(ctx, tx, run.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, reconEntry(run))
	})
	if err != nil {
		return ReconRun{}, nil, false, fmt.Errorf("settlement: save reconciliation run: %w", err)
	}
	return run, out, replayed, nil
}

func insertRunBreaks(ctx context.Context, tx *sqlstore.Tx, runID string, seq0 int, batch []Break) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO recon_run_breaks (run_id, seq, payment_id, reversal_id, kind, detail, line) VALUES `)
	args := make([]any, 0, 7*len(batch))
	for i, br := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		args = append(args, runID, seq0+i, br.PaymentID, br.ReversalID, br.Kind, br.Detail, br.Line)
	}
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// upsertBreaks opens each movement's break, or refreshes it with this run's
// finding; a break cleared by an earlier run reopens, one an operator
// resolved stays resolved.
func upsertBreaks(ctx context.Context, tx *sqlstore.Tx, run ReconRun, batch []Break) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO recon_breaks (` + breakColumns + `) VALUES `)
	args := make([]any, 0, 11*len(batch))
	for i, br := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, NULL, '', '')",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+8, n+9)
		args = append(args, uuid.NewString(), run.StatementID, br.PaymentID, br.ReversalID, br.Kind, br.Detail, br.Line,
			run.ID, run.CreateTime)
	}
	b.WriteString(` ON CONFLICT (statement_id, payment_id, reversal_id) DO UPDATE SET
		kind = excluded.kind, detail = excluded.detail, line = excluded.line, last_run_id = excluded.last_run_id,
		resolve_time = CASE WHEN recon_breaks.resolved_by = '` + reconActor + `' THEN NULL ELSE recon_breaks.resolve_time END,
		resolution = CASE WHEN recon_breaks.resolved_by = '` + reconActor + `' THEN '' ELSE recon_breaks.resolution END,
		resolved_by = CASE WHEN recon_breaks.resolved_by = '` + reconActor + `' THEN '' ELSE recon_breaks.resolved_by END`)
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// ListBreaks implements ReconStore.
func (s *SQLStore) ListBreaks(ctx context.Context, statementID string, all bool, limit int) ([]Break, error) {
	where := []string{"1 = 1"}
	var args []any
	if statementID != "" {
		args = append(args, statementID)
		where = append(where, fmt.Sprintf("statement_id = $%d", len(args)))
	}
	if !all {
		where = append(where, "resolve_time IS NULL")
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT `+breakColumns+` FROM recon_breaks WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY create_time, statement_id, payment_id, reversal_id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("settlement: list breaks: %w", err)
	}
	out, err := scanBreaks(rows)
	if err != nil {
		return nil, fmt.Errorf("settlement: list breaks: %w", err)
	}
	return out, nil
}

// ResolveBreak implements ReconStore: the update applies only to an open
// break, and the break is read back in the same transaction with the
// resolution's audit entry.
func (s *SQLStore) ResolveBreak(ctx context.Context, id, by, reason string, now time.Time) (Break, error) {
	var b Break
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recon_breaks SET resolve_time = $1, resolved_by = $2, resolution = $3
			WHERE break_id = $4 AND resolve_time IS NULL`, now, by, reason, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+breakColumns+` FROM recon_breaks WHERE break_id = $1`, id)
		if err != nil {
			return err
		}
		bs, err := scanBreaks(rows)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			return ErrBreakNotFound
		}
		b = bs[0]
		if n == 0 {
			return nil
		}
		after, _ := json.Marshal(map[string]string{"statement_id": b.StatementID, "payment_id": b.PaymentID,
			"reversal_id": b.ReversalID, "kind": b.Kind, "resolution": reason})
		return audit.Append(ctx, tx, audit.Entry{Time: now, Actor: by, Action: "reconcile.resolve", Subject: id, Outcome: "ok", After: after})
	})
	if err != nil {
		return Break{}, fmt.Errorf("settlement: resolve break %s: %w", id, err)
	}
	return b, nil
}

// reconEntry is the audit entry of a reconciliation run.
func reconEntry(run ReconRun) audit.Entry {
	after, _ := json.Marshal(map[string]any{"run_id": run.ID, "file_name": run.FileName, "sha256": run.SHA256,
		"rows": run.Rows, "matched": run.Matched, "mismatched": run.Mismatched, "missing_in_unigate": run.MissingInUnigate,
		"missing_at_counterparty": run.MissingAtCounterparty, "cleared": run.Cleared})
	return audit.Entry{Time: run.CreateTime, Actor: run.Actor, Action: "reconcile.run", Subject: run.StatementID, Outcome: "ok", After: after}
}
