package risk

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// RebuildLimit bounds the payments a replica replays at start: past it the
// windows start from what was replayed (the oldest of the day are left
// out), and Rebuild says so.
const RebuildLimit = 2_000_000

// Rebuild fills a starting replica's memory from the stored decisions of
// the payments that proceeded and were not released: the month's totals
// per merchant and partner (one aggregate), and the last 24 hours'
// windows and behaviour profiles (the payments replayed, newest
// RebuildLimit). Run it before serving: the peers' events reach a replica
// once it serves, and the decisions made by the peers in between are
// missed (seconds of them). It returns how many payments it replayed.
func (s *Service) Rebuild(ctx context.Context, db *sqlstore.DB) (int, error) {
	now := s.opts.Now()
	local := now.In(s.opts.Day)
	month := local.Format("2006-01")
	rows, err := db.QueryContext(ctx, `SELECT partner_id, merchant, currency, CAST(COALESCE(SUM(minor_units), 0) AS INT8)
		FROM risk_decisions WHERE day >= $1 AND approved AND NOT released AND merchant <> ''
		GROUP BY partner_id, merchant, currency`, month+"-01")
	if err != nil {
		return 0, fmt.Errorf("risk: rebuild the month: %w", err)
	}
	for rows.Next() {
		var partner, merchant, cur string
		var sum int64
		if err := rows.Scan(&partner, &merchant, &cur, &sum); err != nil {
			rows.Close()
			return 0, err
		}
		s.months.add(partnerMonthKey(partner, cur), month, sum)
		s.months.add(merchantMonthKey(merchant, cur), month, sum)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}

	rows, err = db.QueryContext(ctx, `SELECT partner_id, user_ref, device_ref, merchant, currency, minor_units, create_time, city
		FROM risk_decisions WHERE create_time >= $1 AND approved AND NOT released AND merchant <> ''
		ORDER BY create_time DESC LIMIT $2`, now.Add(-24*time.Hour).UTC(), RebuildLimit)
	if err != nil {
		return 0, fmt.Errorf("risk: rebuild the day: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			p  Payment
			m  string
			at time.Time
		)
		if err := rows.Scan(&p.PartnerID, &p.UserRef, &p.DeviceRef, &m, &p.MerchantAmount.Currency, &p.MerchantAmount.Minor, &at, &p.City); err != nil {
			return n, err
		}
		p.NetworkID, p.MerchantID, _ = strings.Cut(m, "/")
		e := s.event(p, at)
		for _, k := range e.GetKeys() {
			s.counter.Add(k, at, e.GetAmount(), now)
		}
		s.profiles.observe(e, now)
		n++
	}
	return n, rows.Err()
}

// event is what a counted payment streams to the peers.
func (s *Service) event(p Payment, at time.Time) *riskv1.VelocityEvent {
	e := &riskv1.VelocityEvent{Keys: velocityKeys(p).all(), UnixSeconds: at.Unix(), Amount: p.MerchantAmount.Minor, Merchant: p.merchant(),
		Partner: p.PartnerID, Currency: p.MerchantAmount.Currency}
	if p.named() {
		e.User = p.PartnerID + "/" + p.UserRef
		if p.DeviceRef != "" {
			e.Device = p.PartnerID + "/" + p.DeviceRef
		}
	}
	if pl, ok := placeOf(p.City); ok {
		e.HasPlace, e.LatE4, e.LonE4 = true, int32(math.Round(pl.lat*1e4)), int32(math.Round(pl.lon*1e4))
	}
	return e
}
