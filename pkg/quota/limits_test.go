package quota

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limits
		want string // substring of the error; "" for valid
	}{
		{"no limits", Limits{}, ""},
		{"all set", Limits{RatePerSecond: 0.5, Burst: 3, MaxConcurrent: 8, MaxStreams: 2}, ""},
		{"rate without burst", Limits{RatePerSecond: 10}, ""},
		{"negative rate", Limits{RatePerSecond: -1}, "rate_per_second"},
		{"NaN rate", Limits{RatePerSecond: math.NaN()}, "rate_per_second"},
		{"infinite rate", Limits{RatePerSecond: math.Inf(1)}, "rate_per_second"},
		{"negative burst", Limits{RatePerSecond: 1, Burst: -1}, "burst"},
		{"burst without rate", Limits{Burst: 5}, "needs a rate_per_second"},
		{"negative concurrency", Limits{MaxConcurrent: -1}, "max_concurrent"},
		{"negative streams", Limits{MaxStreams: -2}, "max_streams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate(%+v) = %v, want %q", tc.l, err, tc.want)
			}
		})
	}
	if err := (Limits{MaxConcurrent: -1, MaxStreams: -1}).Validate(); !strings.Contains(err.Error(), "max_concurrent") || !strings.Contains(err.Error(), "max_streams") {
		t.Fatalf("Validate reports only %v", err)
	}
}

func TestLimitsFromJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Limits
		err  string
	}{
		{"all fields", `{"rate_per_second": 2.5, "burst": 5, "max_concurrent": 8, "max_streams": 2}`,
			Limits{RatePerSecond: 2.5, Burst: 5, MaxConcurrent: 8, MaxStreams: 2}, ""},
		{"empty object is no limits", ` {} `, Limits{}, ""},
		{"some fields", `{"max_streams": 1}`, Limits{MaxStreams: 1}, ""},
		{"unknown field", `{"rate_per_sec": 2}`, Limits{}, "unknown field"},
		{"trailing data", `{"burst": 1, "rate_per_second": 1} {}`, Limits{}, "after the object"},
		{"null", ` null `, Limits{}, "null"},
		{"empty", ``, Limits{}, "EOF"},
		{"fractional burst", `{"rate_per_second": 1, "burst": 1.5}`, Limits{}, "burst"},
		{"invalid", `{"max_concurrent": -3}`, Limits{}, "max_concurrent"},
		{"not an object", `[1]`, Limits{}, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LimitsFromJSON([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("LimitsFromJSON = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzLimitsFromJSON: whatever LimitsFromJSON accepts is valid and
// survives a round trip through its stored form.
func FuzzLimitsFromJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"rate_per_second": 1e9, "burst": 3}`, `{"max_streams": 0}`, `null`, `{"burst": -1}`, `{"rate_per_second": 1e-300}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := LimitsFromJSON(data)
		if err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("accepted invalid %+v: %v", l, err)
		}
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		back, err := LimitsFromJSON(out)
		if err != nil || back != l {
			t.Fatalf("round trip of %+v: %+v, %v", l, back, err)
		}
		// Any accepted limits are usable without overflow.
		if interval, capacity, ok := bucketShape(l); ok && (interval <= 0 || capacity < interval) {
			t.Fatalf("bucketShape(%+v) = %v, %v", l, interval, capacity)
		}
	})
}
