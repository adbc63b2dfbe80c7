package feed_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/unigate/unigate/services/fx/feed"
)

// writeSheet replaces the file at path with data, as an operator should:
// a temporary file renamed over it.
func writeSheet(t *testing.T, path string, data []byte, mod time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileFeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rates.json")
	f := feed.NewFileFeed(path, "alpha", 10*time.Millisecond)
	f.Now = fixedClock
	c := newCollector()
	run(t, f, c)

	// No file yet: unavailable, again and again.
	c.waitFor(t, "two unavailable rejects", func(_ [][]feed.Rate, r []string) bool { return len(r) >= 2 })
	if _, r := c.snapshot(); !slices.Equal(slices.Compact(r), []string{feed.ReasonUnavailable}) {
		t.Fatalf("rejected %q, want only %q", r, feed.ReasonUnavailable)
	}

	// The sheet appears: delivered once, however often the feed looks.
	mod := t0.Add(-time.Hour)
	writeSheet(t, path, sheetJSON(t, "alpha", mixedRows), mod)
	c.waitFor(t, "the sheet", func(b [][]feed.Rate, _ []string) bool { return len(b) == 1 })
	time.Sleep(100 * time.Millisecond) // ten intervals
	batches, _ := c.snapshot()
	if len(batches) != 1 {
		t.Fatalf("an unchanged sheet was delivered %d times", len(batches))
	}
	checkMixed(t, "alpha", batches[0])

	// A new sheet (a new modification time) is delivered.
	writeSheet(t, path, sheetJSON(t, "alpha", mixedRows[:1]), mod.Add(time.Minute))
	c.waitFor(t, "the second sheet", func(b [][]feed.Rate, _ []string) bool { return len(b) == 2 })

	// A broken sheet is rejected once, until it changes.
	_, before := c.snapshot()
	writeSheet(t, path, []byte(`{"provider":"alpha","rates":[{`), mod.Add(2*time.Minute))
	c.waitFor(t, "a malformed reject", func(_ [][]feed.Rate, r []string) bool { return len(r) > len(before) })
	time.Sleep(100 * time.Millisecond)
	if _, r := c.snapshot(); !slices.Equal(r[len(before):], []string{feed.ReasonMalformed}) {
		t.Fatalf("rejected %q, want one %q", r[len(before):], feed.ReasonMalformed)
	}

	// Another provider's sheet: rejected.
	writeSheet(t, path, sheetJSON(t, "beta", mixedRows), mod.Add(3*time.Minute))
	c.waitFor(t, "a wrong-provider reject", func(_ [][]feed.Rate, r []string) bool {
		return r[len(r)-1] == feed.ReasonWrongProvider
	})
}
