package fx

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/fx/feed"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations is the FX schema.
var Migrations = sqlstore.Migrations{Component: "fx", FS: migrationsFS, Dir: "migrations"}

// ErrFenced is returned by a write of an ingestion leader that a newer one
// has replaced.
var ErrFenced = errors.New("fx: a newer ingestion leader holds the fence")

// SQLStore keeps quotes and the rate history in SQL.
type SQLStore struct {
	db *sqlstore.DB
	// Group commit of quote writes (NewBatchingStore); nil: each alone.
	inserts *sqlstore.Batcher[Quote, struct{}]
	locks   *sqlstore.Batcher[lockReq, lockRes]
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db; run Migrations first.
func NewSQLStore(db *sqlstore.DB) *SQLStore { return &SQLStore{db: db} }

// NewBatchingStore returns a store whose quote inserts and locks are
// group-committed until ctx ends: concurrent ones share one statement
// each (at most max), every caller answered once its statement committed.
// On SQLite it is NewSQLStore.
func NewBatchingStore(ctx context.Context, db *sqlstore.DB, max int) *SQLStore {
	s := NewSQLStore(db)
	if db.Dialect() == sqlstore.SQLite || max < 2 {
		return s
	}
	s.inserts = sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[Quote, struct{}]{
		Max: max, Keys: func(q Quote) []string { return []string{q.ID} }, Many: s.insertQuotes,
		Alone: func(ctx context.Context, q Quote) (struct{}, error) { return struct{}{}, s.insertQuote(ctx, q) },
	})
	s.locks = sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[lockReq, lockRes]{
		Max: max, Keys: func(r lockReq) []string { return []string{r.id} }, Many: s.lockQuotes,
		Alone: func(ctx context.Context, r lockReq) (lockRes, error) {
			q, ok, err := s.lockQuote(ctx, r)
			return lockRes{q, ok}, err
		},
	})
	return s
}

const quoteColumns = `quote_id, partner_id, state, merchant_currency, merchant_minor, wallet_currency,
	wallet_minor, cost_minor, mid_rate, rate, spread_bps, create_time, expire_time, payment_id,
	settlement_currency, settlement_minor, cost_rate, direction, legs`

// storedLegs is how a quote's legs are kept: JSON in one column.
type storedLegs struct {
	Wallet     []storedLeg `json:"wallet,omitempty"`
	Settlement []storedLeg `json:"settlement,omitempty"`
}

type storedLeg struct {
	Base     string    `json:"base"`
	Quote    string    `json:"quote"`
	Provider string    `json:"provider"`
	Bid      string    `json:"bid"`
	Ask      string    `json:"ask"`
	Source   time.Time `json:"source_time"`
}

func toStored(ls []Leg) []storedLeg {
	out := make([]storedLeg, len(ls))
	for i, l := range ls {
		out[i] = storedLeg{l.Pair.Base, l.Pair.Quote, l.Provider, l.Bid.String(), l.Ask.String(), l.Source.UTC()}
	}
	return out
}

func fromStored(ls []storedLeg) ([]Leg, error) {
	out := make([]Leg, len(ls))
	for i, l := range ls {
		bid, err := money.ParseRate(l.Bid)
		if err != nil {
			return nil, err
		}
		ask, err := money.ParseRate(l.Ask)
		if err != nil {
			return nil, err
		}
		out[i] = Leg{Pair: Pair{l.Base, l.Quote}, Provider: l.Provider, Bid: bid, Ask: ask, Source: l.Source}
	}
	return out, nil
}

// BatchStats counts the group-committed quote writes (none without
// NewBatchingStore).
func (s *SQLStore) BatchStats() sqlstore.BatchStats {
	return s.inserts.Stats().Add(s.locks.Stats())
}

// InsertQuote implements Store.
func (s *SQLStore) InsertQuote(ctx context.Context, q Quote) error {
	if s.inserts != nil {
		_, err := s.inserts.Do(ctx, q)
		return err
	}
	return s.insertQuote(ctx, q)
}

func (q Quote) storedLegs() (string, error) {
	legs, err := json.Marshal(storedLegs{Wallet: toStored(q.Legs), Settlement: toStored(q.SettlementLegs)})
	return string(legs), err
}

