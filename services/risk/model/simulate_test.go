package model

import (
	"math"
	"reflect"
	"testing"
)

// TestSimulateDeterministic: a seed gives the same examples every time,
// exactly as many as asked; another seed gives another world.
func TestSimulateDeterministic(t *testing.T) {
	for _, n := range []int{1, 10, 3000} {
		a, b := Simulate(7, n), Simulate(7, n)
		if len(a) != n {
			t.Fatalf("Simulate(7, %d) gave %d examples", n, len(a))
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("Simulate(7, %d) differs between two calls", n)
		}
	}
	if reflect.DeepEqual(Simulate(7, 100), Simulate(8, 100)) {
		t.Error("seeds 7 and 8 give the same examples")
	}
	if got := Simulate(7, 0); len(got) != 0 {
		t.Errorf("Simulate(7, 0) gave %d examples", len(got))
	}
}

// TestSimulatedFeatures: every feature is in its documented range, and
// each fraud pattern shows the behaviour docs/risk-model.md describes.
func TestSimulatedFeatures(t *testing.T) {
	ex := Simulate(TestSeed, TestRows)
	var count [NumPatterns]int
	var maxDormancy float64
	var fastTravel int
	for i, e := range ex {
		f := e.Features
		if len(f) != NumFeatures {
			t.Fatalf("example %d has %d features", i, len(f))
		}
		if e.Fraud != (e.Pattern != Normal) {
			t.Fatalf("example %d: pattern %v labelled fraud=%v", i, e.Pattern, e.Fraud)
		}
		count[e.Pattern]++
		for _, c := range []struct {
			feature int
			ok      bool
		}{
			{Hour, f[Hour] >= 0 && f[Hour] <= 23 && f[Hour] == math.Trunc(f[Hour])},
			{UserCount1m, f[UserCount1m] >= 1 && f[UserCount1m] <= f[UserCount1h] && f[UserCount1h] <= f[UserCount24h]},
			{LogUserSum24hUSD, f[LogUserSum24hUSD] >= f[LogAmountUSD]-1e-12},
			{NewDevice, f[NewDevice] == 0 || f[NewDevice] == 1 && f[DeviceAgeDays] == 0},
			{DeviceAgeDays, f[DeviceAgeDays] >= 0},
			{MinutesSinceLast, f[MinutesSinceLast] >= 0 && f[MinutesSinceLast] <= 1440},
			{SpeedKmh, math.Abs(f[SpeedKmh]-f[KmFromLast]/(math.Max(f[MinutesSinceLast], 5)/60)) < 1e-6*math.Max(1, f[SpeedKmh]) || f[MinutesSinceLast] == 1440},
			{DaysSincePrev, f[DaysSincePrev] >= 0 && f[DaysSincePrev] <= 365},
			{MerchantUsers24h, f[MerchantUsers24h] >= 1 && f[MerchantCount1h] >= 1},
			{RoundAmount, f[RoundAmount] == 0 || f[RoundAmount] == 1},
			{MCCRisk, f[MCCRisk] == 0 || f[MCCRisk] == 1 || f[MCCRisk] == 2},
		} {
			if !c.ok {
				t.Fatalf("example %d (%v): %s out of range: %v", i, e.Pattern, FeatureNames[c.feature], f)
			}
		}
		usd := math.Expm1(f[LogAmountUSD]) / 100
		switch e.Pattern {
		case ProbeBurst:
			if usd > 3.01 && usd < 150 {
				t.Fatalf("example %d: a probe burst of %.2f dollars", i, usd)
			}
		case NewDeviceHighAmount:
			if usd < 150 {
				t.Fatalf("example %d: a new-device payment of %.2f dollars", i, usd)
			}
		case MerchantCollusion:
			if f[RoundAmount] != 1 || f[MerchantUsers24h] > 6 {
				t.Fatalf("example %d: collusion with round=%v and %v users at the merchant", i, f[RoundAmount], f[MerchantUsers24h])
			}
		case DormantTakeover:
			maxDormancy = math.Max(maxDormancy, f[DaysSincePrev])
		case ImpossibleTravel:
			if f[KmFromLast] >= 900 && f[MinutesSinceLast] <= 46 {
				fastTravel++
			}
		}
	}
	for p, n := range count {
		if n == 0 {
			t.Errorf("no example of %v in %d", Pattern(p), len(ex))
		}
	}
	if maxDormancy < 30 {
		t.Errorf("dormant takeovers come after at most %.1f days of silence", maxDormancy)
	}
	// The second payment of an episode is in the same far city as the
	// first, so only most are a jump.
	if fastTravel < count[ImpossibleTravel]/2 {
		t.Errorf("%d of %d impossible-travel payments are 900 km or more within 46 minutes", fastTravel, count[ImpossibleTravel])
	}
	for p := range NumPatterns {
		t.Logf("%-24s %5d (%.2f%%)", p, count[p], 100*float64(count[p])/float64(len(ex)))
	}
}

func TestPatternString(t *testing.T) {
	if got := ImpossibleTravel.String(); got != "impossible_travel" {
		t.Errorf("ImpossibleTravel.String() = %q", got)
	}
	if got := NumPatterns.String(); got != "unknown" {
		t.Errorf("NumPatterns.String() = %q", got)
	}
}

func TestKm(t *testing.T) {
	// Beijing to Shanghai is about 1,070 km; a point to itself is 0.
	if d := km(39.90, 116.40, 31.23, 121.47); d < 1040 || d > 1090 {
		t.Errorf("Beijing-Shanghai %v km", d)
	}
	if d := km(1.35, 103.82, 1.35, 103.82); d != 0 {
		t.Errorf("Singapore-Singapore %v km", d)
	}
}
