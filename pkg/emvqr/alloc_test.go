package emvqr

import (
	"runtime"
	"strings"
	"testing"
)

// TestBoundedAllocation: hostile inputs of 4 KB cost kilobytes, not
// megabytes — the decoder refuses long payloads before parsing and
// allocates in proportion to what it parses.
func TestBoundedAllocation(t *testing.T) {
	inputs := map[string]string{
		"4 KB of digits":          strings.Repeat("0", 4096),
		"4 KB of nested lengths":  strings.Repeat("2699", 1024),
		"4 KB of multibyte runes": strings.Repeat("饺", 4096/3),
		"max-size payload of objects": func() string {
			var b strings.Builder
			for b.Len() < MaxPayloadLen-8 {
				b.WriteString("8001X")
			}
			return b.String()
		}(),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(20, func() { _, _ = DecodeMPM(in) })
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 100
			for range runs {
				_, _ = DecodeMPM(in)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / runs
			if allocs > 64 || perRun > 64<<10 {
				t.Fatalf("%v allocations, %d bytes per decode of a %d-byte input", allocs, perRun, len(in))
			}
		})
	}
}