func (s *SQLStore) insertQuote(ctx context.Context, q Quote) error {
	legs, err := q.storedLegs()
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO fx_quotes (`+quoteColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, $15, $16, $17, $18)`,
		q.ID, q.PartnerID, string(q.State), q.MerchantAmount.Currency, q.MerchantAmount.Minor,
		q.WalletAmount.Currency, q.WalletAmount.Minor, q.CostAmount.Minor, q.MidRate.String(), q.Rate.String(),
		q.SpreadBps, q.CreateTime.UTC(), q.ExpireTime.UTC(),
		q.SettlementAmount.Currency, q.SettlementAmount.Minor, q.CostRate.String(), string(q.Direction), legs)
	if err != nil {
		return fmt.Errorf("fx: insert quote: %w", err)
	}
	return nil
}

// insertQuotes inserts quotes in one statement (PostgreSQL, CockroachDB),
// each row as insertQuote writes it.
func (s *SQLStore) insertQuotes(ctx context.Context, qs []Quote) ([]struct{}, error) {
	n := len(qs)
	var (
		ids, partners, states, mcur, wcur, mids, rates = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		scur, costRates, directions, legs              = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		mminor, wminor, cminor, spreads, sminor        = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		creates, expires                               = make([]time.Time, n), make([]time.Time, n)
	)
	for i, q := range qs {
		l, err := q.storedLegs()
		if err != nil {
			return nil, err
		}
		ids[i], partners[i], states[i], mcur[i], wcur[i], mids[i], rates[i] = q.ID, q.PartnerID, string(q.State),
			q.MerchantAmount.Currency, q.WalletAmount.Currency, q.MidRate.String(), q.Rate.String()
		scur[i], costRates[i], directions[i], legs[i] = q.SettlementAmount.Currency, q.CostRate.String(), string(q.Direction), l
		mminor[i], wminor[i], cminor[i], spreads[i], sminor[i] = q.MerchantAmount.Minor, q.WalletAmount.Minor, q.CostAmount.Minor,
			int64(q.SpreadBps), q.SettlementAmount.Minor
		creates[i], expires[i] = q.CreateTime.UTC(), q.ExpireTime.UTC()
	}
	err := s.db.Retry(ctx, func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO fx_quotes (`+quoteColumns+`)
			SELECT quote_id, partner_id, state, merchant_currency, merchant_minor, wallet_currency,
				wallet_minor, cost_minor, mid_rate, rate, spread_bps, create_time, expire_time, NULL,
				settlement_currency, settlement_minor, cost_rate, direction, legs
			FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS INT8[]),
				CAST($6 AS TEXT[]), CAST($7 AS INT8[]), CAST($8 AS INT8[]), CAST($9 AS TEXT[]), CAST($10 AS TEXT[]),
				CAST($11 AS INT8[]), CAST($12 AS TIMESTAMPTZ[]), CAST($13 AS TIMESTAMPTZ[]), CAST($14 AS TEXT[]),
				CAST($15 AS INT8[]), CAST($16 AS TEXT[]), CAST($17 AS TEXT[]), CAST($18 AS TEXT[]))
			AS t(quote_id, partner_id, state, merchant_currency, merchant_minor, wallet_currency,
				wallet_minor, cost_minor, mid_rate, rate, spread_bps, create_time, expire_time,
				settlement_currency, settlement_minor, cost_rate, direction, legs)`,
			ids, partners, states, mcur, mminor, wcur, wminor, cminor, mids, rates, spreads, creates, expires,
			scur, sminor, costRates, directions, legs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fx: insert quotes: %w", err)
	}
	return make([]struct{}, n), nil
}

// GetQuote implements Store.
func (s *SQLStore) GetQuote(ctx context.Context, id string) (Quote, error) {
	q, err := scanQuote(s.db.QueryRowContext(ctx, `SELECT `+quoteColumns+` FROM fx_quotes WHERE quote_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Quote{}, ErrQuoteNotFound
	}
	return q, err
}

type lockReq struct {
	id, paymentID, partnerID string
	m                        money.Amount
	now                      time.Time
}

type lockRes struct {
	q  Quote
	ok bool
}

// LockQuote implements Store in one statement: the conditions and the
// state change are one atomic UPDATE (for many quotes at once with
// NewBatchingStore).
func (s *SQLStore) LockQuote(ctx context.Context, id, paymentID, partnerID string, m money.Amount, now time.Time) (Quote, bool, error) {
	r := lockReq{id: id, paymentID: paymentID, partnerID: partnerID, m: m, now: now.UTC()}
	if s.locks != nil {
		res, err := s.locks.Do(ctx, r)
		return res.q, res.ok, err
	}
	return s.lockQuote(ctx, r)
}

