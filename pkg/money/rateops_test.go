package money

import (
	"math/big"
	"testing"
)

func TestRateOps(t *testing.T) {
	r := MustRate("7.1")
	inv, err := r.Inverse(RoundUp)
	if err != nil || inv.String() != "0.14084507042253521127" {
		t.Fatalf("1/7.1 up = %s, %v", inv, err)
	}
	if down, _ := r.Inverse(RoundDown); down.String() != "0.14084507042253521126" {
		t.Fatalf("1/7.1 down = %s", down)
	}
	cross, err := inv.Mul(MustRate("3400"), RoundUp)
	if err != nil || cross.String() != "478.87323943661971832" {
		t.Fatalf("cross = %s, %v", cross, err)
	}
	if m := MustRate("7.1").Mid(MustRate("7.2")); m.String() != "7.15" {
		t.Fatalf("mid = %s", m)
	}
	if d := MustRate("101").DeviationBps(MustRate("100")); d != 100 {
		t.Fatalf("deviation = %d", d)
	}
	if d := MustRate("100.001").DeviationBps(MustRate("100")); d != 1 {
		t.Fatalf("a sliver of a basis point rounds up: %d", d)
	}
	if m := Median([]Rate{MustRate("3"), MustRate("1"), MustRate("2")}); m.String() != "2" {
		t.Fatalf("median = %s", m)
	}
	if m := Median([]Rate{MustRate("4"), MustRate("1"), MustRate("2"), MustRate("100")}); m.String() != "3" {
		t.Fatalf("even median = %s", m)
	}
	long := MustRate("3574.6478873239436620").WithSpread(100)
	if got := long.Rounded(RoundUp); len(got.String()) > 21 || got.Cmp(long) < 0 {
		t.Fatalf("rounded %s from %s", got, long)
	}
	if _, err := ParseRate(long.Rounded(RoundUp).String()); err != nil {
		t.Fatalf("a rounded rate does not parse back: %v", err)
	}
}

func TestConvertBack(t *testing.T) {
	// 50,000.00 MNT at 487.2 MNT per CNY buys 102.627... CNY: down 102.62.
	got, err := MustRate("487.2").ConvertBack(Amount{"MNT", 5000000}, "CNY", RoundDown)
	if err != nil || got.Minor != 10262 {
		t.Fatalf("got %v, %v", got, err)
	}
	// Exactness against rationals over 0-, 2- and 3-digit currencies.
	for _, c := range []struct{ from, to, rate string }{{"VND", "CNY", "3450.5"}, {"KWD", "JPY", "0.00205"}, {"CNY", "BHD", "18.9"}} {
		a := Amount{c.from, 123456789}
		got, err := MustRate(c.rate).ConvertBack(a, c.to, RoundDown)
		if err != nil {
			t.Fatal(err)
		}
		fd, _ := LookupCurrency(c.from)
		td, _ := LookupCurrency(c.to)
		rate, _ := new(big.Rat).SetString(c.rate)
		exact := new(big.Rat).Quo(new(big.Rat).SetFrac(big.NewInt(a.Minor), pow10(fd.Digits)), rate)
		exact.Mul(exact, new(big.Rat).SetInt(pow10(td.Digits)))
		floor := new(big.Int).Quo(exact.Num(), exact.Denom())
		if got.Minor != floor.Int64() {
			t.Fatalf("%s→%s: %d, want %s", c.from, c.to, got.Minor, floor)
		}
	}
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }
