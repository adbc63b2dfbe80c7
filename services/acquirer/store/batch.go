package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/sqlstore"
)

// Group commit (PostgreSQL and CockroachDB) of the three writes every MPM
// payment makes on the request path: its signed request's id, its insert
// and its success. Each
// caller is answered once the statement holding its row committed, with
// exactly what its own statement would have answered: whether its row
// was inserted, or the payment as the success left it, or whether the
// request id was fresh. Everything else
// (refunds, CPM, fenced writes, failures) is written alone.

// NewBatching returns a store whose request ids, MPM inserts and unfenced
// successes are group-committed until ctx ends, at most max to a statement (ADR
// 0019). On SQLite it is New.
func NewBatching(ctx context.Context, db *sqlstore.DB, max int) *SQLStore {
	s := New(db)
	if db.Dialect() == sqlstore.SQLite || max < 2 {
		return s
	}
	s.inserts = sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[insertReq, bool]{
		Max: max, Keys: func(r insertReq) []string { return []string{r.p.ID} }, Many: s.insertMany, Alone: s.insertAlone,
	})
	s.requestIDs = sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[requestID, bool]{
		Max: max, Keys: func(r requestID) []string { return []string{r.caller + "\x00" + r.id} }, Many: s.seenMany, Alone: s.seenAlone,
	})
	s.successes = sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[successReq, successRes]{
		Max: max, Keys: func(r successReq) []string { return []string{r.id} }, Many: s.succeedMany,
		Alone: func(ctx context.Context, r successReq) (successRes, error) {
			p, applied, err := s.apply(ctx, markSucceeded, r.id, r.at, nil, r.named())
			return successRes{p, applied}, err
		},
	})
	return s
}

// BatchStats counts the group-committed writes (none without NewBatching).
func (s *SQLStore) BatchStats() sqlstore.BatchStats {
	return s.inserts.Stats().Add(s.successes.Stats()).Add(s.requestIDs.Stats())
}

// requestID is a signed request's id, kept until expire.
type requestID struct {
	caller, id string
	expire     time.Time
}

