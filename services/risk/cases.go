package risk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
)

// Case states and labels.
const (
	CaseOpen     = "OPEN"
	CaseAssigned = "ASSIGNED"
	CaseResolved = "RESOLVED"
	LabelFraud   = "FRAUD"
	LabelLegit   = "LEGITIMATE"
)

// Case is a payment an analyst reviews.
type Case struct {
	ID, PaymentID, PartnerID, UserRef, DeviceRef, Merchant string
	Reasons                                                []string
	ScoreBP                                                int64 // the model's probability in basis points
	State, Assignee, Label, Resolution                     string
	CreateTime, UpdateTime                                 time.Time
}

// CaseEvent is one step of a case's history.
type CaseEvent struct {
	Seq                   int64 // 1, 2, … in the case
	Time                  time.Time
	Actor, Action, Detail string
}

// Errors of the case queue.
var (
	ErrCaseNotFound = rpcerr.New(rpcerr.CaseNotFound, "case not found")
	ErrCaseResolved = rpcerr.New(rpcerr.CaseResolved, "case is resolved already")
)

// Cases is the case queue in SQL (run Migrations first).
type Cases struct {
	db  *sqlstore.DB
	now func() time.Time
}

// NewCases returns the case queue on db.
func NewCases(db *sqlstore.DB, now func() time.Time) *Cases {
	if now == nil {
		now = time.Now
	}
	return &Cases{db: db, now: now}
}

const caseColumns = `case_id, payment_id, partner_id, user_ref, device_ref, merchant, reasons, score_bp,
	state, assignee, label, resolution, create_time, update_time`

func scanCase(row interface{ Scan(...any) error }) (Case, error) {
	var (
		c       Case
		reasons string
	)
	err := row.Scan(&c.ID, &c.PaymentID, &c.PartnerID, &c.UserRef, &c.DeviceRef, &c.Merchant, &reasons, &c.ScoreBP,
		&c.State, &c.Assignee, &c.Label, &c.Resolution, &c.CreateTime, &c.UpdateTime)
	if reasons != "" {
		c.Reasons = strings.Split(reasons, "\n")
	}
	c.CreateTime, c.UpdateTime = c.CreateTime.UTC(), c.UpdateTime.UTC()
	return c, err
}

// Open opens the case of a payment, or returns the one it has: one case per
// payment, however often it is asked.
func (q *Cases) Open(ctx context.Context, c Case) (Case, error) {
	if c.PaymentID == "" {
		return Case{}, rpcerr.Field(rpcerr.InvalidArgument, "payment_id", "is required")
	}
	if c.ScoreBP < 0 || c.ScoreBP > 10_000 {
		return Case{}, rpcerr.Field(rpcerr.InvalidArgument, "score", "must be 0..10000 basis points")
	}
	now := q.now().UTC().Truncate(time.Microsecond)
	var out Case
	err := q.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		id := uuid.NewString()
		res, err := tx.ExecContext(ctx, `INSERT INTO risk_cases (`+caseColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'OPEN', '', '', '', $9, $9)
			ON CONFLICT (payment_id) DO NOTHING`,
			id, c.PaymentID, c.PartnerID, c.UserRef, c.DeviceRef, c.Merchant, strings.Join(c.Reasons, "\n"), c.ScoreBP, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			if err := addEvent(ctx, tx, id, now, "service:risk", "open", strings.Join(c.Reasons, ", ")); err != nil {
				return err
			}
		}
		out, err = scanCase(tx.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM risk_cases WHERE payment_id = $1`, c.PaymentID))
		return err
	})
	if err != nil {
		return Case{}, fmt.Errorf("risk: open case: %w", err)
	}
	return out, nil
}

