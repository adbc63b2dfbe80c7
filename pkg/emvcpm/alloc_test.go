package emvcpm

import (
	"runtime"
	"strings"
	"testing"
)

// worstCase is a 512-byte payload with as many objects as possible: one
// application holding an AID and 246 empty, repeated 50s (a
// DUPLICATE_TAG warning each, capped at MaxWarnings).
func worstCase() string {
	h := "85 05 4350563031 61 82 01F5 4F 07 A0000000031010" + strings.Repeat(" 50 00", 246)
	return b64(h)
}

// allocated returns the average bytes and allocations of f.
func allocated(runs int, f func()) (bytes, allocs uint64) {
	f()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	n := uint64(runs)
	return (after.TotalAlloc - before.TotalAlloc) / n, (after.Mallocs - before.Mallocs) / n
}

func TestBoundedAllocation(t *testing.T) {
	if p := worstCase(); len(p) != MaxTextLen {
		t.Fatalf("worst case is %d characters, want %d", len(p), MaxTextLen)
	}
	if c := mustDecode(t, worstCase()); len(c.Applications[0].Fields) != 247 {
		t.Fatalf("%d fields", len(c.Applications[0].Fields))
	}
	tests := []struct {
		name      string
		payload   string
		maxBytes  uint64
		maxAllocs uint64
	}{
		{"4 KB of base64", strings.Repeat("hQVD", 1024), 512, 4},
		{"4 KB of garbage", strings.Repeat("\xff", 4096), 512, 4},
		{"684 characters, bad at the end", strings.Repeat("A", MaxTextLen-1) + "!", 512, 4},
		{"spec example", specExample, 4 << 10, 16},
		{"worst case: 249 objects, 245 warnings", worstCase(), 32 << 10, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(100, func() { Decode(tt.payload) })
			bytes, _ := allocated(100, func() { Decode(tt.payload) })
			t.Logf("%d bytes, %.0f allocations per Decode", bytes, allocs)
			if bytes > tt.maxBytes || uint64(allocs) > tt.maxAllocs {
				t.Errorf("Decode allocates %d bytes in %.0f allocations; limit %d bytes, %d allocations",
					bytes, allocs, tt.maxBytes, tt.maxAllocs)
			}
		})
	}
}
