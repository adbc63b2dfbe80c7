package feed

import (
	"slices"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
)

// FuzzSheet feeds arbitrary bytes to the sheet parser and the row checks:
// they never panic, and a row either passes as a sane rate or is
// rejected for one of the documented reasons.
func FuzzSheet(f *testing.F) {
	f.Add([]byte(`{"provider":"alpha","rates":[{"base":"USD","quote":"CNY","bid":"7.10","ask":"7.11","source_time":"2026-12-02T10:00:00.123Z"}]}`))
	f.Add([]byte(`{"provider":"alpha","rates":[{"base":"XXQ","quote":"CNY","bid":"","ask":"abc","source_time":""}, 7, null, "x"]}`))
	f.Add([]byte(`{"provider":"alpha","rates":[{"base":"USD","quote":"USD","bid":"1e3","ask":"-1","source_time":"2999-01-01T00:00:00+14:00"}]}`))
	f.Add([]byte(`{"provider":"alpha","rates":null}`))
	f.Add([]byte(`[]`))
	reasons := []string{ReasonUnknownCurrency, ReasonSameCurrency, ReasonBadBid, ReasonBadAsk, ReasonMissingSourceTime,
		ReasonBadSourceTime, ReasonFutureSourceTime, ReasonMalformed}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, rows, err := decodeSheet(data)
		if err != nil {
			return
		}
		for _, r := range rows {
			rate, reason := check("alpha", r, now)
			if reason != "" {
				if !slices.Contains(reasons, reason) {
					t.Fatalf("%+v: undocumented reason %q", r, reason)
				}
				continue
			}
			if _, err := money.LookupCurrency(rate.Base); err != nil || rate.Base == rate.Quote {
				t.Fatalf("%+v passed with base %q quote %q", r, rate.Base, rate.Quote)
			}
			if rate.Bid.IsZero() || rate.Ask.IsZero() || rate.SourceTime.After(now.Add(MaxClockSkew)) ||
				rate.SourceTime.Location() != time.UTC {
				t.Fatalf("%+v passed as %+v", r, rate)
			}
		}
	})
}
