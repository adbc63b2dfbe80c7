package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// ClaimFence implements acquirer.Store.
func (s *SQLStore) ClaimFence(ctx context.Context, name string, rev int64) (bool, error) {
	return s.db.ClaimFence(ctx, "acq_fences", name, rev)
}

// SequenceEvents implements acquirer.Store: in one transaction, if the
// fence holds, take the oldest unsequenced events and number them after
// each partner's last sequence.
func (s *SQLStore) SequenceEvents(ctx context.Context, f Fence, limit int) ([]string, error) {
	var parents []string
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		parents = nil
		if err := checkFence(ctx, tx, f); err != nil {
			return err
		}
		type ev struct{ id, partner, traceParent string }
		evs, err := queryAll(ctx, tx, func(row scanner) (ev, error) {
			var e ev
			return e, row.Scan(&e.id, &e.partner, &e.traceParent)
		}, `SELECT e.event_id, e.partner_id, COALESCE(p.trace_parent, '') FROM acq_events e
			LEFT JOIN acq_payments p ON p.payment_id = e.payment_id
			WHERE e.sequence IS NULL ORDER BY e.create_time, e.event_id LIMIT $1`, limit)
		if err != nil || len(evs) == 0 {
			return err
		}
		last := map[string]int64{}
		for _, e := range evs {
			if _, ok := last[e.partner]; ok {
				continue
			}
			var seq int64
			err := tx.QueryRowContext(ctx, `SELECT last_sequence FROM acq_event_cursors WHERE partner_id = $1`, e.partner).Scan(&seq)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			last[e.partner] = seq
		}
		ids, seqs := make([]string, len(evs)), make([]int64, len(evs))
		for i, e := range evs {
			last[e.partner]++
			ids[i], seqs[i] = e.id, last[e.partner]
		}
		if err := numberEvents(ctx, tx, ids, seqs); err != nil {
			return err
		}
		for partner, seq := range last {
			if _, err := tx.ExecContext(ctx, `INSERT INTO acq_event_cursors (partner_id, last_sequence) VALUES ($1, $2)
				ON CONFLICT (partner_id) DO UPDATE SET last_sequence = excluded.last_sequence`, partner, seq); err != nil {
				return err
			}
		}
		for _, e := range evs {
			parents = append(parents, e.traceParent)
		}
		return nil
	})
	return parents, err
}

// numberEvents gives each event of ids its sequence: on PostgreSQL and
// CockroachDB in one statement over the arrays (a relay batch is up to
// 500 events), on SQLite, which has no arrays, one statement each.
func numberEvents(ctx context.Context, tx *sqlstore.Tx, ids []string, seqs []int64) error {
	if tx.Dialect() != sqlstore.SQLite {
		_, err := tx.ExecContext(ctx, `UPDATE acq_events SET sequence = v.seq
			FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS INT8[])) AS v (event_id, seq)
			WHERE acq_events.event_id = v.event_id`, ids, seqs)
		return err
	}
	for i, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE acq_events SET sequence = $1 WHERE event_id = $2`, seqs[i], id); err != nil {
			return err
		}
	}
	return nil
}

// ListEvents implements acquirer.Store.
func (s *SQLStore) ListEvents(ctx context.Context, partnerID string, after int64, limit int) ([]Event, error) {
	return queryAll(ctx, s.db, func(row scanner) (Event, error) {
		var e Event
		err := row.Scan(&e.ID, &e.PartnerID, &e.Type, &e.PaymentID, &e.RefundID, &e.Body, &e.Time, &e.Sequence)
		e.Time = e.Time.UTC()
		return e, err
	}, `SELECT event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence FROM acq_events
		WHERE partner_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`, partnerID, after, limit)
}

const statementCursor = "settlement-statements"

// StatementCursor implements acquirer.Store.
func (s *SQLStore) StatementCursor(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM acq_cursors WHERE name = $1`, statementCursor).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// AddStatementEvents implements acquirer.Store.
func (s *SQLStore) AddStatementEvents(ctx context.Context, f Fence, events []Event, cursor int64) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		if err := checkFence(ctx, tx, f); err != nil {
			return err
		}
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, `INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence)
				VALUES ($1, $2, $3, '', '', $4, $5, NULL) ON CONFLICT (event_id) DO NOTHING`, e.ID, e.PartnerID, e.Type, e.Body, e.Time.UTC()); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO acq_cursors (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, statementCursor, cursor)
		return err
	})
}

// FenceCheck returns a check, for a transaction's first statement, that f
// is still the newest claim of its name (acquirer.ErrFenced otherwise):
// other components' singleton writes in this database (the audit log's
// linker) are fenced with it like the acquirer's own.
func FenceCheck(f Fence) func(ctx context.Context, tx *sqlstore.Tx) error {
	return func(ctx context.Context, tx *sqlstore.Tx) error { return checkFence(ctx, tx, f) }
}

// SeenRequest records a signed request's id for caller until expire;
// fresh=false when it was recorded already (a replay). One statement,
// shared by every replica.
func (s *SQLStore) SeenRequest(ctx context.Context, caller, id string, expire time.Time) (bool, error) {
	r := requestID{caller: caller, id: id, expire: expire.UTC()}
	if s.requestIDs != nil {
		return s.requestIDs.Do(ctx, r)
	}
	return s.seenAlone(ctx, r)
}

func (s *SQLStore) seenAlone(ctx context.Context, r requestID) (bool, error) {
	caller, id, expire := r.caller, r.id, r.expire
	var n int64
	err := s.db.Retry(ctx, func(ctx context.Context) error {
		res, err := s.db.ExecContext(ctx, `INSERT INTO acq_request_ids (caller, request_id, expire_time) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, caller, id, expire.UTC())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// PurgeRequestIDs forgets request ids whose window has passed.
func (s *SQLStore) PurgeRequestIDs(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM acq_request_ids WHERE expire_time < $1`, now.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