func (s *SQLStore) lockQuote(ctx context.Context, r lockReq) (Quote, bool, error) {
	q, err := scanQuote(s.db.QueryRowContext(ctx, `UPDATE fx_quotes SET state = 'LOCKED', payment_id = $2, lock_time = $3
		WHERE quote_id = $1 AND state = 'OPEN' AND expire_time > $3 AND partner_id = $4
		AND merchant_currency = $5 AND merchant_minor = $6
		RETURNING `+quoteColumns, r.id, r.paymentID, r.now, r.partnerID, r.m.Currency, r.m.Minor))
	if errors.Is(err, sql.ErrNoRows) {
		return Quote{}, false, nil
	}
	if err != nil {
		return Quote{}, false, err
	}
	return q, true, nil
}

// lockQuotes locks quotes in one statement (PostgreSQL, CockroachDB), each
// under lockQuote's conditions; a quote that did not lock is ok=false.
func (s *SQLStore) lockQuotes(ctx context.Context, rs []lockReq) ([]lockRes, error) {
	n := len(rs)
	ids, payments, partners, curs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	minors, nows := make([]int64, n), make([]time.Time, n)
	for i, r := range rs {
		ids[i], payments[i], partners[i], curs[i], minors[i], nows[i] = r.id, r.paymentID, r.partnerID, r.m.Currency, r.m.Minor, r.now
	}
	var locked map[string]Quote
	err := s.db.Retry(ctx, func(ctx context.Context) error {
		locked = make(map[string]Quote, n)
		rows, err := s.db.QueryContext(ctx, `UPDATE fx_quotes AS q SET state = 'LOCKED', payment_id = v.payment_id, lock_time = v.now
			FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TIMESTAMPTZ[]), CAST($4 AS TEXT[]),
				CAST($5 AS TEXT[]), CAST($6 AS INT8[]))
				AS v(quote_id, payment_id, now, partner_id, merchant_currency, merchant_minor)
			WHERE q.quote_id = v.quote_id AND q.state = 'OPEN' AND q.expire_time > v.now AND q.partner_id = v.partner_id
				AND q.merchant_currency = v.merchant_currency AND q.merchant_minor = v.merchant_minor
			RETURNING `+qualifiedQuoteColumns, ids, payments, nows, partners, curs, minors)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			q, err := scanQuote(rows)
			if err != nil {
				return err
			}
			locked[q.ID] = q
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("fx: lock quotes: %w", err)
	}
	out := make([]lockRes, n)
	for i, r := range rs {
		q, ok := locked[r.id]
		out[i] = lockRes{q, ok && q.PaymentID == r.paymentID}
	}
	return out, nil
}

// qualifiedQuoteColumns are quoteColumns of the table aliased q.
var qualifiedQuoteColumns = func() string {
	cols := strings.Split(quoteColumns, ",")
	for i, c := range cols {
		cols[i] = "q." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

func scanQuote(row interface{ Scan(...any) error }) (Quote, error) {
	var (
		q                              Quote
		state, mid, rate               string
		paymentID, settleCur, costRate sql.NullString
		direction, legs                sql.NullString
		settleMinor                    sql.NullInt64
		spread                         int64
	)
	err := row.Scan(&q.ID, &q.PartnerID, &state, &q.MerchantAmount.Currency, &q.MerchantAmount.Minor,
		&q.WalletAmount.Currency, &q.WalletAmount.Minor, &q.CostAmount.Minor, &mid, &rate, &spread,
		&q.CreateTime, &q.ExpireTime, &paymentID, &settleCur, &settleMinor, &costRate, &direction, &legs)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Quote{}, err
		}
		return Quote{}, fmt.Errorf("fx: read quote: %w", err)
	}
	q.State = QuoteState(state)
	q.SpreadBps = int(spread)
	q.PaymentID = paymentID.String
	q.CreateTime, q.ExpireTime = q.CreateTime.UTC(), q.ExpireTime.UTC()
	q.Direction = FixMerchant
	if direction.String != "" {
		q.Direction = Direction(direction.String)
	}
	if settleCur.String != "" {
		q.SettlementAmount = money.Amount{Currency: settleCur.String, Minor: settleMinor.Int64}
	} else {
		q.SettlementAmount = q.WalletAmount // a quote from before settlement currencies
	}
	q.CostAmount.Currency = q.SettlementAmount.Currency
	if q.MidRate, err = money.ParseRate(mid); err != nil {
		return Quote{}, fmt.Errorf("fx: stored mid rate: %w", err)
	}
	if q.Rate, err = money.ParseRate(rate); err != nil {
		return Quote{}, fmt.Errorf("fx: stored rate: %w", err)
	}
	if costRate.String != "" {
		if q.CostRate, err = money.ParseRate(costRate.String); err != nil {
			return Quote{}, fmt.Errorf("fx: stored cost rate: %w", err)
		}
	}
	if legs.String != "" {
		var sl storedLegs
		if err := json.Unmarshal([]byte(legs.String), &sl); err != nil {
			return Quote{}, fmt.Errorf("fx: stored legs: %w", err)
		}
		if q.Legs, err = fromStored(sl.Wallet); err != nil {
			return Quote{}, fmt.Errorf("fx: stored legs: %w", err)
		}
		if q.SettlementLegs, err = fromStored(sl.Settlement); err != nil {
			return Quote{}, fmt.Errorf("fx: stored legs: %w", err)
		}
	}
	return q, nil
}

// IngestFence names the ingestion leader's fence.
const IngestFence = "ingest"

// ClaimFence records rev as the newest ingestion leader's revision; false
// if a newer one holds it.
func (s *SQLStore) ClaimFence(ctx context.Context, name string, rev int64) (bool, error) {
	ok, err := s.db.ClaimFence(ctx, "fx_fences", name, rev)
	if err != nil {
		return false, fmt.Errorf("fx: %w", err)
	}
	return ok, nil
}

// HistoricRate is a received rate as the history keeps it.
type HistoricRate struct {
	feed.Rate
	// Rejected says why ingestion refused it; empty when accepted.
	Rejected string
}

// AppendHistory writes received rates in one statement if rev still holds
// the ingestion fence (else ErrFenced), in the same transaction.
func (s *SQLStore) AppendHistory(ctx context.Context, rev int64, rs []HistoricRate) error {
	if len(rs) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		if err := sqlstore.CheckFence(ctx, tx, "fx_fences", IngestFence, rev); errors.Is(err, sqlstore.ErrFenced) {
			return fmt.Errorf("%w (revision %d)", ErrFenced, rev)
		} else if err != nil {
			return err
		}
		var (
			b    strings.Builder
			args = make([]any, 0, len(rs)*10)
		)
		b.WriteString(`INSERT INTO fx_rate_history (id, provider, base_currency, quote_currency, bid, ask, source_time, receive_time, rejected, fence) VALUES `)
		for i, r := range rs {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10)
			args = append(args, uuid.NewString(), r.Provider, r.Base, r.Quote, r.Bid.String(), r.Ask.String(),
				r.SourceTime.UTC(), r.ReceiveTime.UTC(), r.Rejected, rev)
		}
		_, err := tx.ExecContext(ctx, b.String(), args...)
		return err
	})
}

// History returns the rates received for p at or after since, newest
// first, at most limit.
func (s *SQLStore) History(ctx context.Context, p Pair, since time.Time, limit int) ([]HistoricRate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT provider, base_currency, quote_currency, bid, ask, source_time, receive_time, rejected
		FROM fx_rate_history WHERE base_currency = $1 AND quote_currency = $2 AND receive_time >= $3
		ORDER BY receive_time DESC, provider LIMIT $4`, p.Base, p.Quote, since.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("fx: rate history: %w", err)
	}
	defer rows.Close()
	var out []HistoricRate
	for rows.Next() {
		var (
			h        HistoricRate
			bid, ask string
		)
		if err := rows.Scan(&h.Provider, &h.Base, &h.Quote, &bid, &ask, &h.SourceTime, &h.ReceiveTime, &h.Rejected); err != nil {
			return nil, err
		}
		if h.Bid, err = money.ParseRate(bid); err != nil {
			return nil, err
		}
		if h.Ask, err = money.ParseRate(ask); err != nil {
			return nil, err
		}
		h.SourceTime, h.ReceiveTime = h.SourceTime.UTC(), h.ReceiveTime.UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}
