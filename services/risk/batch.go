package risk

import (
	"context"
	"errors"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// Group commit (PostgreSQL and CockroachDB): concurrent decisions are
// written together, many in one statement (sqlstore.Batcher) — each still
// checked against its user's day and month and inserted exactly as
// Decide's single statement does, and each answered only once its
// statement committed. A worker takes what is queued when it is free, so
// a lone payment waits for nobody and a crowd shares round trips. A
// statement holds one decision per payment and per user (an upsert may
// move a row once).

// decideReq is one queued decision.
type decideReq struct {
	p     Payment
	day   string
	pre   Decision
	lim   UserLimits
	count bool
	js    [3]string // the reasons of pre, daily and monthly declines
}

type decideRes struct {
	d     Decision
	fresh bool
	err   error
}

// NewBatchingStore returns a store whose decisions are written by workers
// goroutines, up to max a statement, until ctx ends (then Decide writes
// each alone). On SQLite it is NewSQLStore.
func NewBatchingStore(ctx context.Context, db *sqlstore.DB, workers, max int) *SQLStore {
	s := &SQLStore{db: db}
	if db.Dialect() == sqlstore.SQLite || workers < 1 || max < 2 {
		return s
	}
	s.batch = sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[*decideReq, decideRes]{
		Max: max, Workers: workers, Keys: keys, Many: s.writeBatch,
		Alone: func(ctx context.Context, r *decideReq) (decideRes, error) {
			d, fresh, err := s.decideAlone(ctx, r)
			return decideRes{d, fresh, err}, nil
		},
	})
	return s
}

// keys are what a decision writes: its payment's row and, if it counts
// against them, its user's limits.
func keys(r *decideReq) []string {
	ks := []string{"p\x00" + r.p.PaymentID}
	if r.count {
		ks = append(ks, "u\x00"+r.p.PartnerID+"\x00"+r.p.UserRef+"\x00"+r.p.MerchantAmount.Currency)
	}
	return ks
}

// writeBatch writes a batch in one statement, retried whole on a
// transient failure (if it fails otherwise, the Batcher writes each
// alone, so one bad decision fails only itself).
func (s *SQLStore) writeBatch(ctx context.Context, batch []*decideReq) ([]decideRes, error) {
	var results map[string]batchRow
	err := s.db.Retry(ctx, func(ctx context.Context) (err error) {
		results, err = s.decideMany(ctx, batch)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]decideRes, len(batch))
	for i, r := range batch {
		row, ok := results[r.p.PaymentID]
		if ok && row.found {
			out[i] = decideRes{row.d, row.fresh, nil}
			continue
		}
		// Raced by a concurrent evaluation of the same payment: give back
		// what was counted, and decide alone (which reads it).
		if err := s.giveBack(ctx, r, ok && row.counted); err != nil {
			out[i] = decideRes{err: err}
			continue
		}
		d, fresh, err := s.decideAlone(ctx, r)
		out[i] = decideRes{d, fresh, err}
	}
	return out, nil
}

type batchRow struct {
	d                     Decision
	fresh, found, counted bool
}

