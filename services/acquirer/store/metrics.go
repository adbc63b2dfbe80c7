package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/unigate/unigate/services/acquirer"
)

// Backlog reads the acquirer's backlog through the partial indexes of the scheduled
// and of the unposted rows, so its cost follows the backlog, not the
// table.
func (s *SQLStore) Backlog(ctx context.Context) (acquirer.Backlog, error) {
	var b acquirer.Backlog
	const processing = `FROM acq_payments WHERE next_attempt_time IS NOT NULL AND status = 'PROCESSING'`
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) `+processing).Scan(&b.Processing); err != nil {
		return acquirer.Backlog{}, fmt.Errorf("acquirer: backlog: %w", err)
	}
	err := s.db.QueryRowContext(ctx, `SELECT create_time `+processing+` ORDER BY create_time LIMIT 1`).Scan(&b.Oldest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return acquirer.Backlog{}, fmt.Errorf("acquirer: backlog: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM acq_payments
		WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE AND posting_error = ''`).Scan(&b.Unposted)
	if err != nil {
		return acquirer.Backlog{}, fmt.Errorf("acquirer: backlog: %w", err)
	}
	return b, nil
}
