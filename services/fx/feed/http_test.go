package feed_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unigate/unigate/services/fx/feed"
)

// sheetJSON is a Sheet of rows, followed by the extra raw JSON rows.
func sheetJSON(t *testing.T, provider string, rows []testRow, extra ...string) []byte {
	t.Helper()
	s := feed.Sheet{Provider: provider, Rates: []feed.SheetRate{}}
	for _, r := range rows {
		sr := feed.SheetRate{Base: r.base, Quote: r.quote, Bid: r.bid, Ask: r.ask}
		if !r.noTime {
			sr.SourceTime = feed.FormatSourceTime(t0.Add(r.at))
		}
		s.Rates = append(s.Rates, sr)
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) > 0 {
		data = append(data[:len(data)-2], ","+strings.Join(extra, ",")+"]}"...)
	}
	return data
}

// jsonOnlyRows are rows only JSON can spoil, and why a feed rejects them.
var jsonOnlyRows = []struct{ raw, want string }{
	{`{"base":"USD","quote":"CNY","bid":7.1,"ask":"7.2","source_time":"2026-12-02T10:00:00Z"}`, feed.ReasonMalformed},
	{`"USD/CNY 7.1 7.2"`, feed.ReasonMalformed},
	{`{"base":"USD","quote":"CNY","bid":"7.1","ask":"7.2","source_time":"yesterday"}`, feed.ReasonBadSourceTime},
	{`{"base":"USD","quote":"CNY","bid":"7.1","ask":"7.2","source_time":"2026-12-02T10:00:00"}`, feed.ReasonBadSourceTime},
}

func TestHTTPFeed(t *testing.T) {
	var extra []string
	wantRejects := wantRejected()
	for _, r := range jsonOnlyRows {
		extra = append(extra, r.raw)
		wantRejects = append(wantRejects, r.want)
	}
	// The server answers, in turn: 500, not JSON, the mixed sheet, another
	// provider's sheet, and then the mixed sheet again and again.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Get("provider") != "alpha" {
			http.NotFound(w, r)
			return
		}
		switch calls.Add(1) {
		case 1:
			http.Error(w, "down", http.StatusInternalServerError)
		case 2:
			w.Write([]byte(`{"provider":"alpha","rates":[`))
		case 4:
			w.Write(sheetJSON(t, "beta", mixedRows))
		default:
			w.Write(sheetJSON(t, "alpha", mixedRows, extra...))
		}
	}))
	defer srv.Close()

	f := feed.NewHTTPFeed(srv.Client(), srv.URL+"/rates?provider=alpha", "alpha", 10*time.Millisecond)
	f.Now = fixedClock
	c := newCollector()
	stop := run(t, f, c)
	c.waitFor(t, "two batches", func(b [][]feed.Rate, _ []string) bool { return len(b) >= 2 })
	stop()
	batches, rejects := c.snapshot()
	checkMixed(t, "alpha", batches[0])
	// The same source times again: delivered again.
	if !slices.EqualFunc(batches[0], batches[1], func(a, b feed.Rate) bool { return a.SourceTime.Equal(b.SourceTime) }) {
		t.Fatalf("second batch differs from the first")
	}
	want := append(append([]string{feed.ReasonMalformed, feed.ReasonMalformed}, wantRejects...), feed.ReasonWrongProvider)
	if got := rejects[:min(len(want), len(rejects))]; !slices.Equal(got, want) {
		t.Fatalf("rejected %q, want %q", got, want)
	}
}

func TestHTTPFeedUnavailable(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct {
		name, url, want string
	}{
		{"404", notFound.URL + "/rates", feed.ReasonMalformed},
		{"no server", closed.URL + "/rates", feed.ReasonUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector()
			stop := run(t, feed.NewHTTPFeed(nil, tt.url, "alpha", 10*time.Millisecond), c)
			c.waitFor(t, "three rejects", func(_ [][]feed.Rate, r []string) bool { return len(r) >= 3 })
			stop()
			batches, rejects := c.snapshot()
			if len(batches) != 0 {
				t.Fatalf("delivered %d batches", len(batches))
			}
			for _, r := range rejects {
				if r != tt.want {
					t.Fatalf("rejected %q, want only %q", rejects, tt.want)
				}
			}
		})
	}
}
