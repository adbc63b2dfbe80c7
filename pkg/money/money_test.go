package money

import (
	"errors"
	"testing"
)

func TestLookupCurrency(t *testing.T) {
	for _, tc := range []struct {
		code, numeric string
		digits        int
	}{
		{"CNY", "156", 2}, {"MNT", "496", 2}, {"VND", "704", 0}, {"JPY", "392", 0}, {"KWD", "414", 3}, {"SGD", "702", 2},
	} {
		t.Run(tc.code, func(t *testing.T) {
			c, err := LookupCurrency(tc.code)
			if err != nil {
				t.Fatal(err)
			}
			if c.Numeric != tc.numeric || c.Digits != tc.digits {
				t.Fatalf("got %+v, want numeric %s digits %d", c, tc.numeric, tc.digits)
			}
			byNum, err := CurrencyByNumeric(tc.numeric)
			if err != nil || byNum.Code != tc.code {
				t.Fatalf("CurrencyByNumeric(%s) = %+v, %v", tc.numeric, byNum, err)
			}
		})
	}
	for _, bad := range []string{"", "cny", "XXXX", "ZZZ", "12"} {
		if _, err := LookupCurrency(bad); !errors.Is(err, ErrUnknownCurrency) {
			t.Errorf("LookupCurrency(%q) = %v, want ErrUnknownCurrency", bad, err)
		}
	}
}

func TestParseMajor(t *testing.T) {
	for _, tc := range []struct {
		code, in string
		want     int64
		err      bool
	}{
		{"CNY", "12.50", 1250, false},
		{"CNY", "12.5", 1250, false},
		{"CNY", "12", 1200, false},
		{"CNY", ".5", 50, false},
		{"CNY", "0.001", 0, true},
		{"CNY", "0", 0, true},
		{"CNY", "-1", 0, true},
		{"CNY", "1e3", 0, true},
		{"CNY", "1,00", 0, true},
		{"CNY", "", 0, true},
		{"CNY", ".", 0, true},
		{"VND", "25000", 25000, false},
		{"VND", "25000.5", 0, true},
		{"KWD", "1.234", 1234, false},
		{"CNY", "99999999999999999999", 0, true},
	} {
		t.Run(tc.code+"/"+tc.in, func(t *testing.T) {
			got, err := ParseMajor(tc.code, tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil || got.Minor != tc.want {
				t.Fatalf("got %v, %v; want %d", got, err, tc.want)
			}
			if back, err := ParseMajor(tc.code, got.Major()); err != nil || back != got {
				t.Fatalf("Major round trip: %q -> %v, %v", got.Major(), back, err)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		name   string
		amount Amount
		rate   string
		to     string
		mode   Rounding
		want   int64
	}{
		// 100.00 CNY at 480.25 MNT/CNY = 48,025.00 MNT.
		{"exact", Amount{"CNY", 10000}, "480.25", "MNT", RoundUp, 4802500},
		// 0.01 CNY at 480.255 = 4.80255 MNT: up 4.81, half-even 4.80, down 4.80.
		{"up", Amount{"CNY", 1}, "480.255", "MNT", RoundUp, 481},
		{"half-even", Amount{"CNY", 1}, "480.255", "MNT", RoundHalfEven, 480},
		{"down", Amount{"CNY", 1}, "480.255", "MNT", RoundDown, 480},
		// To a zero-digit currency: 12.34 CNY at 3450.5 VND/CNY = 42,579.17 VND.
		{"vnd", Amount{"CNY", 1234}, "3450.5", "VND", RoundUp, 42580},
		// To a three-digit currency: 100.00 CNY at 0.0425 KWD/CNY = 4.250 KWD.
		{"kwd", Amount{"CNY", 10000}, "0.0425", "KWD", RoundHalfEven, 4250},
		// Half-even on an exact tie: 0.05 CNY at 0.5 = 0.025 -> 0.02 SGD.
		{"tie", Amount{"CNY", 5}, "0.5", "SGD", RoundHalfEven, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MustRate(tc.rate).Convert(tc.amount, tc.to, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			if got.Minor != tc.want || got.Currency != tc.to {
				t.Fatalf("got %v (%d), want %d %s", got, got.Minor, tc.want, tc.to)
			}
		})
	}
	if _, err := MustRate("0.0001").Convert(Amount{"CNY", 1}, "MNT", RoundDown); !errors.Is(err, ErrBadAmount) {
		t.Fatalf("sub-minor conversion: got %v, want ErrBadAmount", err)
	}
	if _, err := MustRate("1000000").Convert(Amount{"CNY", MaxMinorUnits}, "MNT", RoundDown); !errors.Is(err, ErrBadAmount) {
		t.Fatalf("overflowing conversion: got %v, want ErrBadAmount", err)
	}
}

func TestRate(t *testing.T) {
	for _, bad := range []string{"", "0", "-1", "1e2", "abc", "NaN", "Infinity", "1.2.3"} {
		if _, err := ParseRate(bad); !errors.Is(err, ErrBadRate) {
			t.Errorf("ParseRate(%q) = %v, want ErrBadRate", bad, err)
		}
	}
	if got := MustRate("480.00").WithSpread(150).String(); got != "487.2" {
		t.Fatalf("480 + 150 bps = %s, want 487.2", got)
	}
	if got := MustRate("0.1234").WithSpread(0).String(); got != "0.1234" {
		t.Fatalf("zero spread changed the rate: %s", got)
	}
}

func TestSum(t *testing.T) {
	s, err := Sum(Amount{"CNY", 1}, Amount{"CNY", 2})
	if err != nil || s.Minor != 3 {
		t.Fatalf("Sum = %v, %v", s, err)
	}
	if _, err := Sum(Amount{"CNY", 1}, Amount{"MNT", 2}); !errors.Is(err, ErrCurrencyMismatch) {
		t.Fatalf("mixed Sum: %v", err)
	}
	if _, err := Sum(Amount{"CNY", 1 << 62}, Amount{"CNY", 1 << 62}); !errors.Is(err, ErrBadAmount) {
		t.Fatalf("overflowing Sum: %v", err)
	}
}