// decideMany decides payments in one statement (PostgreSQL, CockroachDB):
// for each, over the unnested arrays of their parameters, the earlier
// decision, the user's usage row conditionally moved, and the decision
// inserted, touching only the payments' and their users' rows. A payment
// whose row neither came back nor was there (a concurrent insert of it)
// is found=false, with counted saying whether its usage moved.
func (s *SQLStore) decideMany(ctx context.Context, batch []*decideReq) (map[string]batchRow, error) {
	n := len(batch)
	var (
		ids, partners, users, days, curs, months       = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		outcomes, devices, merchants, modes, models    = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amounts, dailies, monthlies, scores, rulesVers = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		counts                                         = make([]bool, n)
		cities, features                               = make([]string, n), make([]string, n)
		reason, rule, message, reasons                 [3][]string
	)
	for k := range 3 {
		reason[k], rule[k], message[k], reasons[k] = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	}
	times := make([]time.Time, n)
	for i, r := range batch {
		p, a := r.p, r.p.MerchantAmount
		ids[i], partners[i], users[i], days[i], curs[i], months[i] = p.PaymentID, p.PartnerID, p.UserRef, r.day, a.Currency, r.day[:7]
		outcomes[i], devices[i], merchants[i], modes[i], models[i] = r.pre.Outcome, p.DeviceRef, p.merchant(), p.Mode, r.pre.ModelVersion
		cities[i], times[i], features[i] = p.City, p.at(), joinFeatures(r.pre.Features)
		amounts[i], dailies[i], monthlies[i], scores[i], rulesVers[i] = a.Minor, r.lim.Daily, r.lim.Monthly, r.pre.ScoreBP, r.pre.RulesVersion
		counts[i] = r.count
		daily, monthly := withLimit(r.pre, dailyDecline(a.Currency, r.lim.Daily)), withLimit(r.pre, monthlyDecline(a.Currency, r.lim.Monthly))
		for k, d := range []Decision{r.pre, daily, monthly} {
			reason[k][i], rule[k][i], message[k][i], reasons[k][i] = string(d.Reason), d.RuleID, d.Message, r.js[k]
		}
	}
	rows, err := s.db.QueryContext(ctx, `WITH input AS (
			SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]),
				CAST($5 AS TEXT[]), CAST($6 AS TEXT[]), CAST($7 AS INT8[]), CAST($8 AS BOOL[]), CAST($9 AS INT8[]),
				CAST($10 AS INT8[]), CAST($11 AS TEXT[]), CAST($12 AS TEXT[]), CAST($13 AS TEXT[]), CAST($14 AS TEXT[]),
				CAST($15 AS TEXT[]), CAST($16 AS TEXT[]), CAST($17 AS TEXT[]), CAST($18 AS TEXT[]), CAST($19 AS TEXT[]),
				CAST($20 AS TEXT[]), CAST($21 AS INT8[]), CAST($22 AS TEXT[]), CAST($23 AS TEXT[]), CAST($24 AS TEXT[]),
				CAST($25 AS TEXT[]), CAST($26 AS TEXT[]), CAST($27 AS TEXT[]), CAST($28 AS INT8[]), CAST($29 AS TEXT[]),
				CAST($31 AS TEXT[]), CAST($30 AS TIMESTAMPTZ[]), CAST($32 AS TEXT[]))
			AS t(payment_id, partner_id, user_ref, day, currency, month, amount, count, daily, monthly, pre,
				reason0, reason1, reason2, rule0, rule1, rule2, message0, message1, message2, score_bp,
				reasons0, reasons1, reasons2, device_ref, merchant, mode, rules_version, model_version, city, create_time, features)
		), prior AS (
			SELECT d.payment_id, `+prefixed("d", decisionColumns)+` FROM risk_decisions d JOIN input i ON d.payment_id = i.payment_id
		), cur AS (
			SELECT i.payment_id, CASE WHEN u.day = i.day THEN u.day_used ELSE 0 END AS day_used,
				CASE WHEN u.month = i.month THEN u.month_used ELSE 0 END AS month_used
			FROM input i JOIN risk_usage u ON u.partner_id = i.partner_id AND u.user_ref = i.user_ref AND u.currency = i.currency
		), usage AS (
			INSERT INTO risk_usage AS u (partner_id, user_ref, currency, day, day_used, month, month_used, day_limit, month_limit)
			SELECT i.partner_id, i.user_ref, i.currency, i.day, i.amount, i.month, i.amount, i.daily, i.monthly FROM input i
			WHERE i.count AND NOT EXISTS (SELECT 1 FROM prior p WHERE p.payment_id = i.payment_id)
				AND (i.daily = 0 OR i.amount <= i.daily) AND (i.monthly = 0 OR i.amount <= i.monthly)
			`+usageOnConflict+`
			RETURNING u.partner_id, u.user_ref, u.currency
		), verdict AS (
			SELECT i.*, CASE WHEN NOT i.count OR EXISTS (SELECT 1 FROM usage x WHERE x.partner_id = i.partner_id AND x.user_ref = i.user_ref AND x.currency = i.currency) THEN 0
				WHEN i.daily > 0 AND NOT EXISTS (SELECT 1 FROM cur c WHERE c.payment_id = i.payment_id AND c.day_used + i.amount <= i.daily
					AND i.monthly > 0 AND c.month_used + i.amount > i.monthly) THEN 1
				ELSE 2 END AS v,
				EXISTS (SELECT 1 FROM usage x WHERE x.partner_id = i.partner_id AND x.user_ref = i.user_ref AND x.currency = i.currency) AS counted
			FROM input i
		), ins AS (
			INSERT INTO risk_decisions (payment_id, partner_id, user_ref, day, currency, minor_units,
				approved, reason, rule_id, message, released, create_time,
				outcome, score_bp, reasons, device_ref, merchant, mode, rules_version, model_version, counted, city, features)
			SELECT v.payment_id, v.partner_id, v.user_ref, v.day, v.currency, v.amount,
				v.v = 0 AND v.pre <> 'DECLINE',
				CASE v.v WHEN 0 THEN v.reason0 WHEN 1 THEN v.reason1 ELSE v.reason2 END,
				CASE v.v WHEN 0 THEN v.rule0 WHEN 1 THEN v.rule1 ELSE v.rule2 END,
				CASE v.v WHEN 0 THEN v.message0 WHEN 1 THEN v.message1 ELSE v.message2 END,
				FALSE, v.create_time,
				CASE v.v WHEN 0 THEN v.pre ELSE 'DECLINE' END,
				v.score_bp,
				CASE v.v WHEN 0 THEN v.reasons0 WHEN 1 THEN v.reasons1 ELSE v.reasons2 END,
				v.device_ref, v.merchant, v.mode, v.rules_version, v.model_version, v.counted, v.city, v.features
			FROM verdict v WHERE NOT EXISTS (SELECT 1 FROM prior p WHERE p.payment_id = v.payment_id)
			ON CONFLICT (payment_id) DO NOTHING
			RETURNING payment_id, `+decisionColumns+`
		)
		SELECT payment_id, `+decisionColumns+`, TRUE, TRUE, FALSE FROM ins
		UNION ALL SELECT payment_id, `+decisionColumns+`, FALSE, TRUE, FALSE FROM prior
		UNION ALL SELECT v.payment_id, '', '', '', '', 0, '[]', 0, '', FALSE, FALSE, v.counted FROM verdict v
			WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.payment_id = v.payment_id)
				AND NOT EXISTS (SELECT 1 FROM prior p WHERE p.payment_id = v.payment_id)`,
		ids, partners, users, days, curs, months, amounts, counts, dailies, monthlies, outcomes,
		reason[0], reason[1], reason[2], rule[0], rule[1], rule[2], message[0], message[1], message[2], scores,
		reasons[0], reasons[1], reasons[2], devices, merchants, modes, rulesVers, models, times, cities, features)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]batchRow, n)
	for rows.Next() {
		var (
			id  string
			row batchRow
		)
		var scanErr error
		row.d, scanErr = scanDecisionAfter(rows, &id, &row.fresh, &row.found, &row.counted)
		if scanErr != nil {
			return nil, scanErr
		}
		out[id] = row
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, errors.New("risk: decide: a batch answered for fewer payments than it had")
	}
	return out, nil
}
