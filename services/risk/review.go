package risk

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// reviewBatch bounds the decisions one pass of OpenReviewCases opens cases
// for.
const reviewBatch = 500

// OpenReviewCasesOnce opens a case for every decision in review made since
// since that has none yet, and returns how many it opened. The decision
// row is the durable record that a case is owed: a replica that dies
// between deciding and opening leaves the case to the next pass, of any
// replica, and Cases.Open makes opening one twice harmless.
func OpenReviewCasesOnce(ctx context.Context, db *sqlstore.DB, cases *Cases, since time.Time) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT d.payment_id, d.partner_id, d.user_ref, d.device_ref, d.merchant, d.score_bp, d.reasons
		FROM risk_decisions d
		WHERE d.outcome = 'REVIEW' AND d.create_time >= $1
			AND NOT EXISTS (SELECT 1 FROM risk_cases c WHERE c.payment_id = d.payment_id)
		ORDER BY d.create_time LIMIT $2`, since.UTC(), reviewBatch)
	if err != nil {
		return 0, fmt.Errorf("risk: decisions in review: %w", err)
	}
	var owed []Case
	for rows.Next() {
		var (
			c       Case
			reasons string
		)
		if err := rows.Scan(&c.PaymentID, &c.PartnerID, &c.UserRef, &c.DeviceRef, &c.Merchant, &c.ScoreBP, &reasons); err != nil {
			rows.Close()
			return 0, err
		}
		var rs []Reason
		if err := json.Unmarshal([]byte(reasons), &rs); err != nil {
			rows.Close()
			return 0, fmt.Errorf("risk: reasons of %s: %w", c.PaymentID, err)
		}
		for _, r := range rs {
			c.Reasons = append(c.Reasons, r.String())
		}
		owed = append(owed, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i, c := range owed {
		if _, err := cases.Open(ctx, c); err != nil {
			return i, err
		}
	}
	return len(owed), nil
}

// String renders a reason for a case: the rule id, what it asked for and
// its detail.
func (r Reason) String() string {
	s := r.RuleID
	if r.Shadow {
		s += " (shadow)"
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// reviewLookback is how far back OpenReviewCases looks when it starts:
// decisions in review older than that without a case are beyond a pass
// that failed for a week.
const reviewLookback = 7 * 24 * time.Hour

// OpenReviewCases runs OpenReviewCasesOnce every interval until ctx ends,
// each pass from a little before the previous one's start (decisions are
// stamped by the replica that made them; clocks differ).
func OpenReviewCases(ctx context.Context, db *sqlstore.DB, cases *Cases, interval time.Duration, report func(error)) {
	since := time.Now().Add(-reviewLookback)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		n, err := OpenReviewCasesOnce(ctx, db, cases, since)
		switch {
		case err != nil:
			if report != nil && ctx.Err() == nil {
				report(err)
			}
		case n < reviewBatch:
			since = start.Add(-time.Minute)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
