package sqlstore

import (
	"context"
	"errors"
	"fmt"
)

// ErrFenced is returned by CheckFence when a newer term holds the fence.
var ErrFenced = errors.New("sqlstore: a newer term holds the fence")

// ClaimFence raises the fence name, a row of table (columns name and
// revision), to rev, the election revision of a newly elected singleton,
// and reports true; false if a newer revision holds it. table is a
// constant of the caller's schema, never input.
func (db *DB) ClaimFence(ctx context.Context, table, name string, rev int64) (bool, error) {
	var ok bool
	err := db.InTx(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (name, revision) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revision = $1 WHERE name = $2 AND revision <= $1`, rev, name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim fence %s: %w", name, err)
	}
	return ok, nil
}

// CheckFence returns an error matching ErrFenced unless rev is the newest
// claim of the fence name in table, read with q (the transaction whose
// writes the fence guards).
func CheckFence(ctx context.Context, q Querier, table, name string, rev int64) error {
	var holds int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE name = $1 AND revision = $2`, name, rev).Scan(&holds); err != nil {
		return err
	}
	if holds != 1 {
		return fmt.Errorf("%w: %s at revision %d", ErrFenced, name, rev)
	}
	return nil
}
