package money

import (
	"errors"
	"testing"
)

func TestRateScale(t *testing.T) {
	tests := []struct {
		rate     string
		num, den int64
		mode     Rounding
		want     string
	}{
		{"7.1", 19985, 20000, RoundDown, "7.094675"}, // 7.1 × (1 − 7.5 bps)
		{"7.1", 20015, 20000, RoundUp, "7.105325"},
		{"3390", 19970, 20000, RoundDown, "3384.915"},
		{"0.3075", 1, 1, RoundHalfEven, "0.3075"},
		{"1", 1, 3, RoundDown, "0.33333333333333333333"},
		{"1", 1, 3, RoundUp, "0.33333333333333333334"},
		{"2", 1, 3, RoundHalfEven, "0.66666666666666666667"},
	}
	for _, tt := range tests {
		got, err := MustRate(tt.rate).Scale(tt.num, tt.den, tt.mode)
		if err != nil {
			t.Fatalf("%s × %d/%d: %v", tt.rate, tt.num, tt.den, err)
		}
		if got.String() != tt.want {
			t.Errorf("%s × %d/%d = %s, want %s", tt.rate, tt.num, tt.den, got, tt.want)
		}
		if _, err := ParseRate(got.String()); err != nil {
			t.Errorf("%s × %d/%d = %s does not parse back: %v", tt.rate, tt.num, tt.den, got, err)
		}
	}
	for _, bad := range []struct{ num, den int64 }{{1, 0}, {0, 1}, {-1, 1}} {
		if _, err := MustRate("7.1").Scale(bad.num, bad.den, RoundDown); !errors.Is(err, ErrBadRate) {
			t.Errorf("× %d/%d: err %v, want ErrBadRate", bad.num, bad.den, err)
		}
	}
	if _, err := (Rate{}).Scale(1, 1, RoundDown); !errors.Is(err, ErrBadRate) {
		t.Errorf("zero rate: err %v, want ErrBadRate", err)
	}
}
