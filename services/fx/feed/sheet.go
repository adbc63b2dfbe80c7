package feed

import (
	"encoding/json"
	"time"
)

// Sheet is the JSON document an HTTP feed fetches and a file feed reads:
// one provider's latest rates.
//
//	{"provider":"alpha","rates":[{"base":"USD","quote":"CNY","bid":"7.10","ask":"7.11","source_time":"2026-12-02T10:00:00.123Z"}]}
type Sheet struct {
	// Provider names the provider that priced the rates; it must be the
	// feed's.
	Provider string `json:"provider"`
	// Rates are the prices, one per currency pair.
	Rates []SheetRate `json:"rates"`
}

// SheetRate is one row of a Sheet. Every field is a JSON string.
type SheetRate struct {
	// Base and Quote are ISO 4217 codes ("USD", "CNY").
	Base  string `json:"base"`
	Quote string `json:"quote"`
	// Bid and Ask are plain positive decimals, units of Quote per one unit
	// of Base ("7.1012"): no sign, no exponent, at most 20 significant
	// digits.
	Bid string `json:"bid"`
	Ask string `json:"ask"`
	// SourceTime is when the provider priced the pair, RFC 3339 with a
	// zone and optional fractional seconds ("2026-12-02T10:00:00.123Z").
	SourceTime string `json:"source_time"`
}

// FormatSourceTime formats t as a SheetRate's SourceTime: RFC 3339 in UTC
// with as many fractional digits as t needs.
func FormatSourceTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// maxSheetBytes bounds a sheet read over HTTP or from a file.
const maxSheetBytes = 4 << 20

// sheetEnvelope decodes a Sheet's rows one by one, so that one bad row
// does not spoil the others.
type sheetEnvelope struct {
	Provider string            `json:"provider"`
	Rates    []json.RawMessage `json:"rates"`
}

// decodeSheet parses a Sheet into the provider it names and its rows, each
// still to be checked. It fails only if data is not a JSON object with a
// string provider and an array of rates.
func decodeSheet(data []byte) (provider string, rows []row, err error) {
	var env sheetEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return "", nil, err
	}
	rows = make([]row, 0, len(env.Rates))
	for _, raw := range env.Rates {
		var sr SheetRate
		if err := json.Unmarshal(raw, &sr); err != nil {
			rows = append(rows, row{malformed: true})
			continue
		}
		r := row{base: sr.Base, quote: sr.Quote, bid: sr.Bid, ask: sr.Ask}
		if sr.SourceTime != "" {
			t, err := time.Parse(time.RFC3339Nano, sr.SourceTime)
			r.sourceTime, r.badTime = t, err != nil
		}
		rows = append(rows, r)
	}
	return env.Provider, rows, nil
}
