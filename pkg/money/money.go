// Package money holds exact amounts and exchange rates.
//
// An Amount is an integer count of minor units of an ISO 4217 currency. A
// Rate is an exact decimal (github.com/cockroachdb/apd/v3). Conversions name
// their rounding rule. Floats are never used. Currency metadata (minor-unit
// digits, numeric codes) comes from github.com/bojanz/currency, which tracks
// ISO 4217 through CLDR.
package money

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/bojanz/currency"
	"github.com/cockroachdb/apd/v3"
)

// MaxMinorUnits bounds every amount Unigate accepts: 10^15 minor units is
// far above any retail payment and keeps all arithmetic inside int64 with
// room for sums.
const MaxMinorUnits = 1_000_000_000_000_000

var (
	// ErrUnknownCurrency is returned for a code that is not ISO 4217.
	ErrUnknownCurrency = errors.New("money: unknown currency")
	// ErrBadAmount is returned for a malformed, non-positive or too large amount.
	ErrBadAmount = errors.New("money: bad amount")
	// ErrBadRate is returned for a malformed or non-positive rate.
	ErrBadRate = errors.New("money: bad rate")
	// ErrCurrencyMismatch is returned when amounts of different currencies meet.
	ErrCurrencyMismatch = errors.New("money: currency mismatch")
)

// Currency is an ISO 4217 currency.
type Currency struct {
	// Code is the alphabetic code, "CNY".
	Code string
	// Numeric is the three-digit numeric code, "156", as EMVCo codes carry it.
	Numeric string
	// Digits is the number of minor-unit digits: CNY 2, VND 0, KWD 3.
	Digits int
}

var byNumeric = func() map[string]string {
	m := make(map[string]string)
	for _, code := range currency.GetCurrencyCodes() {
		if n, ok := currency.GetNumericCode(code); ok {
			m[n] = code
		}
	}
	return m
}()

// LookupCurrency returns the currency with alphabetic code code.
func LookupCurrency(code string) (Currency, error) {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return Currency{}, fmt.Errorf("%w: %q is not a three-letter upper-case code", ErrUnknownCurrency, code)
	}
	digits, ok := currency.GetDigits(code)
	if !ok {
		return Currency{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
	}
	num, _ := currency.GetNumericCode(code)
	return Currency{Code: code, Numeric: num, Digits: int(digits)}, nil
}

// CurrencyByNumeric returns the currency with numeric code num ("156").
func CurrencyByNumeric(num string) (Currency, error) {
	code, ok := byNumeric[num]
	if !ok {
		return Currency{}, fmt.Errorf("%w: numeric code %q", ErrUnknownCurrency, num)
	}
	return LookupCurrency(code)
}

// Amount is an exact amount of money in minor units.
type Amount struct {
	Currency string
	Minor    int64
}

// New returns a positive amount after checking its currency and bounds.
func New(code string, minor int64) (Amount, error) {
	if _, err := LookupCurrency(code); err != nil {
		return Amount{}, err
	}
	if minor <= 0 {
		return Amount{}, fmt.Errorf("%w: %d is not positive", ErrBadAmount, minor)
	}
	if minor > MaxMinorUnits {
		return Amount{}, fmt.Errorf("%w: %d is above the maximum %d", ErrBadAmount, minor, int64(MaxMinorUnits))
	}
	return Amount{Currency: code, Minor: minor}, nil
}

// ParseMajor parses a decimal amount in major units ("12.50") exactly. It
// refuses more fractional digits than the currency has, signs, exponents and
// anything that is not a plain decimal.
func ParseMajor(code, s string) (Amount, error) {
	cur, err := LookupCurrency(code)
	if err != nil {
		return Amount{}, err
	}
	if s == "" || strings.ContainsAny(s, "+-eE_ ") {
		return Amount{}, fmt.Errorf("%w: %q is not a plain decimal", ErrBadAmount, s)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" && whole == "" {
		return Amount{}, fmt.Errorf("%w: %q is not a plain decimal", ErrBadAmount, s)
	}
	if len(frac) > cur.Digits {
		return Amount{}, fmt.Errorf("%w: %q has more than %d fractional digits for %s", ErrBadAmount, s, cur.Digits, code)
	}
	digits := whole + frac + strings.Repeat("0", cur.Digits-len(frac))
	if len(digits) > 18 {
		return Amount{}, fmt.Errorf("%w: %q is too large", ErrBadAmount, s)
	}
	var minor int64
	for _, r := range digits {
		if r < '0' || r > '9' {
			return Amount{}, fmt.Errorf("%w: %q is not a plain decimal", ErrBadAmount, s)
		}
		minor = minor*10 + int64(r-'0')
	}
	return New(code, minor)
}

// Major formats the amount in major units with the currency's digits
// ("12.50" for 1250 CNY, "1250" for 1250 VND).
func (a Amount) Major() string {
	cur, err := LookupCurrency(a.Currency)
	if err != nil {
		return fmt.Sprintf("%d", a.Minor)
	}
	return a.decimal(cur).Text('f')
}

// String formats the amount as "12.50 CNY".
func (a Amount) String() string { return a.Major() + " " + a.Currency }

func (a Amount) decimal(cur Currency) *apd.Decimal {
	return apd.New(a.Minor, -int32(cur.Digits))
}

