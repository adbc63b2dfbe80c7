package money

import (
	"fmt"
	"sort"

	"github.com/cockroachdb/apd/v3"
)

// Rate arithmetic for pricing. Every operation that cannot be exact names
// its rounding: a result is rounded to 20 significant digits (what a Rate
// holds) in the stated direction.

func rateContext(mode Rounding) *apd.Context {
	ctx := apd.BaseContext.WithPrecision(maxRateDigits)
	ctx.Rounding = mode.rounder()
	return ctx
}

func reduced(d *apd.Decimal) Rate {
	var out apd.Decimal
	out.Reduce(d)
	return Rate{d: out}
}

// Mul returns r × o rounded to 20 significant digits by mode: the rate of
// a cross through a third currency (units of C per A = C per B × B per A).
func (r Rate) Mul(o Rate, mode Rounding) (Rate, error) {
	if r.IsZero() || o.IsZero() {
		return Rate{}, fmt.Errorf("%w: no rate", ErrBadRate)
	}
	var out apd.Decimal
	if _, err := rateContext(mode).Mul(&out, &r.d, &o.d); err != nil {
		return Rate{}, fmt.Errorf("money: multiply rates: %w", err)
	}
	return reduced(&out), nil
}

// Inverse returns 1 / r rounded to 20 significant digits by mode: the rate
// of a pair read the other way round.
func (r Rate) Inverse(mode Rounding) (Rate, error) {
	if r.IsZero() {
		return Rate{}, fmt.Errorf("%w: no rate", ErrBadRate)
	}
	var out apd.Decimal
	if _, err := rateContext(mode).Quo(&out, apd.New(1, 0), &r.d); err != nil {
		return Rate{}, fmt.Errorf("money: invert rate: %w", err)
	}
	return reduced(&out), nil
}

// Mid returns (r + o) / 2, rounded half-even to 20 significant digits.
func (r Rate) Mid(o Rate) Rate {
	var sum, out apd.Decimal
	ctx := rateContext(RoundHalfEven)
	ctx.Precision = 60
	if _, err := ctx.Add(&sum, &r.d, &o.d); err != nil {
		panic(err) // cannot happen: finite operands within precision
	}
	if _, err := rateContext(RoundHalfEven).Quo(&out, &sum, apd.New(2, 0)); err != nil {
		panic(err)
	}
	return reduced(&out)
}

// Cmp compares r and o: -1, 0 or +1.
func (r Rate) Cmp(o Rate) int { return r.d.Cmp(&o.d) }

// DeviationBps returns |r − ref| / ref in basis points, rounded up: how
// far r strays from ref.
func (r Rate) DeviationBps(ref Rate) int64 {
	if ref.IsZero() {
		return 0
	}
	var diff, q, bps apd.Decimal
	ctx := apd.BaseContext.WithPrecision(60)
	if _, err := ctx.Sub(&diff, &r.d, &ref.d); err != nil {
		panic(err)
	}
	diff.Abs(&diff)
	if _, err := ctx.Mul(&q, &diff, apd.New(10000, 0)); err != nil {
		panic(err)
	}
	if _, err := ctx.Quo(&q, &q, &ref.d); err != nil {
		panic(err)
	}
	ctx.Rounding = apd.RoundCeiling
	if _, err := ctx.Quantize(&bps, &q, 0); err != nil {
		panic(err)
	}
	n, err := bps.Int64()
	if err != nil {
		return 1 << 62
	}
	return n
}

// Median returns the median of rs (the mean of the middle two, rounded
// half-even, for an even count); the zero Rate for none.
func Median(rs []Rate) Rate {
	if len(rs) == 0 {
		return Rate{}
	}
	s := append([]Rate(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Cmp(s[j]) < 0 })
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1].Mid(s[n/2])
}

// ConvertBack returns the amount of currency to that a buys at rate r
// (units of a's currency per unit of to): a / r, rounded to to's minor
// units by mode. It is Convert read the other way: what a fixed payment
// in a's currency is worth in to.
func (r Rate) ConvertBack(a Amount, to string, mode Rounding) (Amount, error) {
	return r.convert(a, to, mode, decimalContext.Quo)
}

// One is the rate 1: a currency in itself.
var One = MustRate("1")

// Rounded returns r rounded to 20 significant digits by mode, so that it
// can be stored and parsed back (ParseRate's bound); r itself when it has
// no more digits.
func (r Rate) Rounded(mode Rounding) Rate {
	if r.d.NumDigits() <= maxRateDigits {
		return r
	}
	var out apd.Decimal
	if _, err := rateContext(mode).Round(&out, &r.d); err != nil {
		panic(err) // cannot happen: a finite decimal
	}
	return reduced(&out)
}
