package risk

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/risk/model"
)

// LabelledPayment is a resolved case's payment as a training row: the
// analyst's label and the model's features when it was decided.
type LabelledPayment struct {
	PaymentID string
	Fraud     bool
	Features  []float64
}

// LabelledPayments returns the payments of the cases resolved since since
// whose decision ran the model, oldest resolution first: the labelled
// rows the next training set adds (make train-risk LABELS=FILE, with the
// file unigatectl risk labels writes).
func LabelledPayments(ctx context.Context, db *sqlstore.DB, since time.Time) ([]LabelledPayment, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.payment_id, c.label, d.features FROM risk_cases c
		JOIN risk_decisions d ON d.payment_id = c.payment_id
		WHERE c.state = 'RESOLVED' AND c.update_time >= $1 AND d.features <> ''
		ORDER BY c.update_time, c.payment_id`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("risk: labelled payments: %w", err)
	}
	defer rows.Close()
	var out []LabelledPayment
	for rows.Next() {
		var (
			l            LabelledPayment
			label, feats string
		)
		if err := rows.Scan(&l.PaymentID, &label, &feats); err != nil {
			return nil, err
		}
		parts := strings.Split(feats, ",")
		if len(parts) != int(model.NumFeatures) {
			continue // decided with another model's features
		}
		l.Features = make([]float64, len(parts))
		for i, p := range parts {
			if l.Features[i], err = strconv.ParseFloat(p, 64); err != nil {
				return nil, fmt.Errorf("risk: features of %s: %w", l.PaymentID, err)
			}
		}
		l.Fraud = label == LabelFraud
		out = append(out, l)
	}
	return out, rows.Err()
}