// Rounding names how a converted amount is brought to whole minor units.
type Rounding int

const (
	// RoundHalfEven rounds to the nearest minor unit, ties to even.
	RoundHalfEven Rounding = iota
	// RoundUp rounds towards +infinity (ceiling): what a payer is charged.
	RoundUp
	// RoundDown rounds towards zero (floor for positive amounts).
	RoundDown
)

func (r Rounding) rounder() apd.Rounder {
	switch r {
	case RoundUp:
		return apd.RoundCeiling
	case RoundDown:
		return apd.RoundDown
	default:
		return apd.RoundHalfEven
	}
}

// decimalContext is precise enough for any product of an amount below
// MaxMinorUnits and a rate with up to 20 significant digits.
var decimalContext = apd.BaseContext.WithPrecision(60)

// Rate is an exact, positive exchange rate: units of the target currency
// per unit of the source currency (major units).
type Rate struct{ d apd.Decimal }

// ParseRate parses a positive decimal rate ("199.25", "0.0021").
func ParseRate(s string) (Rate, error) {
	if s == "" || strings.ContainsAny(s, "eE+-_ ") {
		return Rate{}, fmt.Errorf("%w: %q is not a plain decimal", ErrBadRate, s)
	}
	d, _, err := apd.NewFromString(s)
	if err != nil || d.Form != apd.Finite {
		return Rate{}, fmt.Errorf("%w: %q is not a plain decimal", ErrBadRate, s)
	}
	if d.Sign() <= 0 {
		return Rate{}, fmt.Errorf("%w: %q is not positive", ErrBadRate, s)
	}
	if d.NumDigits() > 20 {
		return Rate{}, fmt.Errorf("%w: %q has more than 20 significant digits", ErrBadRate, s)
	}
	return Rate{d: *d}, nil
}

// MustRate is ParseRate for constants in tests and defaults; it panics on a
// malformed rate.
func MustRate(s string) Rate {
	r, err := ParseRate(s)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns the rate without trailing zeros ("199.5").
func (r Rate) String() string {
	var d apd.Decimal
	d.Reduce(&r.d)
	return d.Text('f')
}

// IsZero reports whether r is the zero value (no rate).
func (r Rate) IsZero() bool { return r.d.IsZero() }

// WithSpread returns r increased by bps basis points: r × (10000 + bps) / 10000,
// exactly.
func (r Rate) WithSpread(bps int) Rate {
	var out apd.Decimal
	factor := apd.New(int64(10000+bps), -4)
	if _, err := decimalContext.Mul(&out, &r.d, factor); err != nil {
		panic(err) // cannot happen: finite operands within precision
	}
	return Rate{d: out}
}

// Convert converts a into currency to at rate r (units of to per unit of
// a's currency), rounded to to's minor units by mode. It fails if the result
// rounds to zero or exceeds MaxMinorUnits.
func (r Rate) Convert(a Amount, to string, mode Rounding) (Amount, error) {
	return r.convert(a, to, mode, decimalContext.Mul)
}

// convert applies op (multiply or divide by the rate) to a in major
// units, scales the result to to's minor units and rounds it by mode.
func (r Rate) convert(a Amount, to string, mode Rounding, op func(d, x, y *apd.Decimal) (apd.Condition, error)) (Amount, error) {
	from, err := LookupCurrency(a.Currency)
	if err != nil {
		return Amount{}, err
	}
	dst, err := LookupCurrency(to)
	if err != nil {
		return Amount{}, err
	}
	if r.IsZero() {
		return Amount{}, fmt.Errorf("%w: no rate", ErrBadRate)
	}
	var v apd.Decimal
	if _, err := op(&v, a.decimal(from), &r.d); err != nil {
		return Amount{}, fmt.Errorf("money: convert: %w", err)
	}
	// Scale to minor units of the target, then round to an integer.
	v.Exponent += int32(dst.Digits)
	ctx := *decimalContext
	ctx.Rounding = mode.rounder()
	var minor apd.Decimal
	if _, err := ctx.Quantize(&minor, &v, 0); err != nil {
		return Amount{}, fmt.Errorf("money: convert: %w", err)
	}
	n, err := minor.Int64()
	if err != nil || n > MaxMinorUnits {
		return Amount{}, fmt.Errorf("%w: %s %s at %s is too large", ErrBadAmount, a.Major(), a.Currency, r)
	}
	if n <= 0 {
		return Amount{}, fmt.Errorf("%w: %s %s at %s is less than one minor unit of %s", ErrBadAmount, a.Major(), a.Currency, r, to)
	}
	return Amount{Currency: to, Minor: n}, nil
}

// checkedAdd adds two int64 values and reports overflow.
func checkedAdd(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

// Sum adds amounts of one currency, failing on a mix of currencies or on
// overflow.
func Sum(amounts ...Amount) (Amount, error) {
	if len(amounts) == 0 {
		return Amount{}, nil
	}
	total := Amount{Currency: amounts[0].Currency}
	for _, a := range amounts {
		if a.Currency != total.Currency {
			return Amount{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, total.Currency, a.Currency)
		}
		var ok bool
		if total.Minor, ok = checkedAdd(total.Minor, a.Minor); !ok {
			return Amount{}, fmt.Errorf("%w: sum overflows", ErrBadAmount)
		}
	}
	return total, nil
}