// seenMany records request ids in one statement; an id already recorded
// (a replay) is fresh=false, as in seenAlone.
func (s *SQLStore) seenMany(ctx context.Context, rs []requestID) ([]bool, error) {
	n := len(rs)
	callers, ids, expires := make([]string, n), make([]string, n), make([]time.Time, n)
	for i, r := range rs {
		callers[i], ids[i], expires[i] = r.caller, r.id, r.expire
	}
	var fresh []requestID
	err := s.db.Retry(ctx, func(ctx context.Context) (err error) {
		fresh, err = queryAll(ctx, s.db, func(row scanner) (r requestID, err error) {
			return r, row.Scan(&r.caller, &r.id)
		}, `INSERT INTO acq_request_ids (caller, request_id, expire_time)
			SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TIMESTAMPTZ[]))
			ON CONFLICT DO NOTHING RETURNING caller, request_id`, callers, ids, expires)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquirer: record request ids: %w", err)
	}
	recorded := make(map[requestID]bool, len(fresh))
	for _, r := range fresh {
		recorded[r] = true
	}
	out := make([]bool, n)
	for i, r := range rs {
		out[i] = recorded[requestID{caller: r.caller, id: r.id}]
	}
	return out, nil
}

// insertReq is one payment's insert: its row's values in paymentColumns
// order, and its audit entry.
type insertReq struct {
	p  Payment
	vs []any
	e  audit.Entry
}

// paymentColumnTypes are the SQL types of paymentColumns, in order.
var paymentColumnTypes = strings.Fields(`TEXT TEXT TEXT TEXT TEXT TEXT TEXT
	TEXT TEXT TEXT TEXT TEXT TEXT
	TEXT INT8 TEXT INT8 INT8 TEXT TEXT
	TEXT TEXT TEXT BOOL TIMESTAMPTZ TIMESTAMPTZ
	TEXT TEXT TEXT BOOL INT8 BOOL
	INT8 TIMESTAMPTZ TEXT TEXT INT8 TEXT TEXT`)

// insertManyQuery is insertMany's statement: the payments' columns and
// their audit entries' as arrays, unnested; the entries inserted only for
// the payments that were.
var insertManyQuery = func() string {
	cols := strings.Split(paymentColumns, ",")
	if len(cols) != len(paymentColumnTypes) {
		panic(fmt.Sprintf("acquirer store: %d payment columns, %d types", len(cols), len(paymentColumnTypes)))
	}
	var casts, names []string
	for c, col := range cols {
		casts = append(casts, fmt.Sprintf("CAST($%d AS %s[])", c+1, paymentColumnTypes[c]))
		names = append(names, strings.TrimSpace(col))
	}
	k := len(names)
	for j, typ := range []string{"TEXT", "TIMESTAMPTZ", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT"} {
		casts = append(casts, fmt.Sprintf("CAST($%d AS %s[])", k+j+1, typ))
	}
	names = append(names, "e_id", "e_time", "e_actor", "e_action", "e_outcome", "e_after", "e_trace")
	return `WITH v AS (SELECT * FROM unnest(` + strings.Join(casts, ", ") + `) AS t(` + strings.Join(names, ", ") + `)),
		p AS (INSERT INTO acq_payments (` + paymentColumns + `) SELECT ` + paymentColumns + ` FROM v
			ON CONFLICT DO NOTHING RETURNING payment_id),
		a AS (INSERT INTO audit_log (` + auditColumns + `)
			SELECT v.e_id, v.e_time, v.e_actor, v.e_action, p.payment_id, v.e_outcome, NULL, v.e_after, v.e_trace, NULL, '', ''
			FROM p JOIN v ON v.payment_id = p.payment_id)
		SELECT payment_id FROM p`
}()

// insertMany inserts payments and their audit entries in one statement,
// each row as insertAlone writes it: a row whose id, key or order id is
// taken is not inserted, and neither is its entry.
func (s *SQLStore) insertMany(ctx context.Context, rs []insertReq) ([]bool, error) {
	n := len(rs)
	arrays := make([]any, 0, len(paymentColumnTypes)+7)
	for c, typ := range paymentColumnTypes {
		col := make([]any, n)
		for i, r := range rs {
			col[i] = r.vs[c]
		}
		a, err := typedArray(typ, col)
		if err != nil {
			return nil, fmt.Errorf("acquirer: insert payments: value %d: %w", c+1, err)
		}
		arrays = append(arrays, a)
	}
	eIDs, eActors, eActions, eOutcomes, eAfters, eTraces := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	eTimes := make([]time.Time, n)
	for i, r := range rs {
		eIDs[i], eTimes[i], eActors[i], eActions[i], eOutcomes[i], eAfters[i], eTraces[i] =
			r.e.ID, r.e.Time, r.e.Actor, r.e.Action, r.e.Outcome, string(r.e.After), r.e.TraceID
	}
	arrays = append(arrays, eIDs, eTimes, eActors, eActions, eOutcomes, eAfters, eTraces)
	var inserted []string
	err := s.db.Retry(ctx, func(ctx context.Context) (err error) {
		inserted, err = queryAll(ctx, s.db, func(row scanner) (id string, err error) {
			return id, row.Scan(&id)
		}, insertManyQuery, arrays...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquirer: insert payments: %w", err)
	}
	was := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		was[id] = true
	}
	out := make([]bool, n)
	for i, r := range rs {
		out[i] = was[r.p.ID]
	}
	return out, nil
}

// typedArray turns a column's values into the slice pgx encodes as an SQL
// array of typ (a nil TIMESTAMPTZ is NULL).
func typedArray(typ string, vs []any) (any, error) {
	switch typ {
	case "TEXT":
		out := make([]string, len(vs))
		for i, v := range vs {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%T is not text", v)
			}
			out[i] = s
		}
		return out, nil
	case "INT8":
		out := make([]int64, len(vs))
		for i, v := range vs {
			switch n := v.(type) {
			case int64:
				out[i] = n
			case int:
				out[i] = int64(n)
			default:
				return nil, fmt.Errorf("%T is not an integer", v)
			}
		}
		return out, nil
	case "BOOL":
		out := make([]bool, len(vs))
		for i, v := range vs {
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%T is not a bool", v)
			}
			out[i] = b
		}
		return out, nil
	case "TIMESTAMPTZ":
		out := make([]*time.Time, len(vs))
		for i, v := range vs {
			switch t := v.(type) {
			case time.Time:
				out[i] = &t
			case nil:
			default:
				return nil, fmt.Errorf("%T is not a time", v)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no array of %s", typ)
}

// successReq is one unfenced markSucceeded.
type successReq struct {
	id, ref, user string
	at            time.Time
}

func (r successReq) named() map[string]any { return map[string]any{"ref": r.ref, "user": r.user} }

type successRes struct {
	p       Payment
	applied bool
}

// succeedMany applies markSucceeded to payments in one statement, with
// each one's event, under exactly apply's conditions: a payment the
// transition does not apply to is left as it is (applied=false).
func (s *SQLStore) succeedMany(ctx context.Context, rs []successReq) ([]successRes, error) {
	t := markSucceeded
	n := len(rs)
	ids, refs, users, events := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	for i, r := range rs {
		ids[i], refs[i], users[i], events[i], ats[i] = r.id, r.ref, r.user, newEventID(), r.at.UTC()
	}
	set := strings.NewReplacer("$ref", "v.b_ref", "$user", "v.b_user").Replace(t.set)
	query := `WITH v AS (SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]),
			CAST($4 AS TIMESTAMPTZ[]), CAST($5 AS TEXT[])) AS t(b_id, b_ref, b_user, b_at, b_event)),
		u AS (UPDATE acq_payments SET update_time = v.b_at, ` + set + ` FROM v
			WHERE payment_id = v.b_id AND ` + t.where + `
			RETURNING ` + paymentColumns + `, v.b_event, v.b_at),
		e AS (INSERT INTO acq_events (event_id, partner_id, event_type, payment_id, refund_id, body, create_time, sequence)
			SELECT b_event, partner_id, ` + t.event + `, payment_id, '', NULL, b_at, NULL FROM u)
		SELECT ` + paymentColumns + ` FROM u`
	var done []Payment
	err := s.db.Retry(ctx, func(ctx context.Context) (err error) {
		done, err = queryAll(ctx, s.db, scanPayment, query, ids, refs, users, ats, events)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquirer: record successes: %w", err)
	}
	byID := make(map[string]Payment, len(done))
	for _, p := range done {
		byID[p.ID] = p
	}
	out := make([]successRes, n)
	for i, r := range rs {
		p, ok := byID[r.id]
		out[i] = successRes{p, ok}
	}
	return out, nil
}
