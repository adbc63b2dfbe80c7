package money

import (
	"fmt"

	"github.com/cockroachdb/apd/v3"
)

// maxRateDigits is the most significant digits a Rate holds (ParseRate's
// bound).
const maxRateDigits = 20

// Scale returns r × num / den: exactly when the quotient has at most 20
// significant digits (a bid r × (20000 − bps) / 20000 of a rate with up to
// 14 digits always has), otherwise rounded to 20 significant digits by mode
// (RoundDown for a bid, RoundUp for an ask). It fails with ErrBadRate if r
// is the zero Rate, den is zero or the result is not positive.
func (r Rate) Scale(num, den int64, mode Rounding) (Rate, error) {
	if r.IsZero() {
		return Rate{}, fmt.Errorf("%w: no rate", ErrBadRate)
	}
	if den == 0 {
		return Rate{}, fmt.Errorf("%w: scale by %d/0", ErrBadRate, num)
	}
	var product apd.Decimal
	if _, err := decimalContext.Mul(&product, &r.d, apd.New(num, 0)); err != nil {
		return Rate{}, fmt.Errorf("money: scale: %w", err)
	}
	ctx := apd.BaseContext.WithPrecision(maxRateDigits)
	ctx.Rounding = mode.rounder()
	var out apd.Decimal
	if _, err := ctx.Quo(&out, &product, apd.New(den, 0)); err != nil {
		return Rate{}, fmt.Errorf("money: scale: %w", err)
	}
	if out.Sign() <= 0 {
		return Rate{}, fmt.Errorf("%w: %s × %d/%d is not positive", ErrBadRate, r, num, den)
	}
	var reduced apd.Decimal
	reduced.Reduce(&out)
	return Rate{d: reduced}, nil
}