func addEvent(ctx context.Context, tx *sqlstore.Tx, caseID string, at time.Time, actor, action, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO risk_case_events (case_id, seq, event_time, actor, action, detail)
		SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM risk_case_events WHERE case_id = $1`,
		caseID, at, actor, action, detail)
	return err
}

// Get returns a case (CASE_NOT_FOUND if there is none).
func (q *Cases) Get(ctx context.Context, id string) (Case, error) {
	c, err := scanCase(q.db.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM risk_cases WHERE case_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Case{}, ErrCaseNotFound
	}
	if err != nil {
		return Case{}, fmt.Errorf("risk: get case: %w", err)
	}
	return c, nil
}

// List returns cases in a state ("" for all), of an assignee ("" for any),
// oldest first.
func (q *Cases) List(ctx context.Context, state, assignee string, limit int) ([]Case, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+caseColumns+` FROM risk_cases
		WHERE ($1 = '' OR state = $1) AND ($2 = '' OR assignee = $2) ORDER BY create_time, case_id LIMIT $3`, state, assignee, limit)
	if err != nil {
		return nil, fmt.Errorf("risk: list cases: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// change applies fn to an unresolved case in one transaction and records
// the event.
func (q *Cases) change(ctx context.Context, id, actor, action, detail string, fn func(ctx context.Context, tx *sqlstore.Tx, c *Case) error) (Case, error) {
	now := q.now().UTC().Truncate(time.Microsecond)
	var out Case
	err := q.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		c, err := scanCase(tx.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM risk_cases WHERE case_id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrCaseNotFound
		}
		if err != nil {
			return err
		}
		if c.State == CaseResolved {
			return ErrCaseResolved
		}
		if err := fn(ctx, tx, &c); err != nil {
			return err
		}
		c.UpdateTime = now
		if _, err := tx.ExecContext(ctx, `UPDATE risk_cases SET state = $1, assignee = $2, label = $3, resolution = $4,
			update_time = $5 WHERE case_id = $6`, c.State, c.Assignee, c.Label, c.Resolution, now, id); err != nil {
			return err
		}
		out = c
		return addEvent(ctx, tx, id, now, actor, action, detail)
	})
	if err != nil {
		return Case{}, fmt.Errorf("risk: case %s: %w", id, err)
	}
	return out, nil
}

// Assign gives an unresolved case to an analyst (again, to another).
func (q *Cases) Assign(ctx context.Context, id, analyst, actor string) (Case, error) {
	if analyst == "" {
		return Case{}, rpcerr.Field(rpcerr.InvalidArgument, "assignee", "is required")
	}
	return q.change(ctx, id, actor, "assign", analyst, func(_ context.Context, _ *sqlstore.Tx, c *Case) error {
		c.State, c.Assignee = CaseAssigned, analyst
		return nil
	})
}

// Resolve closes a case with a label and a note. A confirmed fraud with
// block set also puts the case's user and device (those it names, as
// "partner/ref") on the block list, with a note naming the case, in the
// same transaction: the policy version moves with a policy event, so
// every replica blocks them as soon as it next polls.
func (q *Cases) Resolve(ctx context.Context, id, label, note, actor string, block bool) (Case, error) {
	if label != LabelFraud && label != LabelLegit {
		return Case{}, rpcerr.Field(rpcerr.InvalidArgument, "label", "want FRAUD or LEGITIMATE")
	}
	if strings.TrimSpace(note) == "" {
		return Case{}, rpcerr.Field(rpcerr.InvalidArgument, "note", "is required: say what was found")
	}
	if block && label != LabelFraud {
		return Case{}, rpcerr.Field(rpcerr.InvalidArgument, "block", "only a confirmed fraud blocks")
	}
	return q.change(ctx, id, actor, "resolve", label+": "+note, func(ctx context.Context, tx *sqlstore.Tx, c *Case) error {
		c.State, c.Label, c.Resolution = CaseResolved, label, note
		if !block {
			return nil
		}
		now := policyTime(q.now())
		var blocked []string
		for _, b := range []struct{ kind, ref string }{{KindUser, c.UserRef}, {KindDevice, c.DeviceRef}} {
			if c.PartnerID == "" || b.ref == "" {
				continue // the case names none
			}
			e := ListEntry{List: ListBlock, Kind: b.kind, Value: c.PartnerID + "/" + b.ref,
				Note: "confirmed fraud, case " + c.ID, Actor: actor, UpdateTime: now}
			if err := putEntryTx(ctx, tx, e); err != nil {
				return err
			}
			blocked = append(blocked, e.Kind+" "+e.Value)
		}
		if len(blocked) == 0 {
			return nil
		}
		_, err := bumpPolicy(ctx, tx, now, actor, "case.block", "case "+c.ID+": "+strings.Join(blocked, ", "))
		return err
	})
}

// Events returns a case's history, oldest first.
func (q *Cases) Events(ctx context.Context, id string) ([]CaseEvent, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT seq, event_time, actor, action, detail FROM risk_case_events
		WHERE case_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("risk: case events: %w", err)
	}
	defer rows.Close()
	var out []CaseEvent
	for rows.Next() {
		var e CaseEvent
		if err := rows.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Labels returns the resolved cases' labels, for the next training set:
// payment id and FRAUD or LEGITIMATE, in the order they were resolved.
func (q *Cases) Labels(ctx context.Context, since time.Time) (map[string]string, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT payment_id, label FROM risk_cases WHERE state = 'RESOLVED' AND update_time >= $1`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("risk: labels: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, l string
		if err := rows.Scan(&p, &l); err != nil {
			return nil, err
		}
		out[p] = l
	}
	return out, rows.Err()
}
